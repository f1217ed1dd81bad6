"""One settings object for every command and server, read once and passed down.

Values come from keyword arguments, then ``SMOKEWATCH_*`` environment variables, then a
``.env`` file in the working directory, then the defaults below. Nothing reads the
environment at import time: call :func:`load_settings` (the CLI does, once per command).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir, user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "load_settings"]


class Settings(BaseSettings):
    """Project-wide settings (environment prefix ``SMOKEWATCH_``)."""

    model_config = SettingsConfigDict(
        env_prefix="SMOKEWATCH_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Field(
        default_factory=lambda: Path(user_data_dir("smokewatch")),
        description="Where clips, exports and the embedded database live.",
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

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'smokewatch.db'}"


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from overrides, the environment and ``.env``."""
    return Settings(**overrides)
