"""Which tool builds remote actions: ssh/scp, taktuk or ChainPut, per configuration."""

from __future__ import annotations

from typing import Any, Optional

from .config import CHAINPUT, SCP, SSH, TAKTUK, configuration


class ActionFactory:
    """Builds Remote-, Put- and Get-like actions with the chosen tools.

    Each tool left as None is read from ``configuration`` (remote_tool, fileput_tool,
    fileget_tool) when the action is built.
    """

    def __init__(self, remote_tool: Optional[int] = None, fileput_tool: Optional[int] = None,
                 fileget_tool: Optional[int] = None) -> None:
        self.remote_tool = remote_tool
        self.fileput_tool = fileput_tool
        self.fileget_tool = fileget_tool

    def _tool(self, value: Optional[int], key: str) -> int:
        return configuration[key] if value is None else value

    def get_remote(self, *args: Any, **kwargs: Any) -> Any:
        tool = self._tool(self.remote_tool, "remote_tool")
        if tool == SSH:
            from .remote import Remote
            return Remote(*args, **kwargs)
        if tool == TAKTUK:
            from .taktuk import TaktukRemote
            return TaktukRemote(*args, **kwargs)
        raise KeyError("no remote tool %r (expected SSH=%d or TAKTUK=%d)" % (tool, SSH, TAKTUK))

    def get_fileput(self, *args: Any, **kwargs: Any) -> Any:
        tool = self._tool(self.fileput_tool, "fileput_tool")
        if tool == SCP:
            from .remote import Put
            return Put(*args, **kwargs)
        if tool == TAKTUK:
            from .taktuk import TaktukPut
            return TaktukPut(*args, **kwargs)
        if tool == CHAINPUT:
            from .chainput import ChainPut
            return ChainPut(*args, **kwargs)
        raise KeyError("no fileput tool %r (expected SCP=%d, TAKTUK=%d or CHAINPUT=%d)" % (tool, SCP, TAKTUK, CHAINPUT))

    def get_fileget(self, *args: Any, **kwargs: Any) -> Any:
        tool = self._tool(self.fileget_tool, "fileget_tool")
        if tool == SCP:
            from .remote import Get
            return Get(*args, **kwargs)
        if tool == TAKTUK:
            from .taktuk import TaktukGet
            return TaktukGet(*args, **kwargs)
        raise KeyError("no fileget tool %r (expected SCP=%d or TAKTUK=%d)" % (tool, SCP, TAKTUK))


default_action_factory = ActionFactory()


def get_remote(*args: Any, **kwargs: Any) -> Any:
    """A Remote (or TaktukRemote, per configuration['remote_tool'])."""
    return default_action_factory.get_remote(*args, **kwargs)


def get_fileput(*args: Any, **kwargs: Any) -> Any:
    """A Put (or TaktukPut, ChainPut, per configuration['fileput_tool'])."""
    return default_action_factory.get_fileput(*args, **kwargs)


def get_fileget(*args: Any, **kwargs: Any) -> Any:
    """A Get (or TaktukGet, per configuration['fileget_tool'])."""
    return default_action_factory.get_fileget(*args, **kwargs)
