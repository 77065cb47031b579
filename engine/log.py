"""The engine's logger, a child of the ``execo`` logger.

``execo.log`` (when present) gives the ``execo`` logger its handler and level names; an
engine run without it still needs its log lines, so :func:`ensure_handler` adds a
plain one to ``execo`` only when nobody configured logging.
"""

from __future__ import annotations

import logging
import sys
from typing import Union

try:  # the facade's logging set-up (handler, TRACE/DETAIL level names), when available
    import execo.log  # noqa: F401
except ImportError:
    pass

logger = logging.getLogger("execo.engine")
TRACE = 12


def ensure_handler() -> None:
    """Give ``execo`` a stderr handler (as execo.log does) unless it or the root logger has one."""
    execo_logger = logging.getLogger("execo")
    if execo_logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s: %(message)s"))
    execo_logger.addHandler(handler)
    if execo_logger.level == logging.NOTSET:
        execo_logger.setLevel(logging.INFO)


def parse_level(value: Union[str, int]) -> int:
    """An int, a digit string or a level name (any case) as a logging level.

    Raises ValueError naming the bad value, instead of the obscure error logging gives.
    """
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    level = logging.getLevelName(text.upper())
    if isinstance(level, int):
        return level
    if text.upper() == "TRACE":
        return TRACE
    raise ValueError("unknown log level %r (use a number or one of DEBUG, INFO, WARNING, ERROR, "
                     "CRITICAL)" % value)
