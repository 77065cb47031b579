"""Sending an engine's stdout and stderr to files in its result directory.

Both functions work on file descriptors 1 and 2, not only on ``sys.stdout``: the output
of child processes that inherit them (every process an experiment starts) lands in the
files too.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys

__all__ = ["redirect_outputs", "copy_outputs"]


def _reopen_stdout() -> None:
    # Line-buffered, so that log lines and prints reach the file in order; closefd=False
    # so that the replaced object never closes fd 1 when it is collected.
    sys.stdout = os.fdopen(1, "w", 1, closefd=False)


def _redirect_fd(fd: int, filename: str) -> None:
    target = os.open(filename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, fd)
    finally:
        os.close(target)


def redirect_outputs(stdout_filename: str, stderr_filename: str) -> None:
    """Send stdout and stderr into files (appending; the same name for both merges them)."""
    sys.stdout.flush()
    sys.stderr.flush()
    _redirect_fd(1, stdout_filename)
    _redirect_fd(2, stderr_filename)
    _reopen_stdout()


_tees = []  # kept referenced: they run until the engine (and its children) close the pipes


def _tee_fd(fd: int, filename: str, use_pty: bool) -> None:
    if use_pty:
        read_end, write_end = pty.openpty()
    else:
        read_end, write_end = os.pipe()
    try:
        # A new session: a Ctrl-C on the terminal does not reach tee, which must outlive
        # the engine to save its last words; it ends when every writer has closed the pipe.
        _tees.append(subprocess.Popen(["tee", "-a", filename], stdin=read_end, stdout=fd,
                                      close_fds=True, start_new_session=True))
        os.dup2(write_end, fd)
    finally:
        os.close(read_end)
        os.close(write_end)


def copy_outputs(stdout_filename: str, stderr_filename: str, use_pty: bool = False) -> None:
    """Copy stdout and stderr into files while they still go where they went (``tee -a``).

    :param use_pty: make the engine's outputs a pseudo-terminal, so that programs that
      buffer more when writing to a pipe keep writing line by line.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    _tee_fd(1, stdout_filename, use_pty)
    _tee_fd(2, stderr_filename, use_pty)
    _reopen_stdout()
