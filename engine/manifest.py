"""The run manifest: what ran, where, with which code, written into the result directory.

Months later, a result directory must say how it was produced: the command line, the
host, the Python and package versions, the hash of the engine file and the git commit of
its directory. One JSON file per run (a campaign continued with ``-c`` and several
workers add theirs next to the first), replaced atomically at start and at the end so
that a reader never sees half a file.
"""

from __future__ import annotations

import datetime
import getpass
import hashlib
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

from execo_actors.journal import write_atomically

__all__ = ["Manifest"]

PACKAGES = ("execo", "pykka", "msgpack", "paramiko", "requests")


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts).astimezone().isoformat(timespec="milliseconds")


def _package_versions() -> Dict[str, Optional[str]]:
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover - Python < 3.8
        return {}
    versions: Dict[str, Optional[str]] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def file_sha256(path: Optional[str]) -> Optional[str]:
    if not path or not os.path.isfile(path):
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _git(directory: str, *args: str) -> Optional[str]:
    try:
        out = subprocess.run(["git", "-C", directory] + list(args), stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.decode(errors="replace").strip()


def git_info(directory: Optional[str]) -> Optional[Dict[str, Any]]:
    """Commit and dirtiness of the git work tree holding `directory`, or None."""
    if not directory or not os.path.isdir(directory):
        return None
    commit = _git(directory, "rev-parse", "HEAD")
    if not commit:
        return None
    status = _git(directory, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status), "root": _git(directory, "rev-parse", "--show-toplevel")}


class Manifest:
    """The manifest of one run; start() writes it, finish() completes it."""

    def __init__(self, result_dir: str, engine: Any, engine_file: Optional[str],
                 argv: Optional[List[str]] = None):
        self.start_time = time.time()
        stamp = time.strftime("%Y%m%d_%H%M%S", time.localtime(self.start_time))
        self.path = os.path.join(result_dir, "manifest_%s_%s_%d.json"
                                 % (stamp, socket.gethostname(), os.getpid()))
        argv = list(sys.argv if argv is None else argv)
        self.data: Dict[str, Any] = {
            "format": 1,
            "status": "running",
            "engine_class": "%s.%s" % (type(engine).__module__, type(engine).__qualname__),
            "engine_file": engine_file,
            "engine_file_sha256": file_sha256(engine_file),
            "git": git_info(os.path.dirname(engine_file) if engine_file else None),
            "run_name": getattr(engine, "run_name", None),
            "result_dir": result_dir,
            "argv": argv,
            "command_line": " ".join(shlex.quote(a) for a in argv),
            "engine_args": None,
            "cwd": os.getcwd(),
            "host": socket.gethostname(),
            "fqdn": socket.getfqdn(),
            "user": _user(),
            "pid": os.getpid(),
            "python": {"version": platform.python_version(), "implementation":
                       platform.python_implementation(), "executable": sys.executable},
            "platform": platform.platform(),
            "packages": _package_versions(),
            "start_time": _iso(self.start_time),
            "start_unixts": self.start_time,
            "end_time": None,
            "end_unixts": None,
            "duration": None,
            "error": None,
        }

    def write(self) -> None:
        text = json.dumps(self.data, indent=2, sort_keys=True, default=repr) + "\n"
        write_atomically(self.path, text.encode())

    def finish(self, status: str, error: Optional[str] = None) -> None:
        end = time.time()
        self.data.update(status=status, error=error, end_time=_iso(end), end_unixts=end,
                         duration=end - self.start_time)
        self.write()


def _user() -> Optional[str]:
    try:
        return getpass.getuser()
    except Exception:
        return None
