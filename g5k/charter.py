"""The Grid'5000 usage charter's time periods: weekdays 9:00-19:00 in Europe/Paris, except
French public holidays. Outside them, (almost) any reservation is allowed.

Dates are converted with zoneinfo (Europe/Paris) rather than by forking a child with TZ set,
as execo 2.8 did: same results, thread-safe, and no process per conversion.
"""

from __future__ import annotations

import datetime
import functools
from typing import Any, FrozenSet, List, Optional, Tuple

from execo.time_utils import get_unixts

try:
    from zoneinfo import ZoneInfo
except ImportError:  # Python < 3.9 is not supported, but say why if it happens
    raise ImportError("execo_g5k.charter needs the zoneinfo module (Python >= 3.9)") from None

PARIS = ZoneInfo("Europe/Paris")
CHARTER_START_HOUR = 9
CHARTER_END_HOUR = 19

_FIXED_HOLIDAYS = ((1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25))
"""New year, labour day, 1945 victory, Bastille day, assumption, all saints, armistice, Christmas."""


def easter(year: int) -> datetime.date:
    """Easter Sunday of a Gregorian year (anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 - the algorithm's own name
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return datetime.date(year, month, day + 1)


@functools.lru_cache(maxsize=None)
def french_holidays(year: int) -> FrozenSet[datetime.date]:
    """The French public holidays of a year: the fixed ones, Easter Monday, Ascension Thursday
    and Whit Monday."""
    sunday = easter(year)
    days = {datetime.date(year, m, d) for m, d in _FIXED_HOLIDAYS}
    days.update(sunday + datetime.timedelta(n) for n in (1, 39, 50))
    return frozenset(days)


def _work_day(day: datetime.date) -> bool:
    return day.weekday() < 5 and day not in french_holidays(day.year)


def _next_work_day(day: datetime.date) -> datetime.date:
    while True:
        day += datetime.timedelta(1)
        if _work_day(day):
            return day


def _paris(t: Any) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(get_unixts(t), PARIS)


def _at(day: datetime.date, hour: int) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour), PARIS)


def g5k_charter_time(t: Any) -> bool:
    """Whether a date (anything `execo.time_utils.get_unixts` reads) falls in a charter period."""
    dt = _paris(t)
    return CHARTER_START_HOUR <= dt.hour < CHARTER_END_HOUR and _work_day(dt.date())


def get_next_charter_period(start: Any, end: Any) -> Tuple[Optional[float], Optional[float]]:
    """The first charter period within [start, end], as unix timestamps (clipped to start and end),
    or (None, None) when there is none."""
    start_dt, end_dt = _paris(start), _paris(end)
    if end_dt <= start_dt:
        return None, None
    if g5k_charter_time(start_dt.timestamp()):
        period_start = start_dt
    elif start_dt.hour < CHARTER_START_HOUR and _work_day(start_dt.date()):
        period_start = _at(start_dt.date(), CHARTER_START_HOUR)
    else:
        period_start = _at(_next_work_day(start_dt.date()), CHARTER_START_HOUR)
    if period_start >= end_dt:
        return None, None
    period_end = min(end_dt, _at(period_start.date(), CHARTER_END_HOUR))
    return period_start.timestamp(), period_end.timestamp()


def get_charter_el_planning(start_time: Any, end_time: Any) -> List[Tuple[int, int]]:
    """Every charter period between two dates, as (start, end) integer timestamps: what
    ``out_of_chart`` planning marks busy."""
    start, end = get_unixts(start_time), get_unixts(end_time)
    periods = []
    while True:
        period_start, period_end = get_next_charter_period(start, end)
        if period_start is None:
            return periods
        periods.append((int(period_start), int(period_end)))
        start = period_end
