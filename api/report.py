"""Report: the summary table of what actions (and other reports) did.

Anything with a ``stats()`` method returning a stats dict (see
:meth:`Report.empty_stats`) can be added: actions, processes, other reports.
"""

from __future__ import annotations

from typing import Any, Dict, List

from .log import style
from .time_utils import format_date, format_duration

_COUNTERS = (
    "num_processes", "num_started", "num_ended", "num_errors", "num_timeouts",
    "num_forced_kills", "num_non_zero_exit_codes", "num_expect_fail",
    "num_write_error", "num_ok", "num_finished_ok",
)

# Column layout of execo 2.8 (80 columns narrow, 157 wide).
_NARROW_HEADER = ("Name                            start               end                 total  \n"
                  " length         startd ended  error  timout fkilld expfld wrterr ret!=0 ok     \n")
_NARROW_LINE1 = "%-31.31s %-19.19s %-19.19s %-7.7s"
_NARROW_LINE2 = " %-15.15s" + "%-7.7s" * 9
_NARROW_RULE = "-" * 79 + "\n"
_WIDE_HEADER = ("Name                            start               end                 length  "
                "       startd ended  error  timout fkilld expfld wrterr ret!=0 ok     total  \n")
_WIDE_LINE = "%-31.31s %-19.19s %-19.19s %-15.15s" + "%-7.7s" * 10
_WIDE_TOP_RULE = "-" * 157 + "\n"
_WIDE_BOTTOM_RULE = "-" * 158 + "\n"  # one more than the top one, as in 2.8


def _start_key(stats: Dict[str, Any]):
    """Sort by start date, entries that have not started last (stable otherwise)."""
    start = stats.get("start_date")
    return (start is None, start if start is not None else 0)


class Report:
    """Summary of one or more actions, processes or reports.

    Differences from execo 2.8 (deliberate): the stats of the added objects
    are read each time the report is rendered (2.8 froze them when they were
    added, so a report built before its actions ran stayed empty); a single
    object may be added without wrapping it in a list; sub-stats are sorted by
    start date at every level of the table (2.8 sorts the first level only);
    with colours on, each line is coloured on its own.
    """

    def __init__(self, stats_objects: Any = None) -> None:
        self._name = type(self).__name__
        self._objects: List[Any] = []
        if stats_objects:
            self.add(stats_objects)

    @property
    def name(self) -> str:
        """The name shown on the total line (default: "Report")."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    def add(self, stats_objects: Any) -> None:
        """Add objects that have a ``stats()`` method: one, or an iterable of them."""
        if hasattr(stats_objects, "stats"):
            stats_objects = [stats_objects]
        try:
            objects = list(stats_objects)
        except TypeError:
            raise TypeError("Report.add: expected an object with a stats() method or an "
                            "iterable of them, got %r" % (stats_objects,)) from None
        for obj in objects:
            if not callable(getattr(obj, "stats", None)):
                raise TypeError("Report.add: %r has no stats() method" % (obj,))
        self._objects.extend(objects)

    @staticmethod
    def empty_stats() -> Dict[str, Any]:
        """A stats dict with no dates, zero counters and no sub-stats."""
        stats: Dict[str, Any] = {"name": None, "start_date": None, "end_date": None}
        for key in _COUNTERS:
            stats[key] = 0
        stats["sub_stats"] = []
        return stats

    @staticmethod
    def aggregate_stats(stats: Dict[str, Any]) -> Dict[str, Any]:
        """A copy of ``stats`` with its ``sub_stats`` folded in.

        The earliest start date, the latest end date (None as soon as one
        sub-stat has no end date), and the sums of the counters.
        """
        aggregated = dict(stats)
        no_end_date = False
        for sub in stats.get("sub_stats") or ():
            start = sub.get("start_date")
            if start is not None and (aggregated.get("start_date") is None
                                      or start < aggregated["start_date"]):
                aggregated["start_date"] = start
            end = sub.get("end_date")
            if end is None:
                no_end_date = True
            elif aggregated.get("end_date") is None or end > aggregated["end_date"]:
                aggregated["end_date"] = end
            for key in _COUNTERS:
                if key in sub:
                    aggregated[key] = aggregated.get(key, 0) + sub[key]
        if no_end_date:
            aggregated["end_date"] = None
        return aggregated

    def stats(self) -> Dict[str, Any]:
        """The stats of everything added, aggregated, with each one in ``sub_stats``.

        Keys: ``name``, ``start_date`` (earliest, or None), ``end_date``
        (latest, None while one has not ended), and the counters
        ``num_processes``, ``num_started``, ``num_ended``, ``num_errors``
        (failed to start), ``num_timeouts``, ``num_forced_kills`` (needed
        SIGKILL), ``num_non_zero_exit_codes``, ``num_expect_fail``,
        ``num_write_error``, ``num_ok`` (not failed: includes processes not
        started or not ended yet) and ``num_finished_ok`` (ended and ok).
        """
        stats = Report.empty_stats()
        stats["name"] = self._name
        stats["sub_stats"] = [obj.stats() for obj in self._objects]
        return Report.aggregate_stats(stats)

    def __repr__(self) -> str:
        return "<Report(<%i entries>, name=%r)>" % (len(self._objects), self._name)

    def __str__(self) -> str:
        s = self.stats()
        return ("<Report(<%i entries>, name=%r, start_date=%r, end_date=%r, num_processes=%r, "
                "num_started=%r, num_ended=%r, num_timeouts=%r, num_errors=%r, "
                "num_forced_kills=%r, num_expect_fail=%r, num_write_error=%r, "
                "num_non_zero_exit_codes=%r, num_ok=%r, num_finished_ok=%r)>" % (
                    len(s["sub_stats"]), s["name"], format_date(s["start_date"]),
                    format_date(s["end_date"]), s["num_processes"], s["num_started"],
                    s["num_ended"], s["num_timeouts"], s["num_errors"], s["num_forced_kills"],
                    s["num_expect_fail"], s["num_write_error"], s["num_non_zero_exit_codes"],
                    s["num_ok"], s["num_finished_ok"]))

    def to_string(self, wide: bool = False, brief: bool = False) -> str:
        """The report as a text table.

        :param wide: one 157-column line per entry instead of two 79-column lines.
        :param brief: only the total line, not one per added object.

        A line where ``num_ok < num_processes`` is coloured (when colours are
        on) with report_warn if ``num_ok == num_ended`` and no expect or write
        failed, with report_error otherwise.
        """
        stats = self.stats()
        out = [_WIDE_HEADER + _WIDE_TOP_RULE if wide else _NARROW_HEADER + _NARROW_RULE]
        subs = stats.get("sub_stats") or []
        if not brief and subs:
            for sub in sorted(subs, key=_start_key):
                self._render_tree(sub, 0, wide, out)
            out.append(_WIDE_BOTTOM_RULE if wide else _NARROW_RULE)
        out.append(_render_entry(stats, 0, wide))
        return "".join(out)

    @staticmethod
    def _render_tree(stats: Dict[str, Any], indent: int, wide: bool, out: List[str]) -> None:
        out.append(_render_entry(stats, indent, wide))
        for sub in sorted(stats.get("sub_stats") or [], key=_start_key):
            Report._render_tree(sub, indent + 2, wide, out)


def _counter(stats: Dict[str, Any], key: str) -> Any:
    return stats.get(key, 0)


def _render_entry(stats: Dict[str, Any], indent: int, wide: bool) -> str:
    """The line (wide) or the two lines (narrow) of one stats dict, coloured if failed."""
    name = " " * indent + "%s" % (stats.get("name"),)
    start, end = stats.get("start_date"), stats.get("end_date")
    length = format_duration(end - start) if start and end else ""
    counters = [_counter(stats, k) for k in (
        "num_started", "num_ended", "num_errors", "num_timeouts", "num_forced_kills",
        "num_expect_fail", "num_write_error", "num_non_zero_exit_codes", "num_ok")]
    if wide:
        lines = [_WIDE_LINE % tuple([name, format_date(start), format_date(end), length]
                                    + counters + [_counter(stats, "num_processes")])]
    else:
        lines = [_NARROW_LINE1 % (name, format_date(start), format_date(end),
                                  _counter(stats, "num_processes")),
                 _NARROW_LINE2 % tuple([length] + counters)]
    paint = _line_style(stats)
    if paint is not None:
        lines = [paint(line) for line in lines]
    return "".join(line + "\n" for line in lines)


def _line_style(stats: Dict[str, Any]):
    num_ok = _counter(stats, "num_ok")
    if num_ok >= _counter(stats, "num_processes"):
        return None
    ordinary = (num_ok == _counter(stats, "num_ended")
                and _counter(stats, "num_expect_fail") == 0
                and _counter(stats, "num_write_error") == 0)
    return style.report_warn if ordinary else style.report_error

