"""Process handlers: the callbacks users attach to processes, and how output reaches them.

These classes are public through ``execo`` (execo.ProcessOutputHandler, ...). They live in
the runtime because the runtime is what calls them: the I/O actor hands each decoded chunk
to :func:`handle_process_output` on the handler dispatcher, in order, per process.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

log = logging.getLogger("execo")

STDOUT = 1
STDERR = 2

# The characters str.splitlines() splits on, as the reference lists them.
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"


class ProcessLifecycleHandler:
    """Base class of process lifecycle callbacks; override what you need."""

    def start(self, process: Any) -> None:
        """Called when the process has started (or failed to)."""

    def end(self, process: Any) -> None:
        """Called when the process has ended, after its last output."""

    def reset(self, process: Any) -> None:
        """Called when the process is reset."""


def split_lines(buffered: str, string: str, eof: bool) -> Tuple[List[str], str]:
    """Split ``buffered + string`` into complete lines (with their line breaks) and a rest.

    A trailing ``\\r`` is kept back unless at eof: the ``\\n`` of a ``\\r\\n`` may arrive in
    the next chunk, and splitting early would give an extra empty line.
    """
    text = buffered + string if buffered else string
    if not text:
        return [], ""
    lines = text.splitlines(True)
    if eof:
        return lines, ""
    last = lines[-1]
    if last[-1] == "\r" or last[-1] not in _LINE_BREAKS:
        return lines[:-1], last
    return lines, ""


class ProcessOutputHandler:
    """Receives a process's output; splits it into lines for :meth:`read_line`.

    ``read`` gets raw decoded chunks; the default implementation buffers them per
    (process, stream) and calls ``read_line`` once per complete line, line break included,
    then once with the unterminated rest at eof or error.
    """

    def __init__(self) -> None:
        self._buffers: Dict[Tuple[int, int], str] = {}

    def read(self, process: Any, stream: int, string: str, eof: bool = False, error: bool = False) -> None:
        key = (id(process), stream)
        lines, rest = split_lines(self._buffers.pop(key, ""), string, eof or error)
        if rest:
            self._buffers[key] = rest
        for line in lines:
            self.read_line(process, stream, line, eof=False, error=False)

    def read_line(self, process: Any, stream: int, string: str, eof: bool = False, error: bool = False) -> None:
        """Override to handle one line (given with its line break, if it had one)."""


class _SharedFile:
    """A file opened in append mode, shared by every process that names it."""

    def __init__(self, filename: str) -> None:
        self.file = open(filename, "a")
        self.users = 0


class _FilenameRegistry:
    """Filename handlers: one open file per name, closed when its last stream ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: Dict[str, _SharedFile] = {}
        self._users: Dict[Tuple[int, int, str], bool] = {}

    def write(self, process: Any, stream: int, filename: str, string: str, eof: bool) -> None:
        key = (id(process), stream, filename)
        with self._lock:
            shared = self._files.get(filename)
            if key not in self._users:
                if shared is None:
                    shared = self._files[filename] = _SharedFile(filename)
                shared.users += 1
                self._users[key] = True
            if string:
                shared.file.write(string)
                shared.file.flush()
            if eof:
                del self._users[key]
                shared.users -= 1
                if shared.users == 0:
                    shared.file.close()
                    del self._files[filename]


_filenames = _FilenameRegistry()


def handle_process_output(process: Any, stream: int, handler: Any, string: str, eof: bool = False, error: bool = False) -> None:
    """Deliver one chunk to one handler, whatever its kind.

    A handler is a ProcessOutputHandler, an int file descriptor, an object with ``write``,
    or a filename (opened in append mode, shared across processes, closed at eof).
    """
    if isinstance(handler, ProcessOutputHandler):
        handler.read(process, stream, string, eof, error)
    elif isinstance(handler, int):
        if string:
            os.write(handler, string.encode("utf-8", "surrogateescape"))
    elif isinstance(handler, str):
        _filenames.write(process, stream, handler, string, eof or error)
    elif hasattr(handler, "write"):
        if string:
            handler.write(string)
        if (eof or error) and hasattr(handler, "flush"):
            handler.flush()
    else:
        raise TypeError("invalid output handler %r for %s: expected a ProcessOutputHandler, an fd, a file-like object or a filename" % (handler, getattr(process, "name", process)))


Regexes = Union[str, "re.Pattern[str]", Sequence[Union[str, "re.Pattern[str]"]]]


def compile_regexes(regexes: Regexes) -> List["re.Pattern[str]"]:
    """Strings are compiled with re.MULTILINE, as the original does."""
    if isinstance(regexes, (str, re.Pattern)):
        regexes = [regexes]
    compiled = []
    for regex in regexes:
        if isinstance(regex, str):
            compiled.append(re.compile(regex, re.MULTILINE))
        elif isinstance(regex, re.Pattern):
            compiled.append(regex)
        else:
            raise TypeError("expect: regexes must be strings or compiled regexes, got %r" % (regex,))
    return compiled


class ExpectOutputHandler(ProcessOutputHandler):
    """Watches streams for regexes; :meth:`expect` blocks until one matches.

    Each monitored (process, stream) keeps a buffer of what it output since the last
    match, so a search never sees the same output twice, and finds a match that spans
    several chunks.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Condition()
        self._regexes: List["re.Pattern[str]"] = []
        self._text: Dict[Tuple[Any, int], str] = {}
        self._done: Dict[Tuple[Any, int], bool] = {}
        self._results: Dict[Tuple[Any, int], Tuple[Optional[int], Any]] = {}
        self._active = False

    def start_expect(self, regexes: Regexes) -> None:
        with self._lock:
            self._regexes = compile_regexes(regexes)
            self._results = {}
            self._active = True
            for key in list(self._text):
                self._search(key)

    def add_stream(self, process: Any, stream: int, backlog: str, ended: bool) -> None:
        """Start monitoring; ``backlog`` is what the stream output before (backtracking)."""
        with self._lock:
            key = (process, stream)
            self._text[key] = backlog
            self._done[key] = ended
            if self._active:
                self._search(key)

    def read(self, process: Any, stream: int, string: str, eof: bool = False, error: bool = False) -> None:
        with self._lock:
            key = (process, stream)
            if key not in self._text:
                return
            self._text[key] += string
            if eof or error:
                self._done[key] = True
            if self._active:
                self._search(key)
            self._lock.notify_all()

    def _search(self, key: Tuple[Any, int]) -> None:
        if key in self._results:
            return
        text = self._text[key]
        best = None
        for index, regex in enumerate(self._regexes):
            match = regex.search(text)
            if match and (best is None or match.start() < best[1].start()):
                best = (index, match)
        if best is not None:
            self._results[key] = best
            self._text[key] = text[best[1].end():]
            self._lock.notify_all()

    def expect(self, regexes: Regexes, timeout: Optional[float] = None) -> Dict[Tuple[Any, int], Tuple[Optional[int], Any]]:
        """Block until at least one stream matches, every stream ended, or the timeout."""
        self.start_expect(regexes)
        with self._lock:
            self._lock.wait_for(self._finished, timeout)
            self._active = False
            return dict(self._results)

    def wait_all(self, regexes: Regexes, timeout: Optional[float]) -> Dict[Tuple[Any, int], Tuple[Optional[int], Any]]:
        """Block until every monitored stream matched or ended, or the timeout."""
        self.start_expect(regexes)
        with self._lock:
            self._lock.wait_for(lambda: all(k in self._results or self._done[k] for k in self._text), timeout)
            self._active = False
            return dict(self._results)

    def _finished(self) -> bool:
        if self._results:
            return True
        return bool(self._text) and all(self._done.values())

