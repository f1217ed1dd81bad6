"""One settings object for every command and server, read once and passed down.

Values come from keyword arguments, then ``SMOKEWATCH_*`` environment variables, then a
``.env`` file in the working directory, then the defaults below. Nothing reads the
environment at import time: call :func:`load_settings` (the CLI does, once per command).

Only :func:`load_settings` reads a ``.env`` file (``SMOKEWATCH_ENV_FILE`` names another one;
empty: none): a ``Settings(...)`` built in code, as the tests build theirs, never picks up a
developer's stray ``.env``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

from platformdirs import user_cache_dir
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from smokewatch.errors import SmokewatchError

__all__ = ["Settings", "SettingsError", "load_settings"]


class SettingsError(SmokewatchError, ValueError):
    """A setting (environment variable or ``.env`` line) that cannot be used; the message
    names each bad one by its ``SMOKEWATCH_`` variable, a line each."""


class Settings(BaseSettings):
    """Project-wide settings (environment prefix ``SMOKEWATCH_``)."""

    model_config = SettingsConfigDict(
        env_prefix="SMOKEWATCH_", env_file=None, extra="ignore", frozen=True
    )

    data_dir: Path = Field(
        default=Path("smokewatch-data"),
        description="Where the embedded database, the signing key and local clips live.",
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path(user_cache_dir("smokewatch")),
        description="Decoded-clip (.npy) caches and converted model weights.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the labeling database; empty: SQLite in data_dir.",
    )
    timezone: str = Field(
        default="US/Eastern",
        description="Time zone of the cameras, for seasons, hours and daylight.",
    )
    clip_frames: int = Field(default=36, ge=1, description="Frames per clip (RISE: 36).")
    clip_size: int = Field(default=180, ge=16, description="Clip width and height (RISE: 180).")
    clip_fps: int = Field(default=12, ge=1, description="Frame rate of written clips (RISE: 12).")
    download_workers: int = Field(default=8, ge=1, le=64, description="Concurrent downloads.")

    # --- the labeling service -------------------------------------------------------------
    secret_key: SecretStr | None = Field(
        default=None,
        description="Token signing key; empty: a random key kept in data_dir/secret.key (0600).",
    )
    user_token_ttl: int = Field(default=7 * 86400, ge=60, description="User token lifetime (s).")
    page_token_ttl: int = Field(default=3600, ge=60, description="Page token lifetime (s).")
    page_min_seconds: int = Field(
        default=5, ge=0, description="A page cannot be submitted sooner than this (token nbf)."
    )
    page_size: int = Field(default=16, ge=2, le=64, description="Clips per page (RISE: 16).")
    gold_per_page: int = Field(default=4, ge=2, description="Hidden gold standards per page.")
    partial_ratio: float = Field(
        default=0.8, ge=0, le=1, description="Share of a page's clips taken from partly labeled."
    )
    worker_threads: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Request threads per worker process (every route on SQLite; on "
        "PostgreSQL all but get_batch and send_batch, which run on the event loop).",
    )
    page_connections: int = Field(
        default=8,
        ge=1,
        le=256,
        description="PostgreSQL connections per worker process for get_batch and send_batch, "
        "which run on the event loop there (no request thread).",
    )
    # --- alerts (smokewatch detect --notify) -------------------------------------------------
    alert_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs webhook alerts (HMAC-SHA256, X-Smokewatch-Signature); "
        "receivers verify with the same key. Without it, https:// and http:// alert targets "
        "are refused. See docs/alerts.md.",
    )
    # --- password sign-in limits (each worker process keeps its own counts) ---------------
    login_attempts: int = Field(
        default=10,
        ge=1,
        le=100_000,
        description="Wrong passwords allowed per account and per client address within "
        "login_window; then 429 with Retry-After. Counted per worker process: with N workers "
        "up to N times as many.",
    )
    login_window: int = Field(
        default=900, ge=1, description="The window (s) in which login_attempts are counted."
    )
    login_hash_threads: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Password checks (argon2, tens of ms of CPU each) run at once per worker "
        "process, on threads of their own beside worker_threads; more wait their turn.",
    )
    max_body_bytes: int = Field(default=1 << 20, ge=1024, description="Largest request body.")
    max_photo_bytes: int = Field(
        default=32 << 20,
        ge=1024,
        description="Largest photo a camera may upload (POST /api/v1/cameras/{id}/photos).",
    )
    videos_url_root: str = Field(
        default="/videos/",
        description="url_root given to clips imported from a folder (served by the app).",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Origins whose pages may call the API from a browser (CORS), e.g. where "
        "the original RISE front end is served: comma-separated or a JSON list; empty: none.",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        """The environment gives one string: a JSON list, or origins separated by commas."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
                raise ValueError(f"not a JSON list of origins ({exc})") from None
        return [part.strip().rstrip("/") for part in text.split(",") if part.strip()]

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir.resolve() / 'smokewatch.db'}"

    @property
    def videos_dir(self) -> Path:
        """Local clips served under ``/videos/``."""
        return self.data_dir / "videos"

    @property
    def evidence_dir(self) -> Path:
        """Events' evidence (clips and GIFs of detection runs), served under ``/evidence/``."""
        return self.data_dir / "evidence"


#: The environment variable naming the ``.env`` file :func:`load_settings` reads (empty: none).
ENV_FILE_VARIABLE = "SMOKEWATCH_ENV_FILE"


#: Settings whose values are never printed in an error (keys; a URL may hold a password).
_SECRET = frozenset({"secret_key", "alert_secret", "database_url"})


def _problem(error: Any) -> str:
    """One pydantic error as a line a user can act on: the variable, its value, what is wrong."""
    loc = tuple(error.get("loc") or ())
    name = str(loc[0]) if loc else "?"
    where = f"{Settings.model_config.get('env_prefix', '')}{name}".upper()
    where += "".join(f"[{part}]" for part in loc[1:])
    value = error.get("input")
    if name not in _SECRET and isinstance(value, (str, int, float)):
        shown = repr(value)
        where += "=" + (shown if len(shown) <= 80 else shown[:77] + "...")
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}"


def load_settings(*, read_env_file: bool = True, **overrides: Any) -> Settings:
    """Build the settings from overrides, the environment and (unless ``read_env_file`` is
    False) the ``.env`` file.

    A value that cannot be used raises :class:`SettingsError` naming its variable (every
    command reads the settings first, so pydantic's report would otherwise be a traceback).
    """
    env_file = (os.environ.get(ENV_FILE_VARIABLE, ".env") or None) if read_env_file else None
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise SettingsError("\n".join(_problem(e) for e in exc.errors())) from None
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"{env_file}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
            f"fix it, or name another file with {ENV_FILE_VARIABLE}"
        ) from None
