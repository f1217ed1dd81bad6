"""Request and response bodies of the labeling API (RISE's field names, strictly typed).

Ids and labels are strict integers: RISE compared them with ``==`` and so quietly accepted
``true`` or ``"1"``; here such values are a 400 with a message.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from smokewatch.core.clip import MAX_INT

__all__ = [
    "PhotoReceipt",
    "Answer",
    "BatchItem",
    "BatchResponse",
    "DayEvents",
    "EventItem",
    "EventStatusRequest",
    "EventsRequest",
    "LoginRequest",
    "LoginResponse",
    "Message",
    "PasswordLoginRequest",
    "ScoreBody",
    "ScoreResponse",
    "SendBatchRequest",
    "SetLabelStateRequest",
    "SetRoleRequest",
    "Statistics",
    "TokenRequest",
    "TutorialRequest",
]

Token = Annotated[StrictStr, Field(min_length=1, max_length=4096)]
#: Database ids are 32-bit integers (PostgreSQL ``integer``): larger ones cannot exist (the
#: one limit, also checked on import, lives with the clip record).
MAX_ID = MAX_INT
VideoId = Annotated[StrictInt, Field(ge=0, le=MAX_ID)]
LabelCode = Annotated[StrictInt, Field(ge=-2, le=47)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Message(BaseModel):
    """Every error answer: ``{"message": "..."}`` (RISE's shape)."""

    message: str


class LoginRequest(_Body):
    client_id: Annotated[StrictStr, Field(min_length=1, max_length=255)] | None = None
    google_id_token: StrictStr | None = Field(
        default=None, description="Not supported: researchers sign in with a password instead."
    )


class PasswordLoginRequest(_Body):
    name: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    password: Annotated[StrictStr, Field(min_length=1, max_length=1024)]


class LoginResponse(BaseModel):
    user_token: str
    user_token_for_other_app: str


class TokenRequest(_Body):
    user_token: Token


class BatchItem(BaseModel):
    id: int
    file_name: str
    url_root: str
    url_part: str
    label_state: int | None = Field(
        default=None, description="Researchers only: the citizens' state, shown as a prior."
    )


class BatchResponse(BaseModel):
    data: list[BatchItem]
    video_token: str


class Answer(_Body):
    video_id: VideoId
    label: LabelCode


class SendBatchRequest(_Body):
    user_token: Token
    video_token: Token
    data: Annotated[list[Answer], Field(min_length=1, max_length=64)]


class ScoreBody(BaseModel):
    batch: int | None
    user: int | None
    raw: int | None


class _ScoreData(BaseModel):
    score: ScoreBody


class ScoreResponse(BaseModel):
    data: _ScoreData


class SetLabelStateRequest(_Body):
    user_token: Token
    data: Annotated[list[Answer], Field(min_length=1, max_length=1000)]


class TutorialRequest(_Body):
    user_token: Token
    action_type: Annotated[StrictInt, Field(ge=0, le=4)]
    query_type: Annotated[StrictInt, Field(ge=0, le=2)]


class Statistics(BaseModel):
    num_all_videos: int
    num_fully_labeled: int
    num_partially_labeled: int


class SetRoleRequest(_Body):
    user_token: Token
    user_id: VideoId
    client_type: Annotated[StrictInt, Field(ge=-1, le=3)] = Field(
        description="0 researcher, 1 expert, 2 amateur, 3 layperson, -1 banned."
    )


class UserInfo(BaseModel):
    """A user as the pages show it; ``reliability`` = accepted / submitted batches."""

    user_id: int
    name: str | None = Field(description="Account name (password accounts); null: volunteer.")
    client_type: int
    role: str
    score: int
    raw_score: int
    pages_submitted: int
    pages_accepted: int
    reliability: float | None
    best_tutorial_action: int
    register_time: int
    labels: int | None = None


class DayProgress(BaseModel):
    day: int = Field(description="Start of the UTC day, epoch seconds.")
    citizen_labels: int
    researcher_labels: int
    pages_submitted: int
    pages_accepted: int


class Dashboard(BaseModel):
    statistics: Statistics
    progress: list[DayProgress]
    users: list[UserInfo]


class CameraViews(BaseModel):
    camera_id: int
    views: list[int]


class ClipFacets(BaseModel):
    cameras: list[CameraViews]
    first_day: str | None = Field(description="Earliest clip day (YYYY-MM-DD, camera time).")
    last_day: str | None
    timezone: str = Field(description="The cameras' time zone (IANA name): clip days and times.")


class EventsRequest(_Body):
    user_token: Token
    date: Annotated[StrictStr, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = Field(
        default=None,
        description="The day (YYYY-MM-DD, the cameras' time zone); default: the last day "
        "with events.",
    )


class EventStatusRequest(_Body):
    user_token: Token
    event_id: VideoId
    status: Literal["confirmed", "rejected"] = Field(
        description="confirmed: its clips have smoke; rejected: they do not."
    )


class EventClipItem(BaseModel):
    id: int
    file_name: str
    start_time: int
    url: str
    label_state: int
    label_state_admin: int
    label: int | None = Field(description="The final label (core.labels): 1, 0 or null.")


class EventItem(BaseModel):
    id: int = Field(description="The service's id of the event (used in requests).")
    detection_id: str = Field(description="The detection run's id of the event (text).")
    camera_id: int
    view_id: int
    start_time: float = Field(description="Epoch seconds.")
    end_time: float
    local_start: str = Field(description="ISO 8601 in the cameras' time zone, with offset.")
    local_end: str
    start_frame: int
    end_frame: int
    max_probability: float
    status: Literal["open", "confirmed", "rejected"]
    reviewer: str | None
    review_time: int | None
    evidence_clip_url: str | None
    evidence_gif_url: str | None
    clips: list[EventClipItem]


class ViewEvents(BaseModel):
    camera_id: int
    view_id: int
    events: list[EventItem]


class DayEvents(BaseModel):
    timezone: str = Field(description="The cameras' time zone (SMOKEWATCH_TIMEZONE).")
    date: str | None = Field(description="The day shown; null: no events at all.")
    day_start: float | None = Field(description="The day's first second (epoch).")
    day_end: float | None = Field(description="The next day's first second (epoch).")
    previous_date: str | None = Field(description="The closest earlier day with events.")
    next_date: str | None = Field(description="The closest later day with events.")
    views: list[ViewEvents]


class PhotoReceipt(BaseModel):
    """What a camera's upload became: its name in the inbox, its capture time, its digest,
    and whether the same photo had been sent before (then nothing new was stored)."""

    camera_id: int
    name: str
    time: float = Field(description="Capture time (epoch seconds).")
    sha256: str
    duplicate: bool
