"""execo.log: the execo logger, its levels, line formats, colours and the stderr handler."""

import io
import logging
import re
import sys
import threading

import pytest

from execo.config import DETAIL, FDEBUG, IODEBUG, TRACE, configuration
from execo.log import Logger, logger, logger_handler, style
from execo.utils import do_once

DATE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"


@pytest.fixture
def plain(monkeypatch):
    """Colours off and the logger level restored after the test."""
    monkeypatch.setitem(configuration, "color_mode", False)
    level = logger.level
    yield
    logger.setLevel(level)


class Collector(logging.Handler):
    """A real handler keeping the records it receives."""

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def collector():
    handler = Collector()
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_logger_identity_and_class():
    assert logger is logging.getLogger("execo")
    assert isinstance(logger, Logger)
    assert logger_handler in logger.handlers


def test_level_names_registered():
    assert [logging.getLevelName(n) for n in (IODEBUG, FDEBUG, TRACE, DETAIL)] == [
        "IODEBUG", "FDEBUG", "TRACE", "DETAIL"]


def test_default_level_is_info(tmp_path):
    import os
    import subprocess
    proc = subprocess.run([sys.executable, "-c", "import execo.log as l; print(l.logger.level)"],
                          env=dict(os.environ, HOME=str(tmp_path)), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(logging.INFO)


def test_info_format_goes_to_stderr(plain, capsys):
    logger.setLevel(logging.INFO)
    logger.warning("disk %s is full", "sda")
    logger.debug("hidden")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.fullmatch(DATE + r" WARNING: disk sda is full\n", captured.err), captured.err


def test_handler_follows_sys_stderr_at_emit_time(plain, monkeypatch):
    logger.setLevel(logging.INFO)
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    logger.info("one")
    monkeypatch.setattr(sys, "stderr", second)
    logger.info("two")
    assert first.getvalue().endswith("INFO: one\n") and "two" not in first.getvalue()
    assert second.getvalue().endswith("INFO: two\n")


def test_debug_format_names_the_function(plain, capsys):
    logger.setLevel(logging.DEBUG)
    logger.debug("checking")
    logger.info("an info")
    err = capsys.readouterr().err.splitlines()
    assert re.fullmatch(DATE + r" DEBUG test_debug_format_names_the_function: checking", err[0]), err
    assert re.fullmatch(DATE + r" INFO test_debug_format_names_the_function: an info", err[1]), err


def test_below_debug_format_names_thread_and_function(plain, capsys):
    logger.setLevel(FDEBUG)

    def worker_body():
        logger.fdebug("from worker")

    worker = threading.Thread(target=worker_body, name="worker-7")
    worker.start()
    worker.join()
    logger.fdebug("from main")
    err = capsys.readouterr().err.splitlines()
    assert re.fullmatch(DATE + r" FDEBUG worker-7 - worker_body: from worker", err[0]), err
    assert re.fullmatch(DATE + r" FDEBUG MainThread - "
                        r"test_below_debug_format_names_thread_and_function: from main", err[1]), err


def test_extra_levels_and_caller(plain, collector):
    logger.setLevel(IODEBUG)
    logger.iodebug("a %d", 1)
    logger.fdebug("b")
    logger.trace("c")
    logger.detail("d")
    got = [(r.levelno, r.levelname, r.getMessage(), r.funcName) for r in collector.records]
    me = "test_extra_levels_and_caller"
    assert got == [(IODEBUG, "IODEBUG", "a 1", me), (FDEBUG, "FDEBUG", "b", me),
                   (TRACE, "TRACE", "c", me), (DETAIL, "DETAIL", "d", me)]
    logger.setLevel(logging.INFO)
    collector.records.clear()
    logger.detail("filtered")
    logger.trace("filtered")
    assert collector.records == []


def test_do_once_logs_once_and_names_the_real_caller(plain, collector):
    logger.setLevel(logging.DEBUG)
    key = object()
    for _ in range(3):
        do_once(key, logger.warning, "only once")
    assert [r.getMessage() for r in collector.records] == ["only once"]
    assert collector.records[0].funcName == "test_do_once_logs_once_and_names_the_real_caller"


def test_no_escape_codes_without_color_mode(plain, capsys):
    for level in (IODEBUG, logging.DEBUG, logging.INFO):
        logger.setLevel(level)
        logger.error("boom")
    assert "\033[" not in capsys.readouterr().err


def test_colours_with_color_mode(plain, monkeypatch, capsys):
    monkeypatch.setitem(configuration, "color_mode", True)
    logger.setLevel(logging.INFO)
    logger.warning("careful")
    err = capsys.readouterr().err
    # date in log_header (yellow), level in the WARNING style (cyan), then reset.
    assert re.fullmatch("\033\\[33m" + DATE + " \033\\[m\033\\[36mWARNING:\033\\[m careful\n", err), repr(err)


def test_style(plain, monkeypatch):
    assert style.emph("x") == "x"
    monkeypatch.setitem(configuration, "color_mode", True)
    assert style.emph("x") == "\033[36mx\033[m"
    assert style.report_error("x") == "\033[31m\033[1mx\033[m"
    assert style.set("host", "h") == "\033[35m\033[1mh\033[m"
    assert style.no_such_style("x") == "x"
    with pytest.raises(AttributeError):
        style.__wrapped__


def test_engine_child_logger_uses_the_execo_handler(plain, capsys):
    logger.setLevel(logging.INFO)
    engine_logger = logging.getLogger("execo.engine")
    assert engine_logger.handlers == []
    assert isinstance(engine_logger, Logger)
    engine_logger.info("from the engine")
    engine_logger.detail("not shown at INFO")
    err = capsys.readouterr().err
    assert re.fullmatch(DATE + r" INFO: from the engine\n", err), err


def test_logger_level_from_configuration_at_import(tmp_path):
    import os
    import subprocess
    (tmp_path / ".execo.conf.py").write_text("configuration = {'log_level': 12}\n")
    proc = subprocess.run([sys.executable, "-c", "import execo.log as l; print(l.logger.level)"],
                          env=dict(os.environ, HOME=str(tmp_path)), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "12"


def test_bad_log_level_in_configuration_is_reported(tmp_path):
    import os
    import subprocess
    (tmp_path / ".execo.conf.py").write_text("configuration = {'log_level': 'LOUD'}\n")
    proc = subprocess.run([sys.executable, "-c", "import execo.log as l; print(l.logger.level)"],
                          env=dict(os.environ, HOME=str(tmp_path)), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "20"
    assert "configuration['log_level'] = 'LOUD' is not a log level" in proc.stderr
