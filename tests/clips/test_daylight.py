"""clips.daylight: local-hour ranges in the camera's zone, and NOAA sunrise/sunset."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from smokewatch.clips.daylight import Daylight, DaylightError, sun_times
from smokewatch.errors import SmokewatchError

EASTERN = ZoneInfo("US/Eastern")


def _epoch(*args: int, tz: ZoneInfo = EASTERN) -> float:
    return datetime(*args, tzinfo=tz).timestamp()


def test_default_is_rise_6am_to_8pm_eastern() -> None:
    rule = Daylight()
    assert not rule.contains(_epoch(2018, 6, 11, 5, 59, 59))
    assert rule.contains(_epoch(2018, 6, 11, 6, 0))
    assert rule.contains(_epoch(2018, 6, 11, 19, 59, 59))
    assert not rule.contains(_epoch(2018, 6, 11, 20, 0))  # half-open
    # A real RISE clip start (0-0-2018-06-11-..., 1528712115 = 06:15 EDT) is daytime.
    assert rule.contains(1528712115)
    assert rule.local_date(1528712115) == date(2018, 6, 11)
    # 02:00 UTC is still the previous evening (22:00) in Pittsburgh: night.
    assert not rule.contains(datetime(2018, 6, 12, 2, 0, tzinfo=ZoneInfo("UTC")).timestamp())


def test_hours_follow_wall_clock_across_dst() -> None:
    rule = Daylight(start_hour=6, end_hour=20)
    start, end = rule.window(date(2018, 3, 11))  # US spring-forward day
    assert datetime.fromtimestamp(start, EASTERN).hour == 6
    assert datetime.fromtimestamp(end, EASTERN).hour == 20
    assert end - start == 14 * 3600
    start_w, _ = rule.window(date(2018, 1, 11))
    start_s, _ = rule.window(date(2018, 7, 11))
    assert (start_w - start_s) % 86400 == 3600  # 6:00 EST is an hour later in UTC than 6:00 EDT


def test_fractional_hours_and_whole_day() -> None:
    rule = Daylight(timezone="UTC", start_hour=6.5, end_hour=24)
    start, end = rule.window(date(2020, 1, 1))
    assert datetime.fromtimestamp(start, ZoneInfo("UTC")).minute == 30
    assert end - start == 17.5 * 3600


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"start_hour": 20, "end_hour": 6}, "need 0 <= start < end <= 24"),
        ({"end_hour": 25}, "need 0 <= start < end <= 24"),
        ({"latitude": 40.0}, "both latitude and longitude"),
        ({"latitude": 95.0, "longitude": 0.0}, "out of range"),
    ],
)
def test_invalid_rules(kwargs: dict, message: str) -> None:
    with pytest.raises(DaylightError, match=message) as info:
        Daylight(**kwargs)
    assert isinstance(info.value, SmokewatchError)


def _local(dt: datetime, tz: str) -> tuple[int, int]:
    local = dt.astimezone(ZoneInfo(tz))
    return local.hour, local.minute


def test_sun_times_match_published_tables() -> None:
    # London, summer solstice 2021: sunrise 04:43, sunset 21:21 BST (the widely published values).
    rise, set_ = sun_times(date(2021, 6, 21), 51.5074, -0.1278)
    assert _local(rise, "Europe/London") in {(4, 42), (4, 43), (4, 44)}
    assert _local(set_, "Europe/London") in {(21, 20), (21, 21), (21, 22)}
    # Equator at the March equinox: about 12 h 7 min of daylight (refraction + solar disk).
    rise, set_ = sun_times(date(2021, 3, 20), 0.0, 0.0)
    assert 12 * 3600 + 4 * 60 < (set_ - rise).total_seconds() < 12 * 3600 + 9 * 60


def test_sun_times_polar_day_and_night() -> None:
    rise, set_ = sun_times(date(2021, 6, 21), 69.65, 18.96)  # Tromso, midnight sun
    assert (set_ - rise).total_seconds() == pytest.approx(86400)
    rise, set_ = sun_times(date(2021, 12, 21), 69.65, 18.96)  # polar night
    assert rise == set_


def test_sunrise_rule_in_pittsburgh() -> None:
    rule = Daylight(latitude=40.4406, longitude=-79.9959)
    # 2018-06-11 in Pittsburgh: sunrise about 5:49 am, sunset about 8:50 pm EDT.
    assert rule.contains(_epoch(2018, 6, 11, 5, 55))
    assert rule.contains(_epoch(2018, 6, 11, 20, 45))
    assert not rule.contains(_epoch(2018, 6, 11, 5, 40))
    assert not rule.contains(_epoch(2018, 6, 11, 20, 55))
    # In December the sun rises after 7 am: a fixed 6:00 start would cut clips in the dark.
    assert not rule.contains(_epoch(2018, 12, 21, 7, 0))
    assert Daylight().contains(_epoch(2018, 12, 21, 7, 0))


@pytest.mark.parametrize(
    "zone, lat, lon",
    [
        ("Pacific/Kiritimati", 1.87, -157.4),  # UTC+14 at 157 W
        ("Pacific/Apia", -13.83, -171.76),  # UTC+13
        ("Pacific/Chatham", -43.95, -176.56),  # UTC+12:45
        ("Asia/Kathmandu", 27.7, 85.3),  # UTC+5:45, a zone close to its longitude
    ],
)
def test_sunrise_rule_where_the_zone_is_far_from_the_longitude(
    zone: str, lat: float, lon: float
) -> None:
    # The local date's sun, not the next day's: local noon is day, local midnight is night,
    # and the window of 15 June lies on 15 June on the camera's clock.
    rule = Daylight(timezone=zone, latitude=lat, longitude=lon)
    tz = ZoneInfo(zone)
    assert rule.contains(_epoch(2026, 6, 15, 12, 30, tz=tz))
    assert not rule.contains(_epoch(2026, 6, 15, 0, 30, tz=tz))
    assert not rule.contains(_epoch(2026, 6, 15, 23, 30, tz=tz))
    start, end = rule.window(date(2026, 6, 15))
    assert datetime.fromtimestamp(start, tz).date() == date(2026, 6, 15)
    assert datetime.fromtimestamp(end, tz).date() == date(2026, 6, 15)


@pytest.mark.parametrize(
    "zone, lat, lon, hour, minute",
    [
        ("America/Anchorage", 71.29, -156.79, 1, 30),  # Utqiagvik under the midnight sun
        ("Europe/Oslo", 70.0, 19.0, 0, 20),  # latitude 70, midnight sun
        ("America/Anchorage", 64.84, -147.72, 0, 30),  # Fairbanks: the sun sets about 00:47
    ],
)
def test_sun_still_up_after_local_midnight_is_daytime(
    zone: str, lat: float, lon: float, hour: int, minute: int
) -> None:
    rule = Daylight(timezone=zone, latitude=lat, longitude=lon)
    t = _epoch(2026, 6, 21, hour, minute, tz=ZoneInfo(zone))
    start, end = rule.window(date(2026, 6, 20))  # the sun of 20 June is still up at t
    assert start <= t < end
    assert rule.contains(t)
    # ... while in Fairbanks the light of the 20th is gone by 02:00, and it is night.
    if lat < 66:
        assert not rule.contains(_epoch(2026, 6, 21, 2, 0, tz=ZoneInfo(zone)))


def test_an_hour_that_rounds_to_the_end_of_the_day_is_the_end_of_the_day() -> None:
    # 23.9999 h is 86399.64 s: it rounded to 24:00:00, no clock time, and crashed extraction
    rule = Daylight(timezone="UTC", start_hour=6, end_hour=23.9999)
    start, end = rule.window(date(2020, 1, 1))
    assert end == _epoch(2020, 1, 2, 0, 0, tz=ZoneInfo("UTC"))
    assert rule.contains(end - 1) and not rule.contains(end)
    # a start that rounds to the same second as the end leaves no daytime: refused
    with pytest.raises(DaylightError, match=r"23\.9999-24: need 0 <= start < end <= 24"):
        Daylight(start_hour=23.9999, end_hour=24)
