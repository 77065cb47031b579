"""Dates and durations in the forms users type, and sleeping on them.

A date ("unixts") is a float of seconds since the epoch; a duration is a
float of seconds. The ``get_*`` functions accept the forms people write in
scripts (numbers, strings, datetime objects) and raise ValueError naming
the value when a string cannot be read, TypeError when the type is wrong.
"""

from __future__ import annotations

import calendar
import datetime
import math
import numbers
import re
import time
from typing import Any, Optional

from .log import logger


def timedelta_to_seconds(td: datetime.timedelta) -> float:
    """A ``datetime.timedelta`` as a number of seconds."""
    return td.days * 86400 + td.seconds + td.microseconds / 1e6


def datetime_to_unixts(dt: datetime.datetime) -> float:
    """A ``datetime.datetime`` as a unix timestamp; a naive datetime is taken as local time."""
    if dt.tzinfo is not None:
        return calendar.timegm(dt.utctimetuple()) + dt.microsecond / 1e6
    return time.mktime(dt.timetuple()) + dt.microsecond / 1e6


def unixts_to_datetime(ts: float, tz: Optional[datetime.tzinfo] = None) -> datetime.datetime:
    """A unix timestamp as a datetime: naive local time, or in ``tz`` when given."""
    return datetime.datetime.fromtimestamp(ts, tz)


def numeric_date_to_unixts(d: Any) -> float:
    """A number (already a unix timestamp) as a float."""
    return float(d)


def numeric_duration_to_seconds(d: Any) -> float:
    """A number (already seconds) as a float."""
    return float(d)


_NUMERIC_RE = re.compile(r"^\s*(\d*\.)?\d+\s*$")
_DURATION_RE = re.compile(r"^\s*(?P<h>\d+):(?P<m>\d?\d):(?P<s>\d?\d)(?P<frac>\.\d+)?\s*$")
_DATE_RE = re.compile(
    r"^\s*"
    r"(?:(?:(?:(?P<century>\d\d)?(?P<year>\d\d)-)?(?P<month>\d?\d)-)?(?P<day>\d?\d)[Tt ])?"
    r"(?P<h>\d?\d):(?P<m>\d?\d):(?P<s>\d?\d)(?P<frac>\.\d+)?"
    r"(?P<tz>[Zz]|(?P<sign>[+-])(?P<tzh>\d?\d):(?P<tzm>\d?\d))?"
    r"\s*$")


def str_date_to_unixts(d: str) -> float:
    """A date string as a unix timestamp.

    Accepted: a number (``"1700000000.5"``), or
    ``[[[YY]YY-]MM-]DD[T ]HH:MM:SS[.frac][Z|+HH:MM|-HH:MM]``: the parts of the
    date left out are those of today, a two-digit year means 1969-2068, and a
    time without a zone is local time.
    """
    if _NUMERIC_RE.match(d):
        return numeric_date_to_unixts(d)
    match = _DATE_RE.match(d)
    if not match:
        raise ValueError("unsupported date format %r (expected a number or "
                         "[[[YY]YY-]MM-]DD[T ]HH:MM:SS[.frac][Z|+HH:MM])" % (d,))
    g = match.groupdict()
    today = time.localtime()
    if g["year"] is not None:
        year = int(g["year"])
        if g["century"] is not None:
            year += 100 * int(g["century"])
        else:
            year += 1900 if year >= 69 else 2000
    else:
        year = today.tm_year
    month = int(g["month"]) if g["month"] is not None else today.tm_mon
    day = int(g["day"]) if g["day"] is not None else today.tm_mday
    try:
        wall = datetime.datetime(year, month, day, int(g["h"]), int(g["m"]), int(g["s"]))
    except ValueError as exc:
        raise ValueError("invalid date %r: %s" % (d, exc)) from None
    if g["tz"] is None:
        ts = float(time.mktime(wall.timetuple()))
    else:
        ts = float(calendar.timegm(wall.timetuple()))
        if g["sign"] is not None:
            offset = int(g["tzh"]) * 3600 + int(g["tzm"]) * 60
            ts += -offset if g["sign"] == "+" else offset
    if g["frac"]:
        ts += float(g["frac"])
    return ts


def str_duration_to_seconds(duration: str) -> float:
    """A duration string as seconds: a number (``"12.5"``) or ``H:MM:SS[.frac]``."""
    if _NUMERIC_RE.match(duration):
        return numeric_duration_to_seconds(duration)
    match = _DURATION_RE.match(duration)
    if not match:
        raise ValueError("unsupported duration format %r (expected a number of seconds "
                         "or H:MM:SS[.frac])" % (duration,))
    seconds = int(match["h"]) * 3600 + int(match["m"]) * 60 + int(match["s"])
    if match["frac"]:
        return seconds + float(match["frac"])
    return float(seconds)


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) or (hasattr(x, "__float__") and not isinstance(x, (str, bytes)))


def get_seconds(duration: Any) -> Optional[float]:
    """A duration as seconds (float), or None for None.

    Accepts a ``datetime.timedelta``, a string (see
    :func:`str_duration_to_seconds`) or a number.
    """
    if duration is None:
        return None
    if isinstance(duration, datetime.timedelta):
        return timedelta_to_seconds(duration)
    if isinstance(duration, str):
        return str_duration_to_seconds(duration)
    if _is_number(duration):
        return numeric_duration_to_seconds(duration)
    raise TypeError("cannot read a duration from %r (%s): give seconds, a string "
                    "or a datetime.timedelta" % (duration, type(duration).__name__))


def get_unixts(d: Any) -> Optional[float]:
    """A date as a unix timestamp (float), or None for None.

    Accepts a ``datetime.datetime`` (naive means local time), a string (see
    :func:`str_date_to_unixts`) or a number.
    """
    if d is None:
        return None
    if isinstance(d, datetime.datetime):
        return datetime_to_unixts(d)
    if isinstance(d, str):
        return str_date_to_unixts(d)
    if _is_number(d):
        return numeric_date_to_unixts(d)
    raise TypeError("cannot read a date from %r (%s): give a unix timestamp, a string "
                    "or a datetime.datetime" % (d, type(d).__name__))


def _zone(t: time.struct_time) -> str:
    """The UTC offset of a local struct_time as ``+HH:MM``."""
    offset = t.tm_gmtoff if t.tm_gmtoff is not None else -time.timezone
    sign = "-" if offset < 0 else "+"
    offset = abs(offset)
    return "%s%02d:%02d" % (sign, offset // 3600, (offset // 60) % 60)


def format_unixts(secs: Optional[float], showms: bool = False) -> Optional[str]:
    """``YYYY-MM-DD HH:MM:SS[.mmm]+HH:MM`` in local time (None for None).

    Milliseconds are shown only with ``showms`` and only when not zero. They
    are rounded, carrying into the seconds (2.8 could print ``.1000``).
    """
    if secs is None:
        return None
    if showms:
        total_ms = int(round(secs * 1000))
        whole, ms = divmod(total_ms, 1000)
    else:
        whole, ms = int(math.floor(secs)), 0
    t = time.localtime(whole)
    text = time.strftime("%Y-%m-%d %H:%M:%S", t)
    if ms:
        text += ".%03d" % ms
    return text + _zone(t)


def format_seconds(secs: Optional[float], showms: bool = False) -> Optional[str]:
    """A duration as ``[-][Nd][Nh][Nm]Ns[.mmm]`` (None for None).

    Units below the largest one are always shown (``3600`` gives ``1h0m0s``).
    Without ``showms`` the seconds are truncated, as in 2.8; with it they are
    rounded to the millisecond.
    """
    if secs is None:
        return None
    sign = "-" if secs < 0 else ""
    secs = abs(secs)
    if showms:
        total_ms = int(round(secs * 1000))
        whole, ms = divmod(total_ms, 1000)
    else:
        whole, ms = int(secs), 0
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    text = sign
    if whole >= 86400:
        text += "%dd" % days
    if whole >= 3600:
        text += "%dh" % hours
    if whole >= 60:
        text += "%dm" % minutes
    text += "%d" % seconds
    if ms:
        text += ".%03d" % ms
    return text + "s"


def format_date(d: Any, showms: bool = False) -> Optional[str]:
    """:func:`format_unixts` of any date :func:`get_unixts` accepts."""
    return format_unixts(get_unixts(d), showms)


def format_duration(duration: Any, showms: bool = False) -> Optional[str]:
    """:func:`format_seconds` of any duration :func:`get_seconds` accepts."""
    return format_seconds(get_seconds(duration), showms)


def sleep(delay: Any = None, until: Any = None) -> Optional[float]:
    """Sleep at least ``delay`` and at least until the date ``until``.

    Returns the time slept, or None when there was nothing to wait for.
    """
    delay = get_seconds(delay)
    until = get_unixts(until)
    sleep_time = delay if delay is not None and delay > 0 else 0.0
    if until is not None:
        sleep_time = max(sleep_time, until - time.time())
    if sleep_time <= 0:
        return None
    logger.debug("sleeping %s", format_seconds(sleep_time))
    deadline = time.monotonic() + sleep_time
    remaining = sleep_time
    while remaining > 0:  # a signal handler may cut a sleep short: go on sleeping
        time.sleep(remaining)
        remaining = deadline - time.monotonic()
    logger.debug("end sleeping")
    return sleep_time


class Timer:
    """Measures the time elapsed since its creation, with an optional timeout."""

    def __init__(self, timeout: Any = None) -> None:
        self._start = time.time()
        self._timeout = get_seconds(timeout)

    def wait_elapsed(self, elapsed: Any) -> "Timer":
        """Sleep until ``elapsed`` seconds have passed since the start; returns self."""
        elapsed = get_seconds(elapsed)
        done = time.time() - self._start
        if elapsed is not None and done < elapsed:
            sleep(elapsed - done)
        return self

    def start_date(self) -> float:
        """The unix timestamp of the creation of this Timer."""
        return self._start

    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.time() - self._start

    def remaining(self) -> Optional[float]:
        """Seconds left before the timeout (negative once past it), None without a timeout."""
        if self._timeout is None:
            return None
        return self._start + self._timeout - time.time()
