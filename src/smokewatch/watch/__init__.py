"""Continuous mode: camera photos in, smoke events out, minutes later, through a job queue.

Photos arrive in each camera's inbox (the upload endpoint of the service, or a watched folder);
a job "bring camera X up to date" (:func:`smokewatch.watch.pipeline.sync_camera`) makes
panoramas of them, appends them to the day's frame folder (``frames.json`` sidecar), scores
every 36-frame window that is complete, and raises events and alerts through
:mod:`smokewatch.detect`. Jobs go through huey (:mod:`smokewatch.watch.jobs`); docs/watch.md
says what holds when a worker is killed.
"""

from smokewatch.watch.config import CameraSource, WatchConfig, load_watch_config
from smokewatch.watch.pipeline import SyncReport, sync_camera

__all__ = ["CameraSource", "SyncReport", "WatchConfig", "load_watch_config", "sync_camera"]
