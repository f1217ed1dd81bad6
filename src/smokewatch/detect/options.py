"""How detection runs: the windows, the Grad-CAM gate, the event rule and daytime, in one value.

Everything here changes the results, so all of it goes into ``detections.json`` (its
``settings``) and into the fingerprint that decides whether a view is already done.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from smokewatch.clips.daylight import Daylight
from smokewatch.detect.rule import EventRule, RuleError

__all__ = ["MAX_CROP", "DetectOptions"]

#: the largest crop: every window holds ``window_frames`` crops, batches and each view's
#: decode buffer hold many windows, so memory grows with its square (10^5 px asked for 21 GB)
MAX_CROP = 1024


@dataclass(frozen=True, slots=True)
class DetectOptions:
    """Windows of ``window_frames`` frames every ``window_step`` frames, cropped to ``size``
    pixels; Grad-CAM (``cam``) for windows over ``cam_probability``, its activation ratio the
    share of pixels over ``cam_threshold``; evidence clips at ``fps``.

    Without Grad-CAM the rule decides on the probability alone (``rule.use_ratio`` is
    switched off here, so the settings written say what was applied).
    """

    rule: EventRule = field(default_factory=EventRule)
    window_frames: int = 36
    window_step: int = 18
    size: int = 180
    fps: int = 12
    cam: bool = True
    cam_probability: float = 0.6
    cam_threshold: float = 0.85
    daylight: Daylight = field(default_factory=Daylight)

    def __post_init__(self) -> None:
        if self.window_frames < 1 or self.window_step < 1:
            raise RuleError(
                f"windows need positive frames and step, got {self.window_frames} and "
                f"{self.window_step}"
            )
        if self.size < 2 or self.size % 2:
            raise RuleError(f"the crop size must be even for H.264 evidence, got {self.size}")
        if self.size > MAX_CROP:
            raise RuleError(
                f"the crop size must be at most {MAX_CROP} pixels (RISE clips are 180), "
                f"got {self.size}"
            )
        if self.fps < 1:
            raise RuleError(f"fps must be positive, got {self.fps}")
        for name in ("cam_probability", "cam_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise RuleError(f"{name} must be in [0, 1], got {value}")
        if not self.cam and self.rule.use_ratio:
            object.__setattr__(self, "rule", dataclasses.replace(self.rule, use_ratio=False))

    def as_dict(self) -> dict[str, Any]:
        """The settings as written in ``detections.json``."""
        return {
            "window_frames": self.window_frames,
            "window_step": self.window_step,
            "size": self.size,
            "fps": self.fps,
            "cam": self.cam,
            "cam_probability": self.cam_probability,
            "cam_threshold": self.cam_threshold,
            "rule": self.rule.as_dict(),
            "daylight": dataclasses.asdict(self.daylight),
        }
