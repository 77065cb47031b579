"""OAR's date and duration formats.

OAR's command-line tools read and print dates as wall-clock times of the OAR server's zone
(Europe/Paris on Grid'5000) without any zone marker, and durations as ``H:M:S`` without zero
padding (``0:5:0``). execo 2.8 converted dates in a forked child that set ``TZ``, because
``time.tzset`` is process-wide and not thread-safe; here ``zoneinfo`` converts them without
touching the process's zone and without a fork.

The zone is ``g5k_configuration['oar_timezone']`` (default ``Europe/Paris``): an OAR server
elsewhere (a test machine in UTC, another grid) only needs that key changed.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from zoneinfo import ZoneInfo

from execo.time_utils import get_seconds, get_unixts, str_duration_to_seconds

from .config import g5k_configuration

__all__ = ["format_oar_date", "format_oar_duration", "oar_date_to_unixts", "oar_duration_to_seconds",
           "get_oar_timezone"]

DEFAULT_OAR_TIMEZONE = "Europe/Paris"

_OAR_DATE_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{1,2}):(\d{1,2})\s*$")
_NUMBER_RE = re.compile(r"^\s*\d+(\.\d*)?\s*$")


def get_oar_timezone() -> datetime.tzinfo:
    """The zone OAR's dates are written in (``g5k_configuration['oar_timezone']``)."""
    name = g5k_configuration.get("oar_timezone") or DEFAULT_OAR_TIMEZONE
    try:
        return ZoneInfo(name)
    except Exception as error:  # ZoneInfoNotFoundError, ValueError on odd names
        raise ValueError("g5k_configuration['oar_timezone'] = %r is not a known time zone: %s" % (name, error)) from None


def format_oar_date(ts: Any) -> str:
    """A date as OAR reads it (``-r``): ``YYYY-MM-DD HH:MM:SS`` in the OAR zone, seconds truncated."""
    unixts = get_unixts(ts)
    if unixts is None:
        raise ValueError("format_oar_date: no date given")
    moment = datetime.datetime.fromtimestamp(int(unixts), get_oar_timezone())
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def format_oar_duration(duration: Any) -> str:
    """A duration as OAR reads it: ``H:M:S`` without padding, whole seconds (``0:5:0``)."""
    seconds = get_seconds(duration)
    if seconds is None:
        raise ValueError("format_oar_duration: no duration given")
    if seconds < 0:
        raise ValueError("format_oar_duration: a duration cannot be negative, got %r" % (duration,))
    whole = int(seconds)
    return "%d:%d:%d" % (whole // 3600, (whole % 3600) // 60, whole % 60)


def oar_date_to_unixts(date: Any) -> float:
    """A date printed by OAR (``YYYY-MM-DD HH:MM:SS``, OAR zone) as a unix timestamp.

    A number (or numeric string) is taken as a timestamp already. In a repeated hour (the
    autumn change) the first occurrence is meant, as ``mktime`` does.
    """
    if isinstance(date, (int, float)) and not isinstance(date, bool):
        return float(date)
    if not isinstance(date, str):
        raise TypeError("oar_date_to_unixts: expected an OAR date string, got %r" % (date,))
    if _NUMBER_RE.match(date):
        return float(date)
    match = _OAR_DATE_RE.match(date)
    if not match:
        raise ValueError("oar_date_to_unixts: %r is not an OAR date (expected YYYY-MM-DD HH:MM:SS)" % (date,))
    try:
        wall = datetime.datetime(*(int(part) for part in match.groups()), tzinfo=get_oar_timezone())
    except ValueError as error:
        raise ValueError("oar_date_to_unixts: invalid date %r: %s" % (date, error)) from None
    return wall.timestamp()


def oar_duration_to_seconds(duration: str) -> float:
    """A duration printed by OAR (``H:M:S``) as seconds."""
    if not isinstance(duration, str):
        raise TypeError("oar_duration_to_seconds: expected an OAR duration string, got %r" % (duration,))
    try:
        return str_duration_to_seconds(duration)
    except ValueError:
        raise ValueError("oar_duration_to_seconds: %r is not an OAR duration (expected H:M:S)" % (duration,)) from None
