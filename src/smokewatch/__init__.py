"""smokewatch: recognize industrial smoke emissions in camera timelapse (after RISE, AAAI 2021)."""

__version__ = "0.1.0"
