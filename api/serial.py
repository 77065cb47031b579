"""Serial ports as processes: Serial (local), SerialSsh (on a host), RemoteSerial (on many hosts).

As in execo 2.8, a serial connection is a shell command: ``stty`` puts the device in raw
mode at the given speed, then ``cat dev`` copies what the device sends to the process's
stdout while ``cat > dev`` copies the process's stdin to the device. Writing to the handle
sends to the device; the device's output arrives in ``stdout`` and the output handlers.

Unlike execo 2.8, the device path and the speed are shell-quoted (``shlex.quote``): a path
with spaces or quotes reaches stty and cat as one argument, and nothing else runs.
"""

from __future__ import annotations

import shlex
from typing import Any, Dict, Mapping, Optional

from .process import Process, ProcessBase
from .remote import Remote, _substituted_handlers
from .ssh_process import SshProcess

__all__ = ["Serial", "SerialSsh", "RemoteSerial", "serial_command"]

# execo 2.8's stty settings: raw 8N1, no flow control, no echo, no output processing
_STTY_SETTINGS = (
    "rows", "0", "columns", "0", "line", "0", "intr", "^C", "quit", "^\\", "erase", "^?", "kill", "^U",
    "eof", "^D", "eol", "undef", "eol2", "undef", "swtch", "undef", "start", "^Q", "stop", "^S", "susp", "^Z",
    "rprnt", "^R", "werase", "^W", "lnext", "^V", "flush", "^O", "min", "1", "time", "0",
    "-parenb", "-parodd", "cs8", "hupcl", "-cstopb", "cread", "clocal", "-crtscts",
    "-ignbrk", "-brkint", "-ignpar", "-parmrk", "-inpck", "-istrip", "-inlcr", "-igncr", "-icrnl", "-ixon",
    "-ixoff", "-iuclc", "-ixany", "-imaxbel", "-iutf8",
    "-opost", "-olcuc", "-ocrnl", "onlcr", "-onocr", "-onlret", "-ofill", "-ofdel",
    "nl0", "cr0", "tab0", "bs0", "vt0", "ff0",
    "-isig", "-icanon", "-iexten", "-echo", "echoe", "echok", "-echonl", "-noflsh", "-xcase", "-tostop",
    "-echoprt", "echoctl", "echoke",
)


def _check(device: Any, speed: Any, owner: str) -> None:
    if not isinstance(device, str) or not device:
        raise TypeError("%s: argument device must be a non-empty path string, got %r" % (owner, device))
    if isinstance(speed, bool) or not (isinstance(speed, int) or (isinstance(speed, str) and speed.isdigit())):
        raise TypeError("%s: argument speed must be a baud rate (an int such as 115200), got %r" % (owner, speed))


def serial_command(device: str, speed: Any) -> str:
    """The shell command line that connects stdin/stdout to ``device`` at ``speed`` baud."""
    dev = shlex.quote(device)
    settings = " ".join(shlex.quote(setting) for setting in _STTY_SETTINGS)
    return "stty -F %s %s %s ; cat %s & cat > %s" % (dev, shlex.quote(str(speed)), settings, dev, dev)


class Serial(Process):
    """A local serial port: write to it to send, read ``stdout`` (or handlers) to receive."""

    def __init__(self, device: str, speed: Any, **kwargs: Any) -> None:
        _check(device, speed, "Serial")
        kwargs.pop("shell", None)
        super().__init__(serial_command(device, speed), shell=True, **kwargs)
        self.device = device
        self.speed = speed

    def _repr_args(self) -> list:
        return [repr(self.device), repr(self.speed)] + [a for a in super()._repr_args()[1:] if a != "shell=True"]


class SerialSsh(SshProcess):
    """A serial port of a remote host, reached over ssh."""

    def __init__(self, host: Any, device: str, speed: Any, connection_params: Optional[Mapping[str, Any]] = None,
                 **kwargs: Any) -> None:
        _check(device, speed, "SerialSsh")
        super().__init__(serial_command(device, speed), host, connection_params=connection_params, **kwargs)
        self.device = device
        self.speed = speed

    def _repr_args(self) -> list:
        args = super()._repr_args()
        return [args[1], repr(self.device), repr(self.speed)] + args[2:]


class RemoteSerial(Remote):
    """The same serial device on every host, one SerialSsh each; ``write`` sends to all."""

    def __init__(self, hosts: Any, device: str, speed: Any, connection_params: Optional[Mapping[str, Any]] = None,
                 process_args: Optional[Dict[str, Any]] = None, **action_kwargs: Any) -> None:
        _check(device, speed, "RemoteSerial")
        self.device = device
        self.speed = speed
        super().__init__(serial_command(device, speed), hosts, connection_params=connection_params,
                         process_args=process_args, **action_kwargs)

    def _process(self, index: int, context: Any) -> ProcessBase:
        args = _substituted_handlers(self.process_args, self.hosts, index, context)
        return SerialSsh(self.hosts[index], self.device, self.speed, connection_params=self.connection_params, **args)

    def _default_name(self) -> str:
        return "RemoteSerial %s on %d hosts" % (self.device, len(self.hosts))
