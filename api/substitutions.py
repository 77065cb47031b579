"""``{{{host}}}`` and ``{{expr}}`` substitutions in commands and file names.

An action on N hosts builds N commands from one string: ``{{{host}}}``
becomes the address of the host, and ``{{expr}}`` (any Python expression,
evaluated in the caller's globals and locals) must give a sequence ``seq``
and becomes ``str(seq[index % len(seq)])``. So
``Remote("ping -c 1 {{peers}}", hosts)`` pings a different peer from each host.

The caller's context is captured once, when the action is built, with
:func:`get_caller_context`; the actions check it at once with
:func:`check_substitutions`, so that a bad expression raises where it was
written, naming the expression.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple

FrameContext = Tuple[Optional[Dict[str, Any]], Optional[Mapping[str, Any]]]

HOST_TAG = "{{{host}}}"
_EXPR_RE = re.compile(r"\{\{((?:(?!\}\}).)+)\}\}")

# The packages whose frames are never "the user's code" for get_caller_context:
# execo's facade and its runtime. execo_g5k and execo_engine are ordinary
# clients of the facade and may use {{expr}} on their own locals.
_INTERNAL_PACKAGES = ("execo", "execo_actors")


def _is_internal(frame) -> bool:
    name = frame.f_globals.get("__name__") or ""
    return any(name == pkg or name.startswith(pkg + ".") for pkg in _INTERNAL_PACKAGES)


def get_caller_context(filter_out_funcs: Optional[Iterable[str]] = None,
                       scope_limit_funcs: Iterable[str] = ("__init__",)) -> FrameContext:
    """The (globals, locals) of the code that built the current action.

    Walks up the stack past the first function named in ``scope_limit_funcs``
    (the constructors: ``__init__`` by default, so that a subclass's
    ``__init__`` chain is crossed too), then returns the first frame that is
    not a constructor, not named in ``filter_out_funcs`` and not in execo's
    own modules. Skipping execo's own frames (2.8 does not) means that a
    factory such as ``get_remote()`` captures its caller's context, not its own.

    When no constructor is on the stack, the first frame outside execo is
    returned (2.8 returns ``(None, None)``). ``(None, None)`` if none is found.
    """
    filter_out = set(filter_out_funcs or ())
    scope_limits = set(scope_limit_funcs or ())
    first_outside = None
    passed_limit = False
    frame = sys._getframe(1)
    while frame is not None:
        func = frame.f_code.co_name
        if func in scope_limits:
            passed_limit = True
        elif func not in filter_out and not _is_internal(frame):
            if passed_limit:
                return frame.f_globals, frame.f_locals
            if first_outside is None:
                first_outside = frame
        frame = frame.f_back
    if first_outside is not None:
        return first_outside.f_globals, first_outside.f_locals
    return None, None


def _evaluate(expr: str, frame_context: FrameContext) -> Sequence[Any]:
    """``expr`` evaluated in the context, checked to be a non-empty sequence."""
    glob, loc = frame_context if frame_context else (None, None)
    try:
        value = eval(expr, glob if glob is not None else {}, loc)
    except Exception as exc:
        raise ValueError("substitution of {{%s}}: evaluating %r failed: %s: %s"
                         % (expr, expr, type(exc).__name__, exc)) from exc
    if not hasattr(value, "__len__") or not hasattr(value, "__getitem__"):
        raise ValueError("substitution of {{%s}}: %r must evaluate to a sequence, got %s"
                         % (expr, expr, type(value).__name__))
    if len(value) == 0:
        raise ValueError("substitution of {{%s}}: %r evaluates to an empty sequence" % (expr, expr))
    return value


def _pick(expr: str, frame_context: FrameContext, index: int) -> str:
    seq = _evaluate(expr, frame_context)
    try:
        return str(seq[index % len(seq)])
    except Exception as exc:
        raise ValueError("substitution of {{%s}}: indexing %r failed: %s: %s"
                         % (expr, expr, type(exc).__name__, exc)) from exc


def _substitute_exprs(string: str, frame_context: FrameContext, index: int) -> str:
    return _EXPR_RE.sub(lambda m: _pick(m.group(1), frame_context, index), string)


def remote_substitute(string: str, all_hosts: Sequence[Any], index: int,
                      frame_context: FrameContext) -> str:
    """``string`` for the host ``all_hosts[index]``.

    Every ``{{{host}}}`` becomes that host's address; every ``{{expr}}``
    becomes ``str(seq[index % len(seq)])`` where ``seq`` is ``expr``
    evaluated in ``frame_context`` (globals, locals). Raises ValueError
    naming the expression when it fails to evaluate, is not a sequence or is
    empty (2.8 let NameError or ZeroDivisionError through).

    The expressions are looked for in the text around the ``{{{host}}}``
    tags, never in the host address that replaces them.
    """
    address = all_hosts[index].address
    pieces = string.split(HOST_TAG)
    return address.join(_substitute_exprs(piece, frame_context, index) for piece in pieces)


def substitute_local(string: str, frame_context: FrameContext) -> str:
    """``string`` with its ``{{expr}}`` replaced as for the first host (index 0).

    For a single local process: there is no host, so ``{{{host}}}`` is left
    as it is.
    """
    pieces = string.split(HOST_TAG)
    return HOST_TAG.join(_substitute_exprs(piece, frame_context, 0) for piece in pieces)


def check_substitutions(string: str, frame_context: FrameContext) -> None:
    """Evaluate every ``{{expr}}`` of ``string`` once; ValueError naming the first bad one.

    Called by the actions when they are built, so that a typo in an
    expression fails there rather than when the processes start.
    """
    for piece in string.split(HOST_TAG):
        for match in _EXPR_RE.finditer(piece):
            _pick(match.group(1), frame_context, 0)
