"""Where Grid'5000 command-line tools run: on a site's frontend over ssh, or here.

OAR and kadeploy commands run on the frontend of a site (``ssh <site>.grid5000.fr`` with the
frontend connection params), or locally when there is no frontend (the script runs on the
frontend itself). This module picks the host, builds the process, and turns a failed or
unreadable command into an error that quotes the command, where it ran and what it printed.
"""

from __future__ import annotations

import re
import socket
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple

from execo.config import make_connection_params
from execo.exceptions import ProcessesFailed
from execo.host import Host
from execo.process import ProcessBase, get_process

from .config import default_frontend_connection_params, g5k_configuration

__all__ = ["get_default_frontend", "get_frontend_host", "frontend_process", "run_frontend_commands",
           "resolve_timeout", "process_output", "process_stdout", "FrontendCommandError", "describe_frontend"]

_G5K_HOSTNAME_RE = re.compile(r"^[^\s.]+\.([^\s.]+)\.grid5000\.fr$")
_MAX_QUOTED_OUTPUT = 2000


def get_default_frontend() -> Optional[str]:
    """The configured ``default_frontend``, else the site of this host (``x.<site>.grid5000.fr``), else None.

    Unlike execo 2.8, the answer is not cached: a script may set the configuration at any time.
    """
    configured = g5k_configuration.get("default_frontend")
    if configured:
        return configured
    try:
        hostname = socket.gethostname()
    except OSError:
        return None
    match = _G5K_HOSTNAME_RE.match(hostname)
    return match.group(1) if match else None


def get_frontend_host(frontend: Any = None) -> Optional[Host]:
    """The host to ssh to for ``frontend`` (a site name or a Host), or None to run locally."""
    if frontend is None:
        frontend = get_default_frontend()
    if g5k_configuration.get("no_ssh_for_local_frontend") and frontend is not None \
            and frontend == get_default_frontend():
        return None
    if frontend is None or frontend == "":
        return None
    return Host(frontend)


def describe_frontend(frontend: Any) -> str:
    """How to name where a command ran, in messages."""
    host = get_frontend_host(frontend)
    if host is None:
        return "locally (no frontend)"
    return "on frontend %s" % (frontend.address if isinstance(frontend, Host) else frontend,)


def resolve_timeout(timeout: Any) -> Any:
    """execo 2.8's convention: False means ``g5k_configuration['default_timeout']``, None means none."""
    if timeout is False:
        return g5k_configuration.get("default_timeout")
    return timeout


def frontend_process(cmd: str, frontend: Any = None, frontend_connection_params: Optional[Mapping[str, Any]] = None,
                     timeout: Any = False, **process_args: Any) -> ProcessBase:
    """A (not started) process running the shell command line ``cmd`` for ``frontend``.

    ``cmd`` is interpreted by a shell (the remote login shell, or ``sh`` locally): callers
    quote every value they put in it.
    """
    host = get_frontend_host(frontend)
    params = make_connection_params(frontend_connection_params, default_frontend_connection_params)
    process = get_process(cmd, host=host, connection_params=params, shell=True, pty=True,
                          timeout=resolve_timeout(timeout), **process_args)
    process.frontend = frontend
    return process


def run_frontend_commands(commands: Iterable[Tuple[str, Any]],
                          frontend_connection_params: Optional[Mapping[str, Any]] = None,
                          timeout: Any = False, **process_args: Any) -> List[ProcessBase]:
    """Run ``(cmd, frontend)`` pairs all at once; returns the ended processes in the same order."""
    processes = [frontend_process(cmd, frontend, frontend_connection_params, timeout, **process_args)
                 for cmd, frontend in commands]
    for process in processes:
        process.start()
    for process in processes:
        process.wait()
    return processes


def _normalized(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def process_stdout(process: ProcessBase) -> str:
    """What the command printed on stdout (what OAR's readers read), without the pty's carriage returns.

    Over ssh with a pty the remote stderr is merged into it; ssh's own messages are not.
    """
    return _normalized(process.stdout)


def process_output(process: ProcessBase) -> str:
    """stdout then stderr, without the carriage returns a pty adds."""
    text = process.stdout
    if process.stderr:
        text = text + ("\n" if text and not text.endswith("\n") else "") + process.stderr
    return _normalized(text)


def _failure(process: ProcessBase) -> str:
    if process.timeouted:
        reason = " (%s)" % (process.error_reason,) if process.error and process.error_reason else ""
        return "timed out after %ss%s" % (process.timeout, reason)
    if process.error:
        return "could not run (%s)" % (process.error_reason,)
    if process.exit_code is not None and process.exit_code != 0:
        return "exited with code %s" % (process.exit_code,)
    return "succeeded"


def _quoted_output(text: str) -> str:
    text = text.strip()
    if not text:
        return "(no output)"
    if len(text) > _MAX_QUOTED_OUTPUT:
        text = text[:_MAX_QUOTED_OUTPUT // 2] + "\n[...]\n" + text[-_MAX_QUOTED_OUTPUT // 2:]
    return "\n".join("    | " + line for line in text.splitlines())


class FrontendCommandError(ProcessesFailed):
    """A Grid'5000 command failed, or printed what could not be understood.

    It is a ProcessesFailed (``processes`` holds the culprits), as execo 2.8 raised; its text
    leads with the command, where it ran, how it failed and its output.
    """

    def __init__(self, processes: Sequence[ProcessBase], problem: Optional[str] = None) -> None:
        super().__init__(list(processes))
        self.problem = problem

    @property
    def message(self) -> str:
        parts = []
        for process in self.processes:
            where = describe_frontend(getattr(process, "frontend", None))
            cmd = getattr(process, "remote_cmd", None) or process.cmd
            what = self.problem or _failure(process)
            hint = ""
            output = process_output(process)
            remote = getattr(process, "host", None) is not None
            if remote and process.error:  # the pooled ssh backend could not connect
                hint = " (the frontend could not be reached over ssh)"
            elif remote and process.exit_code == 255 \
                    and re.search(r"^(ssh: |.*Permission denied \(|.*Connection (refused|timed out|closed))",
                                  output, re.MULTILINE):
                hint = " (the frontend could not be reached over ssh)"
            elif process.exit_code == 127 and "not found" in output:
                hint = " (the command is not installed there)"
            parts.append("`%s` %s: %s%s; output:\n%s" % (cmd, where, what, hint, _quoted_output(output)))
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.message
