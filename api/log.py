"""The ``execo`` logger, its extra levels, and ANSI styling.

Differences from execo 2.8 (deliberate):

- the handler writes to ``sys.stderr``, looked up at each record, so that
  diagnostics do not mix with a script's own stdout and so that pytest's
  capture or a later ``sys.stderr = ...`` still sees them (2.8 logs to the
  ``sys.stdout`` of import time);
- ANSI codes around the level name are emitted only when
  ``configuration['color_mode']`` is on (2.8 always emits them).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from typing import Any, Callable

from .config import DETAIL, FDEBUG, IODEBUG, TRACE, configuration

_ANSI_CODES = {
    "default": "\033[m",
    "bold": "\033[1m",
    "underline": "\033[4m",
    "blink": "\033[5m",
    "reverse": "\033[7m",
    "concealed": "\033[8m",
    "black": "\033[30m",
    "red": "\033[31m",
    "green": "\033[32m",
    "yellow": "\033[33m",
    "blue": "\033[34m",
    "magenta": "\033[35m",
    "cyan": "\033[36m",
    "white": "\033[37m",
    "on_black": "\033[40m",
    "on_red": "\033[41m",
    "on_green": "\033[42m",
    "on_yellow": "\033[43m",
    "on_blue": "\033[44m",
    "on_magenta": "\033[45m",
    "on_cyan": "\033[46m",
    "on_white": "\033[47m",
}
_RESET = _ANSI_CODES["default"]


def _ansi_prefix(style_key: Any) -> str:
    """The escape codes of a style, or "" when colours are off or the style is unknown."""
    if not configuration.get("color_mode"):
        return ""
    attrs = configuration.get("color_styles", {}).get(style_key)
    if not attrs:
        return ""
    return "".join(_ANSI_CODES.get(attr, "") for attr in attrs)


def _set_style(style_key: Any, string: Any) -> str:
    prefix = _ansi_prefix(style_key)
    if not prefix:
        return string
    return "%s%s%s" % (prefix, string, _RESET)


class Styler:
    """``style.<name>(s)`` wraps ``s`` in the colours of ``configuration['color_styles'][name]``.

    Read at each call, so that switching ``color_mode`` takes effect at once.
    """

    def set(self, style_key: Any, string: Any) -> str:
        return _set_style(style_key, string)

    def __getattr__(self, name: str) -> Callable[[Any], str]:
        if name.startswith("__"):  # keep copy/pickle/introspection protocols working
            raise AttributeError(name)
        return functools.partial(_set_style, name)


style = Styler()

for _level, _name in ((IODEBUG, "IODEBUG"), (FDEBUG, "FDEBUG"),
                      (TRACE, "TRACE"), (DETAIL, "DETAIL")):
    logging.addLevelName(_level, _name)

_THIS_FILE = os.path.normcase(os.path.abspath(__file__))
_TRANSPARENT_FUNCS = {"do_once"}
# do_once() calls the log method through helpers of execo.utils: skip that module too.
_TRANSPARENT_MODULES = {__name__.rsplit(".", 1)[0] + ".utils"}


class Logger(logging.getLoggerClass()):
    """A Logger with execo's extra levels.

    ``findCaller`` skips this module and ``execo.utils`` (``do_once``), so that
    ``%(funcName)s`` names the function that logged, not a helper.
    """

    def fdebug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(FDEBUG):
            self._log(FDEBUG, msg, args, **kwargs)

    def iodebug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(IODEBUG):
            self._log(IODEBUG, msg, args, **kwargs)

    def trace(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(TRACE):
            self._log(TRACE, msg, args, **kwargs)

    def detail(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(DETAIL):
            self._log(DETAIL, msg, args, **kwargs)

    def findCaller(self, stack_info: bool = False, stacklevel: int = 1):  # noqa: N802 (logging API)
        frame = sys._getframe(1)
        logging_file = os.path.normcase(logging.__file__)
        while frame is not None:
            filename = os.path.normcase(os.path.abspath(frame.f_code.co_filename))
            if (filename == _THIS_FILE or filename == logging_file
                    or frame.f_code.co_name in _TRANSPARENT_FUNCS
                    or frame.f_globals.get("__name__") in _TRANSPARENT_MODULES):
                frame = frame.f_back
                continue
            break
        while frame is not None and stacklevel > 1 and frame.f_back is not None:
            frame = frame.f_back
            stacklevel -= 1
        if frame is None:
            return "(unknown file)", 0, "(unknown function)", None
        sinfo = None
        if stack_info:
            import io
            import traceback
            buf = io.StringIO()
            buf.write("Stack (most recent call last):\n")
            traceback.print_stack(frame, file=buf)
            sinfo = buf.getvalue().rstrip("\n")
        return frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name, sinfo


def _get_execo_logger(name: str) -> Logger:
    """``logging.getLogger(name)`` as an execo :class:`Logger`, whatever logger class is current."""
    previous = logging.getLoggerClass()
    logging.setLoggerClass(Logger)
    try:
        log = logging.getLogger(name)
    finally:
        logging.setLoggerClass(previous)
    if not isinstance(log, Logger):
        # Someone created it before execo was imported; it holds no state
        # of its own class, so it can be upgraded in place.
        log.__class__ = Logger
    return log


class _StderrHandler(logging.StreamHandler):
    """A StreamHandler bound to whatever ``sys.stderr`` is when a record is emitted.

    ``setStream()`` (or assigning ``stream``) pins another stream; assigning
    None goes back to following ``sys.stderr``.
    """

    def __init__(self) -> None:
        logging.Handler.__init__(self)
        self._pinned = None

    @property
    def stream(self):  # type: ignore[override]
        return self._pinned if self._pinned is not None else sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        self._pinned = value


class _Formatter(logging.Formatter):
    """execo's line layout, chosen from the level of the ``execo`` logger.

    - logger level above DEBUG: ``date LEVEL: message``
    - DEBUG: ``date LEVEL function: message``
    - below DEBUG: ``date LEVEL thread - function: message``
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s: %(message)s")

    def _layout(self, record: logging.LogRecord) -> str:
        level_on = _ansi_prefix(record.levelno)
        level_off = _RESET if level_on else ""
        header = functools.partial(_set_style, "log_header")
        effective = logger.getEffectiveLevel()
        if effective < logging.DEBUG:
            return (header("%(asctime)s ") + level_on + "%(levelname)s " + level_off
                    + header("%(threadName)s - %(funcName)s:") + " %(message)s")
        if effective == logging.DEBUG:
            return (header("%(asctime)s ") + level_on + "%(levelname)s " + level_off
                    + header("%(funcName)s:") + " %(message)s")
        return header("%(asctime)s ") + level_on + "%(levelname)s:" + level_off + " %(message)s"

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging API)
        # A fresh layout per record, never stored on self: two threads may format at once.
        return self._layout(record) % record.__dict__


logger: Logger = _get_execo_logger("execo")
"""The execo logger (``logging.getLogger("execo")``)."""

logger_handler: logging.StreamHandler = _StderrHandler()
"""The handler execo installs on its logger; remove or reconfigure it at will."""
logger_handler.setFormatter(_Formatter())
logger.addHandler(logger_handler)
try:
    logger.setLevel(configuration.get("log_level", logging.INFO))
except (TypeError, ValueError) as _exc:
    print("ERROR: configuration['log_level'] = %r is not a log level (%s); using INFO"
          % (configuration.get("log_level"), _exc), file=sys.stderr)
    logger.setLevel(logging.INFO)

# execo_engine logs through this child: it propagates to logger_handler, and
# being created here it has the extra level methods whoever asks for it first.
_get_execo_logger("execo.engine")
