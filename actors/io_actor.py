"""The I/O actor: one thread, one poll loop over every pipe, pidfd and worker channel.

Every source of bytes in the runtime (a local process's pipes, its pidfd, a connection
worker's pipe) is watched here, so that a thousand processes cost one thread, not a
thousand. The actor is a pykka actor whose inbox also writes to a wakeup pipe: a message
(start, write, kill, a new handler) interrupts the poll at once instead of waiting for the
next timeout.

Messages are ``(function, args)`` pairs run in the loop thread: the drivers that own
processes and channels are plain objects whose methods are only ever called here, so they
need no locks.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import queue
import selectors
import threading
import time
from typing import Any, Callable, Optional

import pykka

log = logging.getLogger("execo.actors")

MAX_MESSAGES_PER_ROUND = 32


class WakeupInbox:
    """A pykka inbox whose ``put`` also wakes the poll loop through a pipe.

    At most one byte is in flight: the flag is set by the writer and cleared by the loop
    before it drains the queue, so a message is either drained in this round or wakes the
    next one.
    """

    def __init__(self) -> None:
        self._queue: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self.read_fd, self._write_fd = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._signaled = False

    def put(self, envelope: Any, /) -> None:
        self._queue.put(envelope)
        if not self._signaled:
            self._signaled = True
            try:
                os.write(self._write_fd, b"\0")
            except (BlockingIOError, OSError):
                pass

    def get(self) -> Any:
        return self._queue.get()

    def get_nowait(self) -> Any:
        return self._queue.get_nowait()

    def empty(self) -> bool:
        return self._queue.empty()

    def clear_signal(self) -> None:
        """Called by the loop before draining: later puts must write a new byte.

        The pipe is emptied *before* the flag is cleared: the other order lets a put that
        lands in between set the flag and have its byte swallowed, so that every later put
        saw the flag up, wrote nothing, and waited for an unrelated wakeup.
        """
        try:
            while os.read(self.read_fd, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
        self._signaled = False

    def close(self) -> None:
        """Close the read end only: a late ``put`` then fails with EPIPE instead of
        writing into whatever file reused a closed descriptor number."""
        try:
            os.close(self.read_fd)
        except OSError:
            pass


class Timer:
    """A cancellable deadline in the loop's heap."""

    __slots__ = ("deadline", "callback", "cancelled")

    def __init__(self, deadline: float, callback: Callable[[], None]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class IOActor(pykka.ThreadingActor):
    """Owns the poll loop. Drivers register fds with callbacks and deadlines with timers."""

    use_daemon_thread = True

    @staticmethod
    def _create_actor_inbox() -> WakeupInbox:  # type: ignore[override]
        return WakeupInbox()

    def __init__(self, created: Optional[list] = None) -> None:
        """``created``, when given, receives the actor object itself: the runtime's
        drivers call its registration methods directly, from inside the loop thread."""
        super().__init__()
        if created is not None:
            created.append(self)
        self._selector = selectors.DefaultSelector()
        self._registered: dict[int, int] = {}  # fd -> events given to the selector
        self._readers: dict[int, Callable[[], None]] = {}
        self._writers: dict[int, Callable[[], None]] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._timer_seq = itertools.count()
        self._soon: list[Callable[[], None]] = []
        self._selector.register(self.actor_inbox.read_fd, selectors.EVENT_READ)
        self.thread_ident: Optional[int] = None

    # -- registration, called in the loop thread only ---------------------------------

    def watch_read(self, fd: int, on_readable: Callable[[], None]) -> None:
        self._readers[fd] = on_readable
        self._update(fd)

    def watch_write(self, fd: int, on_writable: Callable[[], None]) -> None:
        self._writers[fd] = on_writable
        self._update(fd)

    def unwatch_read(self, fd: int) -> None:
        if self._readers.pop(fd, None) is not None:
            self._update(fd)

    def unwatch_write(self, fd: int) -> None:
        if self._writers.pop(fd, None) is not None:
            self._update(fd)

    def unwatch(self, fd: int) -> None:
        self._readers.pop(fd, None)
        self._writers.pop(fd, None)
        self._update(fd)

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(time.monotonic() + delay, callback)
        heapq.heappush(self._timers, (timer.deadline, next(self._timer_seq), timer))
        return timer

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run after the current event: lets a driver defer work out of a callback."""
        self._soon.append(callback)

    def _update(self, fd: int) -> None:
        events = 0
        if fd in self._readers:
            events |= selectors.EVENT_READ
        if fd in self._writers:
            events |= selectors.EVENT_WRITE
        registered = self._registered.get(fd, 0)
        if events == registered:
            return
        if not registered:
            self._selector.register(fd, events)
            self._registered[fd] = events
        elif not events:
            self._selector.unregister(fd)
            del self._registered[fd]
        else:
            self._selector.modify(fd, events)
            self._registered[fd] = events

    # -- messages -----------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        function, args = message
        return function(*args)

    # -- the loop -----------------------------------------------------------------------

    def _actor_loop_running(self) -> None:
        self.thread_ident = threading.get_ident()
        inbox: WakeupInbox = self.actor_inbox  # type: ignore[assignment]
        wakeup_fd = inbox.read_fd
        while not self.actor_stopped.is_set():
            timeout = self._poll_timeout(inbox)
            try:
                ready = self._selector.select(timeout)
            except InterruptedError:
                ready = []
            for key, events in ready:
                fd = key.fd
                if fd == wakeup_fd:
                    continue
                if events & selectors.EVENT_READ:
                    self._run(self._readers.get(fd))
                if events & selectors.EVENT_WRITE:
                    self._run(self._writers.get(fd))
            self._run_soon()
            inbox.clear_signal()
            self._drain(inbox)
            self._run_due_timers()
            self._run_soon()

    def _poll_timeout(self, inbox: WakeupInbox) -> Optional[float]:
        if self._soon or not inbox.empty():
            return 0
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        if not self._timers:
            return None
        return max(0.0, self._timers[0][0] - time.monotonic())

    def _drain(self, inbox: WakeupInbox) -> None:
        """Serve a bounded batch of messages, then poll again.

        A burst of a thousand starts is thus interleaved with reaping the children that
        already ended: their descriptors are closed early, and every later spawn copies a
        smaller descriptor table.
        """
        for _ in range(MAX_MESSAGES_PER_ROUND):
            if self.actor_stopped.is_set():
                return
            try:
                envelope = inbox.get_nowait()
            except queue.Empty:
                return
            try:
                response = self._handle_receive(envelope.message)
                if envelope.reply_to is not None:
                    envelope.reply_to.set(response)
            except Exception:
                if envelope.reply_to is not None:
                    envelope.reply_to.set_exception()
                else:
                    log.exception("error in the I/O actor while handling %r", envelope.message)

    def _run_due_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.cancelled = True
                self._run(timer.callback)

    def _run_soon(self) -> None:
        while self._soon:
            soon, self._soon = self._soon, []
            for callback in soon:
                self._run(callback)

    @staticmethod
    def _run(callback: Optional[Callable[[], None]]) -> None:
        if callback is None:
            return
        try:
            callback()
        except Exception:
            log.exception("error in an I/O callback %r", callback)

    def on_stop(self) -> None:
        self._selector.close()
        self.actor_inbox.close()  # type: ignore[attr-defined]
