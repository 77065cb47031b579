"""The exceptions execo raises when processes or actions fail (``execo.exception`` in 2.8)."""

from __future__ import annotations

from typing import Any, Iterable


class ProcessesFailed(Exception):
    """One or more processes failed; ``processes`` holds them.

    Its text dumps each process (command, state, compacted outputs), so an
    uncaught one already says what went wrong.
    """

    def __init__(self, processes: Iterable[Any]) -> None:
        super().__init__(processes)
        self.processes = processes

    def __str__(self) -> str:
        text = "<ProcessesFailed> - failed process(es):\n"
        for process in self.processes:
            text += " " + process.dump() + "\n"
        return text


class ActionsFailed(Exception):
    """One or more actions failed; ``actions`` holds them."""

    def __init__(self, actions: Iterable[Any]) -> None:
        super().__init__(actions)
        self.actions = actions

    def __str__(self) -> str:
        text = "<ActionsFailed> - failed action(s):\n"
        for action in self.actions:
            text += " " + str(action) + "\n"
        return text
