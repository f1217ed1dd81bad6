"""A camera day in, smoke events out: windows scored by a trained model, events, evidence,
the detections file, its report and alerts.

The entry points: :func:`detect_timelapse` (a panorama timelapse and its views),
:func:`detect_clips` (a folder of RISE clips), :func:`detect_view_day` (plain arguments, for a
worker process), with a :class:`Detector` from :func:`load_detector`; :class:`RayEngine` runs
many camera-days (:class:`CameraDay`) on Ray, actors holding the model. docs/detections.md
describes the output and the event rule.
"""

from smokewatch.detect.clipsdir import detect_clips
from smokewatch.detect.clock import FrameClock, read_frame_times
from smokewatch.detect.detector import DetectError, Detector, load_detector
from smokewatch.detect.options import DetectOptions
from smokewatch.detect.ray_engine import CameraDay, RayEngine, model_loader
from smokewatch.detect.results import merge_views
from smokewatch.detect.rule import EventRule, find_events
from smokewatch.detect.timelapse import DetectReport, detect_timelapse, detect_view_day

__all__ = [
    "CameraDay",
    "DetectError",
    "DetectOptions",
    "DetectReport",
    "Detector",
    "EventRule",
    "FrameClock",
    "RayEngine",
    "detect_clips",
    "detect_timelapse",
    "detect_view_day",
    "find_events",
    "load_detector",
    "merge_views",
    "model_loader",
    "read_frame_times",
]
