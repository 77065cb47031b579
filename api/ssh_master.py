"""OpenSSH ControlMaster for the ssh command-line backend: one connection per host, reused.

When SshProcess runs the real ``ssh`` (the command-line backend), every command would
otherwise pay a TCP connect, a key exchange and an authentication. With
``-o ControlMaster=auto -o ControlPath=<dir>/%C -o ControlPersist=<s>`` the first command
to a host leaves a master connection in the background and the next ones go through it.

- ``<dir>`` is a private directory (mode 0700) of this controller, created on first use.
- Connection params: ``ssh_control_master`` (None: on for the plain ``ssh`` program, off
  for any other such as Grid'5000's ``oarsh``, which has no multiplexing; True/False force
  it) and ``ssh_control_persist`` (seconds an idle master stays, default 60). Options the
  user already gives (``ControlMaster``, ``ControlPath``, ``ControlPersist``, ``-S``, ``-M``)
  are left alone and ours are not added.
- At interpreter exit every master of the directory is asked to stop (``ssh -O exit``)
  and the directory is removed. A controller killed by SIGKILL cannot do that: its masters
  end by themselves after ``ssh_control_persist`` idle seconds.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
from typing import Any, Mapping, Optional, Tuple

__all__ = ["control_options", "control_dir", "stop_masters"]

DEFAULT_PERSIST = 60
_SOCKET_PATH_MAX = 107 - 58  # sun_path, minus "/" + %C (40 hex digits) + the ".XXXXXXXXXXXXXXXX" ssh adds while binding

_lock = threading.Lock()
_dir: Optional[str] = None
_owner_pid: Optional[int] = None


def _user_controls_it(ssh_options: Any) -> bool:
    for token in ssh_options or ():
        text = str(token)
        if text in ("-S", "-M", "-MM") or text.startswith("-S"):
            return True
        key = text.split("=", 1)[0].strip().lower()
        if key in ("controlmaster", "controlpath", "controlpersist"):
            return True
    return False


def control_dir(create: bool = False) -> Optional[str]:
    """This controller's directory of master sockets (None before the first use unless ``create``)."""
    global _dir, _owner_pid
    with _lock:
        if _dir is not None and _owner_pid == os.getpid():
            return _dir
        if not create:
            return None
        base = tempfile.gettempdir()
        if len(base) > _SOCKET_PATH_MAX - 20:
            base = "/tmp"
        _dir = tempfile.mkdtemp(prefix="execo-ssh-", dir=base)
        _owner_pid = os.getpid()  # a forked child gets a directory of its own and leaves this one alone
        atexit.register(stop_masters)
        return _dir


def control_options(params: Mapping[str, Any]) -> Tuple[str, ...]:
    """The ``-o Control*`` options to add to an ssh command line, or () when multiplexing is off."""
    setting = params.get("ssh_control_master")
    program = str(params.get("ssh") or "ssh")
    enabled = os.path.basename(program) == "ssh" if setting is None else bool(setting)
    if not enabled or _user_controls_it(params.get("ssh_options")):
        return ()
    persist = params.get("ssh_control_persist")
    persist = DEFAULT_PERSIST if persist is None else persist
    if isinstance(persist, bool) or not isinstance(persist, (int, float)) or persist < 0:
        raise ValueError("connection_params['ssh_control_persist'] must be a number of seconds, got %r" % (persist,))
    path = os.path.join(control_dir(create=True), "%C")
    return ("-o", "ControlMaster=auto", "-o", "ControlPath=" + path, "-o", "ControlPersist=%d" % int(persist))


def stop_masters(timeout: float = 5.0) -> None:
    """Ask every master of our directory to exit, then remove the directory (run at exit)."""
    global _dir
    with _lock:
        directory, owner = _dir, _owner_pid
        if directory is None or owner != os.getpid():
            return
        _dir = None
    try:
        names = os.listdir(directory)
    except OSError:
        names = []
    for name in names:
        path = os.path.join(directory, name)
        try:
            # -F /dev/null: a broken user config must not keep a master alive; the host argument is not used
            subprocess.run(["ssh", "-F", "/dev/null", "-o", "ControlPath=" + path, "-O", "exit", "execo-master"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=timeout, check=False)
        except (OSError, subprocess.SubprocessError):
            pass
    shutil.rmtree(directory, ignore_errors=True)
