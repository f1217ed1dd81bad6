"""ORM tables of the labeling service (RISE's schema, plus what safety needs).

Differences from the original, each for a reason:
* ``video.sort_key`` — a random number fixed at import, indexed with the label states, so a
  batch is drawn by an index range scan from a random point instead of ``ORDER BY random()``
  over the whole table;
* ``batch.jti`` and ``batch.return_time`` — a batch token is single use: the submission
  claims the batch with a compare-and-set on ``return_time``;
* ``batch.client_type`` — the role the batch was made for, so that a batch is taken as what
  it was given as (a researcher's without gold, a volunteer's with), whatever the owner's
  role has become since;
* ``batch.gold_ids`` — the clips a volunteer's batch was given with as gold standards, so that
  its answers are checked on those, whatever a researcher has made gold or not since (kept
  here only: the batch token's claims are readable by the client);
* ``ix_batch_open_user`` — a partial index of the open batches by user, so that a draw
  finds the clips of the user's open batches (to keep them off the new one: one user, one
  vote) by reading those few rows, never the user's sent ones;
* ``label.client_type`` — the role at the time of the answer, so the label history alone
  says which column (citizen or researcher state) an answer moved;
* ``user.password_hash`` — researchers sign in with a password instead of Google;
* ``video.priority`` — clips a detection run asked volunteers to look at first (its events and
  its most uncertain windows), drawn before the others through a partial index that holds
  only the priority clips still waiting for volunteers (``ix_video_priority``);
* ``event`` and ``event_clip`` — smoke events a detection run found, with their evidence and
  the clips of their windows, confirmed or rejected by a researcher (labels through
  ``core.labels``);
* ``crowd_study``, ``crowd_task``, ``crowd_assignment`` and ``crowd_answer`` — paid crowd
  studies (the paper's MTurk study): fixed tasks answered by K different workers, whose
  answers are kept apart from the citizens' label history (docs/crowd.md);
* ``camera`` — the cameras that upload photos for continuous mode (``smokewatch watch``), each
  with its own API key, of which only a SHA-256 digest is kept (docs/watch.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from smokewatch.core.labels import ADMIN_FINAL_STATES, PARTIAL_STATES, State

__all__ = [
    "Base",
    "Video",
    "User",
    "Connection",
    "Batch",
    "Label",
    "Tutorial",
    "View",
    "Role",
    "Event",
    "EventClip",
    "EventStatus",
    "PRIORITY_WAITING",
    "CrowdStudy",
    "CrowdTask",
    "CrowdAssignment",
    "CrowdAnswer",
    "Camera",
]

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)


class Role:
    """``user.client_type`` values, as RISE numbered them."""

    BANNED = -1
    RESEARCHER = 0
    EXPERT = 1
    AMATEUR = 2
    LAYPERSON = 3

    NAMES = {-1: "banned", 0: "researcher", 1: "expert", 2: "amateur", 3: "layperson"}

    @classmethod
    def parse(cls, value: str | int) -> int:
        """A role from its name or number; ValueError names the choices."""
        by_name = {v: k for k, v in cls.NAMES.items()}
        if isinstance(value, str) and value.strip().lower() in by_name:
            return by_name[value.strip().lower()]
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = None
        if number not in cls.NAMES:
            choices = ", ".join(f"{n} ({k})" for k, n in sorted(cls.NAMES.items()))
            raise ValueError(f"unknown role {value!r}; choose one of {choices}")
        return number


def _codes(states: Iterable[int]) -> str:
    return ", ".join(str(int(s)) for s in sorted(states))


#: The priority clips that still wait for volunteers: the rows of ``ix_video_priority``. A
#: draw's priority scans repeat these terms word for word (SQLite uses a partial index only
#: for a query whose WHERE holds its terms), so this text is the one both use; a clip that is
#: settled or reviewed leaves the index by itself. The unary ``+`` keeps SQLite, which has no
#: statistics here, from reading the state index for that term and sorting instead.
PRIORITY_WAITING = (
    "priority > 0"
    f" AND +label_state IN ({_codes({State.NO_DATA, *PARTIAL_STATES})})"
    f" AND label_state_admin NOT IN ({_codes(ADMIN_FINAL_STATES)})"
)


class Video(Base):
    __tablename__ = "video"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_name: Mapped[str] = mapped_column(String(255), unique=True)
    camera_id: Mapped[int] = mapped_column(Integer, default=-1)
    view_id: Mapped[int] = mapped_column(Integer, default=-1)
    start_time: Mapped[int] = mapped_column(Integer)
    end_time: Mapped[int] = mapped_column(Integer)
    left: Mapped[int] = mapped_column(Integer)
    top: Mapped[int] = mapped_column(Integer)
    right: Mapped[int] = mapped_column(Integer)
    bottom: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    start_frame: Mapped[int] = mapped_column(Integer)
    url_root: Mapped[str | None] = mapped_column(String(768), nullable=True)
    url_part: Mapped[str | None] = mapped_column(String(768), nullable=True)
    label_state: Mapped[int] = mapped_column(Integer, default=-1)
    label_state_admin: Mapped[int] = mapped_column(Integer, default=-1)
    label_update_time: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sort_key: Mapped[float] = mapped_column(Float)
    #: 0: an ordinary clip; higher: drawn first for volunteers, highest first (set by
    #: ``clips import --from-detections``, only ever raised)
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        Index("ix_video_state_key", "label_state", "sort_key"),
        Index("ix_video_admin_key", "label_state_admin", "sort_key"),
        Index("ix_video_update_time", "label_update_time"),
        Index(
            "ix_video_priority",
            "priority",
            "sort_key",
            sqlite_where=text(PRIORITY_WAITING),
            postgresql_where=text(PRIORITY_WAITING),
        ),
    )


class User(Base):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(255), unique=True)
    #: no server default, as in 0001: adding one on SQLite means rebuilding this table, which
    #: every other table's foreign keys point at (a batch's default, by contrast, fills the
    #: column 0002 adds)
    client_type: Mapped[int] = mapped_column(Integer, default=Role.LAYPERSON)
    register_time: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer, default=0)
    raw_score: Mapped[int] = mapped_column(Integer, default=0)
    pages_submitted: Mapped[int] = mapped_column(Integer, default=0)
    pages_accepted: Mapped[int] = mapped_column(Integer, default=0)
    best_tutorial_action: Mapped[int] = mapped_column(Integer, default=-1)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)


class Connection(Base):
    """One row per login (RISE counted sessions this way)."""

    __tablename__ = "connection"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[int] = mapped_column(Integer)
    client_type: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)


class Batch(Base):
    """A batch of clips (RISE: 16) handed to a user; claimed once when its answers come back."""

    __tablename__ = "batch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connection.id"), nullable=True)
    request_time: Mapped[int] = mapped_column(Integer)
    return_time: Mapped[int | None] = mapped_column(Integer, nullable=True)
    video_ids: Mapped[list[int]] = mapped_column(JSON)
    num_unlabeled: Mapped[int] = mapped_column(Integer, default=0)
    num_gold_standard: Mapped[int] = mapped_column(Integer, default=0)
    #: the owner's role when the batch was made (``Role``): says how its answers are taken
    client_type: Mapped[int] = mapped_column(
        Integer, default=Role.LAYPERSON, server_default=str(Role.LAYPERSON)
    )
    #: the clips given as gold standards (video ids); None: a batch made before 0006, whose
    #: gold standards are the clips of it that are gold when it is sent
    gold_ids: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    accepted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    user_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user_raw_score: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (
        # the open batches only: a user's sent batches, however many, are not in it
        Index(
            "ix_batch_open_user",
            "user_id",
            postgresql_where=text("return_time IS NULL"),
            sqlite_where=text("return_time IS NULL"),
        ),
    )


class Label(Base):
    """Every answer ever given, in order: the history that the states must agree with."""

    __tablename__ = "label"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("video.id"))
    label: Mapped[int] = mapped_column(Integer)
    time: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batch.id"), nullable=True)
    client_type: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_label_user_video", "user_id", "video_id"),
        Index("ix_label_video", "video_id", "id"),
    )


class Tutorial(Base):
    __tablename__ = "tutorial"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id"))
    action_type: Mapped[int] = mapped_column(Integer)
    query_type: Mapped[int] = mapped_column(Integer)
    time: Mapped[int] = mapped_column(Integer)


class View(Base):
    """A gallery impression (which clips a volunteer looked at)."""

    __tablename__ = "view"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id"))
    video_id: Mapped[int] = mapped_column(ForeignKey("video.id"))
    query_type: Mapped[int] = mapped_column(Integer)
    time: Mapped[int] = mapped_column(Integer)


class EventStatus:
    """``event.status``: what a researcher made of an event."""

    OPEN = "open"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"

    ALL = (OPEN, CONFIRMED, REJECTED)


class Event(Base):
    """A smoke event of a detection run (``detections.json``), and a researcher's verdict.

    ``detection_id`` is the run's own id for it (text from a file: shown as text, never used
    in a path); an event is the same event again when its view, start and id are.
    ``evidence_clip`` and ``evidence_gif`` are file names in the evidence store
    (``data_dir/evidence``, served under ``/evidence/``).
    """

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    detection_id: Mapped[str] = mapped_column(String(255))
    camera_id: Mapped[int] = mapped_column(Integer)
    view_id: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[float] = mapped_column(Float)
    end_time: Mapped[float] = mapped_column(Float)
    start_frame: Mapped[int] = mapped_column(Integer)
    end_frame: Mapped[int] = mapped_column(Integer)
    max_probability: Mapped[float] = mapped_column(Float)
    evidence_clip: Mapped[str | None] = mapped_column(String(255), nullable=True)
    evidence_gif: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(
        String(16), default=EventStatus.OPEN, server_default=EventStatus.OPEN
    )
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    review_time: Mapped[int | None] = mapped_column(Integer, nullable=True)
    import_time: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_event_identity", "camera_id", "view_id", "start_time", "detection_id",
              unique=True),
        Index("ix_event_start_time", "start_time"),
    )  # fmt: skip


class EventClip(Base):
    """The clips of an event's windows: what confirming or rejecting it labels."""

    __tablename__ = "event_clip"

    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("video.id"), primary_key=True)


class CrowdStudy(Base):
    """A paid crowd study: its clips cut into fixed tasks, each wanted from K workers.

    ``name`` is a researcher's text (shown as text); ``reward_cents`` the pay per assignment,
    for the dashboard's estimate; ``min_tutorial_action`` the qualification (a worker's
    ``best_tutorial_action`` must reach it); ``moves_states``: whether accepted answers also
    move the citizens' label states (off: the crowd's answers are only kept and exported).
    """

    __tablename__ = "crowd_study"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    create_time: Mapped[int] = mapped_column(Integer)
    assignments_wanted: Mapped[int] = mapped_column(Integer)
    reward_cents: Mapped[int] = mapped_column(Integer, default=0)
    min_tutorial_action: Mapped[int] = mapped_column(Integer, default=2)
    moves_states: Mapped[bool] = mapped_column(Boolean, default=False)
    hold_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)


class CrowdTask(Base):
    """A fixed task of a study: its clips to label and its gold standards (video ids)."""

    __tablename__ = "crowd_task"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("crowd_study.id"))
    number: Mapped[int] = mapped_column(Integer)
    video_ids: Mapped[list[int]] = mapped_column(JSON)
    gold_ids: Mapped[list[int]] = mapped_column(JSON)

    __table_args__ = (UniqueConstraint("study_id", "number"),)


class CrowdAssignment(Base):
    """One worker's turn at one task. A worker never gets a task twice (unique task, user);
    a platform's assignment id is used once per study (unique study, platform, assignment)."""

    __tablename__ = "crowd_assignment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("crowd_study.id"))
    task_id: Mapped[int] = mapped_column(ForeignKey("crowd_task.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    platform: Mapped[str] = mapped_column(String(16))
    #: the platform's ids, as the worker's URL gave them (data, shown as text)
    worker_ref: Mapped[str] = mapped_column(String(255))
    assignment_ref: Mapped[str] = mapped_column(String(255))
    hit_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    given_time: Mapped[int] = mapped_column(Integer)
    submit_time: Mapped[int | None] = mapped_column(Integer, nullable=True)
    gold_right: Mapped[int | None] = mapped_column(Integer, nullable=True)
    accepted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)

    __table_args__ = (
        UniqueConstraint("task_id", "user_id"),
        UniqueConstraint("study_id", "platform", "assignment_ref"),
        Index("ix_crowd_assignment_study_user", "study_id", "user_id"),
    )


class CrowdAnswer(Base):
    """A crowd worker's answer on one clip of an assignment (gold standards included)."""

    __tablename__ = "crowd_answer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("crowd_assignment.id"), index=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("video.id"))
    label: Mapped[int] = mapped_column(Integer)


class Camera(Base):
    """A camera that uploads photos (``POST /api/v1/cameras/{id}/photos``).

    ``key_hash`` is the SHA-256 hex digest of its API key: the key is 32 random bytes, so a
    fast digest suffices (a slow password hash guards guessable secrets; this one is not),
    and an upload every few seconds costs no argon2 round. The key itself is shown once, when
    the camera is added or its key rotated. ``active`` False refuses its uploads (401).
    """

    __tablename__ = "camera"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    create_time: Mapped[int] = mapped_column(Integer)
    key_time: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
