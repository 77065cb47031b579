"""execo.time_utils: reading and formatting dates and durations, sleep and Timer."""

import calendar
import datetime
import os
import time

import pytest

from execo.time_utils import (Timer, datetime_to_unixts, format_date, format_duration,
                              format_seconds, format_unixts, get_seconds, get_unixts,
                              numeric_date_to_unixts, numeric_duration_to_seconds, sleep,
                              str_date_to_unixts, str_duration_to_seconds, timedelta_to_seconds,
                              unixts_to_datetime)

TS = 1700000000  # 2023-11-14 22:13:20 UTC


@pytest.fixture
def timezone():
    """Switch the process time zone (POSIX TZ strings need no tz database) and restore it."""
    saved = os.environ.get("TZ")

    def use(tz):
        os.environ["TZ"] = tz
        time.tzset()

    yield use
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


def test_get_seconds_forms():
    assert get_seconds(None) is None
    assert get_seconds(datetime.timedelta(days=1, seconds=2, microseconds=500000)) == 86402.5
    assert get_seconds("123.4") == 123.4
    assert get_seconds(" 12 ") == 12.0
    assert get_seconds("1:02:03") == 3723.0
    assert get_seconds("10:00:00.25") == 36000.25
    value = get_seconds(5)
    assert value == 5.0 and isinstance(value, float)


@pytest.mark.parametrize("bad", ["abc", "1:2", "1h", "-", "1:02:03:04"])
def test_get_seconds_bad_string_names_it(bad):
    with pytest.raises(ValueError) as info:
        get_seconds(bad)
    assert repr(bad) in str(info.value)


def test_get_seconds_bad_type_names_it():
    with pytest.raises(TypeError) as info:
        get_seconds([3])
    assert "[3]" in str(info.value) and "list" in str(info.value)


def test_get_unixts_forms(timezone):
    timezone("UTC0")
    assert get_unixts(None) is None
    assert get_unixts(TS) == float(TS)
    assert get_unixts("1700000000.5") == TS + 0.5
    assert get_unixts("2023-11-14T22:13:20Z") == TS
    assert get_unixts("2023-11-14 23:13:20+01:00") == TS
    assert get_unixts("2023-11-14 20:43:20.25-01:30") == TS + 0.25
    assert get_unixts("23-11-14 22:13:20") == TS          # two-digit year, local time (UTC here)
    assert get_unixts("69-01-01 00:00:00") == calendar.timegm((1969, 1, 1, 0, 0, 0))
    aware = datetime.datetime(2023, 11, 14, 23, 13, 20, 500000,
                              tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert get_unixts(aware) == TS + 0.5


def test_get_unixts_local_time_and_missing_parts(timezone):
    timezone("IST-5:30")   # UTC+05:30
    assert get_unixts("2023-11-15 03:43:20") == TS
    assert get_unixts(datetime.datetime(2023, 11, 15, 3, 43, 20)) == TS
    today = time.localtime()
    only_time = get_unixts("03:43:20")
    as_local = time.localtime(only_time)
    assert (as_local.tm_year, as_local.tm_mon, as_local.tm_mday) == (today.tm_year, today.tm_mon,
                                                                     today.tm_mday)
    assert (as_local.tm_hour, as_local.tm_min, as_local.tm_sec) == (3, 43, 20)
    month_day = time.localtime(get_unixts("11-15 03:43:20"))
    assert (month_day.tm_year, month_day.tm_mon, month_day.tm_mday) == (today.tm_year, 11, 15)


@pytest.mark.parametrize("bad", ["yesterday", "2023-13-01 00:00:00", "2023-02-30 10:00:00",
                                 "2023-11-14", "25:61"])
def test_get_unixts_bad_string_names_it(bad):
    with pytest.raises(ValueError) as info:
        get_unixts(bad)
    assert repr(bad) in str(info.value)


def test_get_unixts_bad_type():
    with pytest.raises(TypeError) as info:
        get_unixts(datetime.date(2023, 1, 1))
    assert "date" in str(info.value)


def test_format_unixts_zones(timezone):
    timezone("UTC0")
    assert format_unixts(TS) == "2023-11-14 22:13:20+00:00"
    timezone("IST-5:30")
    assert format_unixts(TS) == "2023-11-15 03:43:20+05:30"
    timezone("NST+3:30")
    assert format_unixts(TS) == "2023-11-14 18:43:20-03:30"
    assert format_unixts(None) is None


def test_format_unixts_milliseconds(timezone):
    timezone("UTC0")
    assert format_unixts(TS + 0.25) == "2023-11-14 22:13:20+00:00"
    assert format_unixts(TS + 0.25, showms=True) == "2023-11-14 22:13:20.250+00:00"
    assert format_unixts(TS + 0.9, showms=False) == "2023-11-14 22:13:20+00:00"   # truncated
    # Rounds with a carry into the seconds (2.8 printed ".1000").
    assert format_unixts(TS + 0.9996, showms=True) == "2023-11-14 22:13:21+00:00"
    assert format_unixts(TS, showms=True) == "2023-11-14 22:13:20+00:00"


@pytest.mark.parametrize("secs, text", [
    (0, "0s"), (59.9, "59s"), (61, "1m1s"), (3600, "1h0m0s"), (3661, "1h1m1s"),
    (126045, "1d11h0m45s"), (86400, "1d0h0m0s"), (-61, "-1m1s"), (-0.5, "-0s"),
])
def test_format_seconds(secs, text):
    assert format_seconds(secs) == text


@pytest.mark.parametrize("secs, text", [
    (1.5, "1.500s"), (61.001, "1m1.001s"), (59.9996, "1m0s"), (2, "2s"), (-1.25, "-1.250s"),
])
def test_format_seconds_showms(secs, text):
    assert format_seconds(secs, showms=True) == text


def test_format_date_and_duration(timezone):
    timezone("UTC0")
    assert format_seconds(None) is None
    assert format_duration(None) is None and format_date(None) is None
    assert format_duration("1:00:00") == "1h0m0s"
    assert format_duration(datetime.timedelta(minutes=2, seconds=3)) == "2m3s"
    assert format_date(datetime.datetime(2023, 11, 14, 22, 13, 20)) == "2023-11-14 22:13:20+00:00"
    assert format_date("2023-11-14T23:13:20.5+01:00", showms=True) == "2023-11-14 22:13:20.500+00:00"


def test_conversion_helpers(timezone):
    timezone("UTC0")
    assert timedelta_to_seconds(datetime.timedelta(hours=1, microseconds=1)) == 3600.000001
    assert datetime_to_unixts(datetime.datetime(2023, 11, 14, 22, 13, 20)) == TS
    utc = datetime.timezone.utc
    assert unixts_to_datetime(TS, utc) == datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=utc)
    assert unixts_to_datetime(TS) == datetime.datetime(2023, 11, 14, 22, 13, 20)
    assert numeric_date_to_unixts(3) == 3.0 and numeric_duration_to_seconds("2.5") == 2.5
    assert str_date_to_unixts("100") == 100.0
    assert str_duration_to_seconds("0:01:30") == 90.0


def test_sleep_delay():
    start = time.monotonic()
    slept = sleep(0.2)
    elapsed = time.monotonic() - start
    assert slept == pytest.approx(0.2)
    assert 0.2 <= elapsed < 1.0


def test_sleep_until_and_the_longer_of_both():
    start = time.monotonic()
    slept = sleep(0.05, until=time.time() + 0.3)
    elapsed = time.monotonic() - start
    assert 0.25 < slept <= 0.3
    assert elapsed >= slept and elapsed < 1.2
    start = time.monotonic()
    slept = sleep("0.3", until=time.time() + 0.05)
    assert slept == 0.3 and time.monotonic() - start >= 0.3


def test_sleep_nothing_to_do():
    start = time.monotonic()
    assert sleep() is None
    assert sleep(until=time.time() - 10) is None
    assert sleep(0) is None
    assert time.monotonic() - start < 0.1


def test_timer():
    before = time.time()
    timer = Timer()
    assert before <= timer.start_date() <= time.time()
    assert timer.remaining() is None
    assert timer.wait_elapsed(0.2) is timer
    assert timer.elapsed() >= 0.2
    assert timer.wait_elapsed(0.1) is timer   # already elapsed: returns at once
    assert timer.elapsed() < 1.0


def test_timer_with_timeout():
    timer = Timer("0:00:02")
    assert 1.5 < timer.remaining() <= 2
    timer = Timer(0.1)
    timer.wait_elapsed(0.2)
    assert timer.remaining() < 0
