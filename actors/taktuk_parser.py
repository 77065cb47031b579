"""Reads taktuk's coded output and drives the TaktukProcess handles with it.

taktuk runs with output templates that tag every line with a letter, the position of the
host on taktuk's command line (1 = first ``-m``; 0 = the local root), and for the
connector and state streams the position of the peer concerned::

    A <position> # <line>                                   a line of the command's stdout
    B <position> # <line>                                   a line of the command's stderr
    C <position> # <wait status>                            the command's exit status
    D <position> # <peer position> # <line>                 the connector's (ssh's) stderr
    E <position> # <peer position> # <code> # <rank> # <message>   a state change
    F/G/H/I <position> # ...                                info, taktuk's own messages, ...

The parser turns these into the same lifecycle events a local driver produces
(:func:`lifecycle.started`, :func:`lifecycle.output`, :func:`lifecycle.ended`), so that a
TaktukProcess reads like any process. It runs in the I/O thread, like every driver: the
facade's expect() relies on that to attach its handler atomically with the backlog.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, Dict, List, Optional

from . import lifecycle

log = logging.getLogger("execo")

STDOUT, STDERR = 1, 2

# taktuk's state codes (man taktuk, "-o state")
READY, NUMBERED, TERMINATED, CONNECTION_FAILED, CONNECTION_INITIALIZED, CONNECTION_LOST = 0, 1, 2, 3, 4, 5
COMMAND_STARTED, COMMAND_FAILED, COMMAND_TERMINATED = 6, 7, 8
RECEPTION_STARTED, RECEPTION_FAILED, RECEPTION_TERMINATED, SEND_FAILED = 13, 14, 15, 16
MESSAGE_DELIVERED = 19
_QUIET_STATES = {READY, NUMBERED, TERMINATED, CONNECTION_INITIALIZED, COMMAND_TERMINATED, MESSAGE_DELIVERED}

EXEC, PUT, GET = "exec", "put", "get"


def exit_code_from_status(status: int) -> int:
    """taktuk reports the raw wait status (``exit 3`` -> 768): decode it as our processes do."""
    try:
        return os.waitstatus_to_exitcode(status)
    except ValueError:
        return status


class TaktukOutputParser:
    """One run of taktuk: its output lines in, TaktukProcess state changes out.

    ``processes`` are the handles in taktuk position order (position 1 first).
    ``on_started(handle, rank)`` is called when a remote command started (the controller
    kills it at once if the action was killed before).
    """

    def __init__(self, mode: str, processes: List[Any], file_count: int = 0,
                 on_started: Optional[Callable[[Any, int], None]] = None) -> None:
        if mode not in (EXEC, PUT, GET):
            raise ValueError("unknown taktuk parser mode %r" % (mode,))
        self.mode = mode
        self.processes = list(processes)
        self.file_count = file_count
        self.on_started = on_started
        self.ranks: Dict[int, int] = {}  # id(handle) -> taktuk logical rank
        self._done: set = set()          # id(handle) of handles already ended by us
        self._connector: Dict[int, List[str]] = {}  # id(handle) -> ssh's stderr lines
        self._transfers: Dict[int, List[int]] = {}  # id(handle) -> [started, failed, terminated]
        self._root_messages: List[str] = []         # taktuk's own messages at the root
        self._buffer = ""

    # -- input --------------------------------------------------------------------------

    def feed(self, text: str) -> None:
        """A chunk of taktuk's stdout; only complete lines are parsed (taktuk ends each with \\n)."""
        if not text:
            return
        data = self._buffer + text
        lines = data.split("\n")
        self._buffer = lines.pop()
        for line in lines:
            if line:
                try:
                    self.parse_line(line)
                except Exception:
                    log.exception("taktuk: could not parse the output line %r", line)

    def taktuk_ended(self, exit_code: Optional[int], error_reason: Any, killed: bool, stderr: str,
                     forced_kill: bool = False) -> None:
        """taktuk is gone: every handle it did not end yet ends now."""
        if self._buffer:
            self.feed("\n")
        for handle in self.processes:
            if id(handle) in self._done:
                continue
            if handle.killed:
                if forced_kill:
                    handle.forced_kill = True
                self._end(handle, None)
                continue
            if error_reason is not None:
                reason = "taktuk could not run: %s" % (error_reason,)
            else:
                reason = "taktuk ended (exit code %s) before the %s on %s ended" % (
                    exit_code, "command" if self.mode == EXEC else "transfer", handle.host.address)
                detail = _last_lines(stderr) or _last_lines("\n".join(self._root_messages))
                if detail:
                    reason += ": " + detail
            self._end(handle, None, reason)

    # -- one line -----------------------------------------------------------------------

    def parse_line(self, line: str) -> None:
        header = line[0]
        position_text, _, payload = line[2:].partition(" # ")
        position = int(position_text.split(".")[0]) if position_text.strip() else 0
        if header in "ABC":
            handle = self._at(position)
            if handle is None or self.mode != EXEC:
                self._unexpected(line)
            elif header == "C":
                exit_code = exit_code_from_status(int(payload))
                self._note_timeout(handle, exit_code)
                self._end(handle, exit_code)
            else:
                self._ensure_started(handle)
                lifecycle.output(handle, STDOUT if header == "A" else STDERR, payload + "\n")
        elif header == "D":
            peer_text, _, text = payload.partition(" # ")
            text = text.rstrip("\r")  # ssh ends its own messages with \r\n
            handle = self._at(_position(peer_text))
            if handle is None:
                self._unexpected(line)
            elif id(handle) not in self._done:
                self._connector.setdefault(id(handle), []).append(text)
                lifecycle.output(handle, STDERR, text + "\n")
        elif header == "E":
            peer_text, _, rest = payload.partition(" # ")
            code_text, _, rest = rest.partition(" # ")
            rank_text, _, message = rest.partition(" # ")
            self._state(line, position, _position(peer_text), int(code_text), _int(rank_text))
        elif header == "G":
            handle = self._at(position)
            if handle is not None:
                if id(handle) not in self._done:
                    lifecycle.output(handle, STDERR, payload + "\n")
            else:
                self._root_messages.append(payload)
                log.debug("taktuk: %s", payload)
        else:  # F (info), H (message), I (anything else): nothing a process owns
            log.debug("taktuk: %s", line)

    def _state(self, line: str, position: int, peer: Optional[int], code: int, rank: Optional[int]) -> None:
        if code in (CONNECTION_FAILED, CONNECTION_LOST):
            handle = self._at(peer)
            if handle is None:
                self._unexpected(line)
                return
            what = "failed" if code == CONNECTION_FAILED else "lost"
            reason = "taktuk: connection to %s %s" % (handle.host.address, what)
            connector = self._connector.get(id(handle))
            if connector:
                reason += ": " + connector[-1]
            self._end(handle, None, reason)
        elif self.mode == EXEC and code == COMMAND_STARTED:
            handle = self._at(position)
            if handle is None:
                self._unexpected(line)
                return
            if rank is not None:
                self.ranks[id(handle)] = rank
            self._ensure_started(handle)
            if self.on_started is not None and rank is not None:
                self.on_started(handle, rank)
        elif self.mode == EXEC and code == COMMAND_FAILED:
            handle = self._at(position)
            if handle is not None:
                self._end(handle, None, "taktuk: execution of the command failed on %s" % (handle.host.address,))
        elif self.mode != EXEC and code in (RECEPTION_STARTED, RECEPTION_FAILED, RECEPTION_TERMINATED):
            # put: the remote host receives (position); get: the root receives from the peer
            handle = self._at(position if self.mode == PUT else peer)
            if handle is None:
                self._unexpected(line)
                return
            counts = self._transfers.setdefault(id(handle), [0, 0, 0])
            counts[code - RECEPTION_STARTED] += 1
            self._transfer_progress(handle)
        elif self.mode != EXEC and code == SEND_FAILED:
            handle = self._at(position)
            targets = [handle] if handle is not None else list(self.processes)  # the root: every host
            for target in targets:
                counts = self._transfers.setdefault(id(target), [0, 0, 0])
                counts[0] += 1
                counts[1] += 1
                self._transfer_progress(target)
        elif code not in _QUIET_STATES:
            self._unexpected(line)

    @staticmethod
    def _note_timeout(handle: Any, exit_code: int) -> None:
        """taktuk itself enforces a process's timeout (``exec timeout <t> timeout <t + kill_timeout>
        kill 9``): a command it signalled after that long has timed out."""
        if handle.timeout is None or handle.killed or exit_code not in (-15, -9) or handle.start_date is None:
            return
        if time.time() - handle.start_date >= handle.timeout - 1.0:  # taktuk's timers tick each second
            handle.timeouted = True
            handle.killed = True
            handle.forced_kill = exit_code == -9

    def _transfer_progress(self, handle: Any) -> None:
        if id(handle) in self._done:
            return
        started, failed, terminated = self._transfers[id(handle)]
        if started:
            self._ensure_started(handle)
        if failed + terminated >= self.file_count:
            if failed:
                self._end(handle, None, "taktuk: %d of %d file transfers failed with %s"
                          % (failed, self.file_count, handle.host.address))
            else:
                self._end(handle, 0)

    # -- handle state -------------------------------------------------------------------

    def _at(self, position: Optional[int]) -> Any:
        if position is None or position < 1 or position > len(self.processes):
            return None
        return self.processes[position - 1]

    def _ensure_started(self, handle: Any) -> None:
        if not handle.started:
            lifecycle.started(handle)

    def _end(self, handle: Any, exit_code: Optional[int], error_reason: Optional[str] = None) -> None:
        if id(handle) in self._done:
            return
        self._done.add(id(handle))
        self._ensure_started(handle)
        lifecycle.output(handle, STDOUT, "", eof=True)
        lifecycle.output(handle, STDERR, "", eof=True)
        lifecycle.ended(handle, exit_code, error_reason)

    def ended(self, handle: Any) -> bool:
        return id(handle) in self._done

    @staticmethod
    def _unexpected(line: str) -> None:
        log.warning("taktuk: unexpected output line %r", line)


def _position(text: str) -> Optional[int]:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text.split(".")[0])
    except ValueError:
        return None


def _int(text: str) -> Optional[int]:
    try:
        return int(text)
    except ValueError:
        return None


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:])
