"""execo.report: aggregation and the text layout (narrow, wide, brief, colours)."""

import re
import time

import pytest

from execo.config import configuration
from execo.report import Report

T0 = 1700000000.0
STATS_KEYS = {"name", "start_date", "end_date", "num_processes", "num_started", "num_ended",
              "num_errors", "num_timeouts", "num_forced_kills", "num_non_zero_exit_codes",
              "num_expect_fail", "num_write_error", "num_ok", "num_finished_ok", "sub_stats"}
ANSI = re.compile("\033\\[[0-9;]*m")


class Stats:
    """An object with a stats() method, like an action: its dict can change after it is added."""

    def __init__(self, **fields):
        self.data = make_stats(**fields)

    def stats(self):
        return dict(self.data)


def make_stats(name="p", start=None, end=None, n=1, started=None, ended=None, errors=0,
               timeouts=0, fkills=0, nonzero=0, expfail=0, wrterr=0, ok=None, sub_stats=()):
    started = n if started is None else started
    ended = started if ended is None else ended
    ok = n if ok is None else ok
    return {"name": name, "start_date": start, "end_date": end, "num_processes": n,
            "num_started": started, "num_ended": ended, "num_errors": errors,
            "num_timeouts": timeouts, "num_forced_kills": fkills,
            "num_non_zero_exit_codes": nonzero, "num_expect_fail": expfail,
            "num_write_error": wrterr, "num_ok": ok, "num_finished_ok": min(ok, ended),
            "sub_stats": list(sub_stats)}


def local(ts):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def local_with_zone(ts):
    offset = time.localtime(ts).tm_gmtoff
    sign = "-" if offset < 0 else "+"
    return "%s%s%02d:%02d" % (local(ts), sign, abs(offset) // 3600, abs(offset) // 60 % 60)


@pytest.fixture(autouse=True)
def no_colours(monkeypatch):
    monkeypatch.setitem(configuration, "color_mode", False)


def narrow_fields(line1, line2):
    """Split the two narrow lines of one entry along the 2.8 columns."""
    assert len(line1) == 79 and len(line2) == 79, (line1, line2)
    first = [line1[0:31], line1[32:51], line1[52:71], line1[72:79]]
    second = [line2[1:16]] + [line2[16 + 7 * i:23 + 7 * i] for i in range(9)]
    return [f.rstrip() for f in first], [f.rstrip() for f in second]


def test_empty_stats():
    empty = Report.empty_stats()
    assert set(empty) == STATS_KEYS
    assert empty["sub_stats"] == [] and empty["start_date"] is None and empty["num_ok"] == 0
    assert Report.empty_stats()["sub_stats"] is not empty["sub_stats"]


def test_aggregate_stats():
    parent = make_stats(name="top", n=0)
    parent["sub_stats"] = [make_stats(start=T0 + 5, end=T0 + 9, n=2, nonzero=1, ok=1),
                           make_stats(start=T0 + 1, end=T0 + 20, n=3, timeouts=1, ok=2)]
    agg = Report.aggregate_stats(parent)
    assert agg["start_date"] == T0 + 1 and agg["end_date"] == T0 + 20
    assert (agg["num_processes"], agg["num_ok"], agg["num_timeouts"],
            agg["num_non_zero_exit_codes"]) == (5, 3, 1, 1)
    assert agg["name"] == "top" and parent["num_processes"] == 0   # the input is not modified
    parent["sub_stats"].append(make_stats(start=T0, end=None, n=1, ended=0))
    agg = Report.aggregate_stats(parent)
    assert agg["start_date"] == T0 and agg["end_date"] is None     # one not ended: no end date


def test_stats_are_read_when_rendered():
    action = Stats(name="act", n=2, started=0, ok=2)
    report = Report([action])
    assert report.stats()["num_started"] == 0
    action.data.update(start_date=T0, end_date=T0 + 3, num_started=2, num_ended=2)
    stats = report.stats()
    assert stats["num_started"] == 2 and stats["end_date"] == T0 + 3
    assert stats["name"] == "Report" and stats["sub_stats"][0]["name"] == "act"


def test_name_and_add():
    report = Report()
    assert report.name == "Report" and report.stats()["sub_stats"] == []
    report.name = "campaign"
    report.add(Stats(name="single"))                 # one object
    report.add([Stats(name="a"), Stats(name="b")])   # or an iterable
    assert report.stats()["name"] == "campaign"
    assert [s["name"] for s in report.stats()["sub_stats"]] == ["single", "a", "b"]
    with pytest.raises(TypeError) as info:
        report.add([object()])
    assert "stats()" in str(info.value)
    with pytest.raises(TypeError):
        report.add(42)


def test_narrow_layout():
    report = Report([Stats(name="remote", start=T0, end=T0 + 61, n=3, nonzero=1, ok=2),
                     Stats(name="local", start=T0 - 10, end=T0 + 10, n=1)])
    lines = report.to_string().splitlines()
    assert lines[0] == "%-31s %-19s %-19s %-7s" % ("Name", "start", "end", "total")
    assert lines[1] == " %-15s%-7s%-7s%-7s%-7s%-7s%-7s%-7s%-7s%-7s" % (
        "length", "startd", "ended", "error", "timout", "fkilld", "expfld", "wrterr", "ret!=0", "ok")
    assert lines[2] == "-" * 79 and lines[7] == "-" * 79
    assert len(lines) == 10
    # Sorted by start date: "local" started first.
    assert narrow_fields(lines[3], lines[4]) == (
        ["local", local(T0 - 10), local(T0 + 10), "1"],
        ["20s", "1", "1", "0", "0", "0", "0", "0", "0", "1"])
    assert narrow_fields(lines[5], lines[6]) == (
        ["remote", local(T0), local(T0 + 61), "3"],
        ["1m1s", "3", "3", "0", "0", "0", "0", "0", "1", "2"])
    assert narrow_fields(lines[8], lines[9]) == (
        ["Report", local(T0 - 10), local(T0 + 61), "4"],
        ["1m11s", "4", "4", "0", "0", "0", "0", "0", "1", "3"])


def test_wide_layout():
    report = Report([Stats(name="only", start=T0, end=T0 + 2, n=2, timeouts=1, fkills=1,
                           errors=0, ok=1)])
    lines = report.to_string(wide=True).splitlines()
    assert lines[0].split() == ["Name", "start", "end", "length", "startd", "ended", "error",
                                "timout", "fkilld", "expfld", "wrterr", "ret!=0", "ok", "total"]
    assert len(lines[0]) == 157
    assert lines[1] == "-" * 157 and lines[3] == "-" * 158   # as in 2.8
    entry = lines[2]
    assert len(entry) == 157
    fields = [entry[0:31], entry[32:51], entry[52:71], entry[72:87]] + [
        entry[87 + 7 * i:94 + 7 * i] for i in range(10)]
    assert [f.rstrip() for f in fields] == ["only", local(T0), local(T0 + 2), "2s",
                                            "2", "2", "0", "1", "1", "0", "0", "0", "1", "2"]
    assert lines[4].startswith("Report ") and len(lines) == 5


def test_brief_prints_only_the_total():
    report = Report([Stats(name="a", start=T0, end=T0 + 1), Stats(name="b", start=T0, end=T0 + 1)])
    lines = report.to_string(brief=True).splitlines()
    assert len(lines) == 5 and lines[3].startswith("Report ")
    assert "a " not in "\n".join(lines[3:])
    wide = report.to_string(wide=True, brief=True).splitlines()
    assert len(wide) == 3 and wide[2].startswith("Report ")


def test_not_started_entries_have_no_dates_and_sort_last():
    report = Report([Stats(name="waiting", n=2, started=0, ok=2),
                     Stats(name="done", start=T0, end=T0 + 1)])
    lines = report.to_string().splitlines()
    assert narrow_fields(lines[3], lines[4])[0][0] == "done"
    first, second = narrow_fields(lines[5], lines[6])
    assert first == ["waiting", "None", "None", "2"] and second[0] == ""


def test_nested_reports_indent_and_sort_at_every_level():
    inner = Report([Stats(name="late", start=T0 + 50, end=T0 + 60),
                    Stats(name="early", start=T0 + 10, end=T0 + 20)])
    inner.name = "inner"
    nested_stats = make_stats(name="seq", start=T0 + 100, end=T0 + 200, n=2, sub_stats=[
        make_stats(name="second", start=T0 + 150, end=T0 + 200),
        make_stats(name="first", start=T0 + 100, end=T0 + 140)])
    seq = Stats()
    seq.data = nested_stats
    report = Report([seq, inner])
    names = [line[:31].rstrip() for line in report.to_string().splitlines()[3:-3:2]]
    assert names == ["inner", "  early", "  late", "seq", "  first", "  second"]
    assert report.stats()["num_processes"] == 4


def test_long_names_are_cut_to_the_column():
    name = "Remote 100 hosts: " + "x" * 40
    inner = Report([Stats(name=name, start=T0, end=T0 + 1)])
    lines = Report([inner]).to_string().splitlines()
    assert lines[5][:31] == ("  " + name)[:31]
    assert lines[5][31] == " " and len(lines[5]) == 79


def test_colours(monkeypatch):
    ok = Stats(name="ok", start=T0, end=T0 + 1)
    # 2.8's rule: report_warn when num_ok == num_ended and no expect/write failure,
    # report_error for any other line with num_ok < num_processes.
    warn = Stats(name="warn", start=T0, n=3, ended=2, nonzero=1, ok=2)
    exitcode = Stats(name="exitcode", start=T0, end=T0 + 1, n=2, nonzero=1, ok=1)
    expect = Stats(name="expect", start=T0, n=2, ended=1, expfail=1, ok=1)
    report = Report([ok, warn, exitcode, expect])
    assert not ANSI.search(report.to_string())
    monkeypatch.setitem(configuration, "color_mode", True)
    lines = report.to_string().splitlines()
    by_name = {ANSI.sub("", l)[:31].strip(): l for l in lines}
    assert not ANSI.search(by_name["ok"])
    assert by_name["warn"].startswith("\033[35m") and by_name["warn"].endswith("\033[m")
    assert by_name["exitcode"].startswith("\033[31m\033[1m")
    assert by_name["expect"].startswith("\033[31m\033[1m")   # num_ok == num_ended, but expect failed
    # each line of a narrow pair is coloured on its own
    index = lines.index(by_name["warn"])
    assert lines[index + 1].startswith("\033[35m") and lines[index + 1].endswith("\033[m")


def test_str_and_repr():
    report = Report([Stats(name="a", start=T0, end=T0 + 1, n=2, ok=1, nonzero=1)])
    assert repr(report) == "<Report(<1 entries>, name='Report')>"
    text = str(report)
    assert text == (
        "<Report(<1 entries>, name='Report', start_date=%r, end_date=%r, num_processes=2, "
        "num_started=2, num_ended=2, num_timeouts=0, num_errors=0, num_forced_kills=0, "
        "num_expect_fail=0, num_write_error=0, num_non_zero_exit_codes=1, num_ok=1, "
        "num_finished_ok=1)>" % (local_with_zone(T0), local_with_zone(T0 + 1)))
    assert str(Report()).startswith("<Report(<0 entries>, name='Report', start_date=None, end_date=None,")
