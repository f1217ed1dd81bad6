"""Which timelapse frames are daytime, so clips are only cut where a person could label them.

Two honest rules, both in the camera's own time zone:

* a fixed local-hour range (the default, 6:00 to 20:00): RISE's clips were cut between 6 am
  and 8 pm US/Eastern; simple, predictable, and what the published dataset used;
* sunrise to sunset computed for a latitude/longitude with NOAA's solar-position formulas
  (the ones behind NOAA's solar calculator; accurate to about a minute between +-72 degrees
  latitude), for sites where a fixed range would cut clips in the dark in winter.

Windows are half-open: a frame taken exactly at the end of the range is not daytime.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from smokewatch.errors import SmokewatchError

__all__ = ["Daylight", "DaylightError", "sun_times"]


class DaylightError(SmokewatchError, ValueError):
    """A daylight rule is invalid (unknown time zone, hours out of range, half a location)."""


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DaylightError(
            f"unknown time zone {name!r} (use an IANA name, e.g. US/Eastern)"
        ) from None


def sun_times(day: date, latitude: float, longitude: float) -> tuple[datetime, datetime]:
    """Sunrise and sunset (UTC-aware) on the local solar day ``day`` at a location.

    NOAA's formulas: the sun's apparent position at solar noon, and the hour angle at which
    its centre is 0.833 degrees below the horizon (refraction plus the solar radius). Where
    the sun does not set, the whole day (24 h around solar noon) is returned; where it does
    not rise, sunrise equals sunset at solar noon. ``longitude`` is east-positive.
    """
    if not -90.0 <= latitude <= 90.0 or not -180.0 <= longitude <= 180.0:
        raise DaylightError(f"latitude/longitude ({latitude}, {longitude}) out of range")
    midnight = datetime.combine(day, time(0), tzinfo=UTC)
    noon_guess = 720.0 - 4.0 * longitude  # minutes after UTC midnight
    # Julian century at the approximate solar noon.
    jd = 2440587.5 + (midnight.timestamp() + noon_guess * 60.0) / 86400.0
    jc = (jd - 2451545.0) / 36525.0
    l0 = (280.46646 + jc * (36000.76983 + jc * 0.0003032)) % 360.0
    m = 357.52911 + jc * (35999.05029 - 0.0001537 * jc)
    e = 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)
    mr = math.radians(m)
    centre = (
        math.sin(mr) * (1.914602 - jc * (0.004817 + 0.000014 * jc))
        + math.sin(2 * mr) * (0.019993 - 0.000101 * jc)
        + math.sin(3 * mr) * 0.000289
    )
    omega = math.radians(125.04 - 1934.136 * jc)
    apparent = math.radians(l0 + centre - 0.00569 - 0.00478 * math.sin(omega))
    seconds = 21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))
    mean_obliquity = 23.0 + (26.0 + seconds / 60.0) / 60.0
    obliquity = math.radians(mean_obliquity + 0.00256 * math.cos(omega))
    declination = math.asin(math.sin(obliquity) * math.sin(apparent))
    y = math.tan(obliquity / 2) ** 2
    l0r = math.radians(l0)
    eq_time = 4.0 * math.degrees(
        y * math.sin(2 * l0r)
        - 2 * e * math.sin(mr)
        + 4 * e * y * math.sin(mr) * math.cos(2 * l0r)
        - 0.5 * y * y * math.sin(4 * l0r)
        - 1.25 * e * e * math.sin(2 * mr)
    )  # minutes
    lat = math.radians(latitude)
    cos_ha = math.cos(math.radians(90.833)) / (math.cos(lat) * math.cos(declination))
    cos_ha -= math.tan(lat) * math.tan(declination)
    half_day = math.degrees(math.acos(max(-1.0, min(1.0, cos_ha)))) * 4.0  # minutes
    noon = noon_guess - eq_time
    return (
        midnight + timedelta(minutes=noon - half_day),
        midnight + timedelta(minutes=noon + half_day),
    )


@functools.lru_cache(maxsize=512)
def _window(rule: Daylight, day: date) -> tuple[float, float]:
    zone = _zone(rule.timezone)
    if rule.latitude is not None and rule.longitude is not None:
        rise, set_ = sun_times(_solar_day(day, zone, rule.longitude), rule.latitude, rule.longitude)
        return rise.timestamp(), set_.timestamp()
    # Wall-clock hours (6:00 means 6:00 on the camera's clock, also on a DST change day):
    # an aware datetime plus a timedelta moves its wall clock, not its instant.
    midnight = datetime.combine(day, time(0), tzinfo=zone)
    start = midnight + timedelta(seconds=_seconds(rule.start_hour))
    end = midnight + timedelta(seconds=_seconds(rule.end_hour))
    return start.timestamp(), end.timestamp()


def _solar_day(day: date, zone: ZoneInfo, longitude: float) -> date:
    """The solar day (as :func:`sun_times` counts them) whose noon is nearest the local noon
    of ``day``.

    A zone can sit far from its longitude (Kiritimati: UTC+14 at 157 W), so the local date and
    the UTC date of solar noon differ there; taking ``day`` itself would give the next day's sun.
    """
    local_noon = datetime.combine(day, time(12), tzinfo=zone).astimezone(UTC)
    noon_guess = timedelta(minutes=720.0 - 4.0 * longitude)  # solar noon after UTC midnight
    return (local_noon - noon_guess + timedelta(hours=12)).date()


def _seconds(hours: float) -> int:
    """A local hour in whole seconds after midnight: 23.9999 is 86400, the day's end (it
    used to become the clock time 24:00:00, which does not exist, and crash)."""
    return round(hours * 3600)


@dataclass(frozen=True, slots=True)
class Daylight:
    """A daytime rule: a local-hour range, or sunrise-sunset when a location is given."""

    timezone: str = "US/Eastern"
    start_hour: float = 6.0
    end_hour: float = 20.0
    latitude: float | None = None
    longitude: float | None = None

    def __post_init__(self) -> None:
        _zone(self.timezone)
        if not (
            0 <= self.start_hour < self.end_hour <= 24
            and _seconds(self.start_hour) < _seconds(self.end_hour)
        ):
            raise DaylightError(
                f"daytime hours {self.start_hour}-{self.end_hour}: need 0 <= start < end <= 24 "
                "(at least a second apart)"
            )
        if (self.latitude is None) != (self.longitude is None):
            raise DaylightError("give both latitude and longitude for sunrise/sunset, or neither")
        if self.latitude is not None and self.longitude is not None:
            sun_times(date(2000, 1, 1), self.latitude, self.longitude)  # validates the range

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)

    def local_date(self, epoch: float) -> date:
        """The camera's local calendar date of an epoch time (the date in clip names)."""
        return datetime.fromtimestamp(epoch, self.zone).date()

    def window(self, day: date) -> tuple[float, float]:
        """Epoch seconds ``[start, end)`` of daytime on the local date ``day``."""
        return _window(self, day)

    def contains(self, epoch: float) -> bool:
        """Whether a frame taken at ``epoch`` (seconds) is daytime.

        The neighbouring dates' windows count too: under the midnight sun, or where the sun
        sets after local midnight, a frame after midnight is still in the previous day's light.
        """
        day = self.local_date(epoch)
        return any(
            start <= epoch < end
            for start, end in (self.window(day + timedelta(days=k)) for k in (0, -1, 1))
        )
