"""execo.exceptions: ProcessesFailed and ActionsFailed carry their objects and describe them."""

import pytest

from execo.exceptions import ActionsFailed, ProcessesFailed


class DumpsItself:
    """Stands for a process: dump() is what ProcessesFailed shows."""

    def __init__(self, text):
        self.text = text

    def dump(self):
        return self.text


class Named:
    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text


def test_processes_failed():
    procs = [DumpsItself("<Process('false')>\nstdout:\n\nstderr:\n"), DumpsItself("<Process('x')>")]
    with pytest.raises(ProcessesFailed) as info:
        raise ProcessesFailed(procs)
    assert info.value.processes is procs
    assert str(info.value) == ("<ProcessesFailed> - failed process(es):\n"
                               " <Process('false')>\nstdout:\n\nstderr:\n\n"
                               " <Process('x')>\n")
    assert isinstance(info.value, Exception)


def test_actions_failed():
    actions = [Named("<Remote a>"), Named("<Local b>")]
    error = ActionsFailed(actions)
    assert error.actions is actions
    assert str(error) == "<ActionsFailed> - failed action(s):\n <Remote a>\n <Local b>\n"
    assert str(ActionsFailed([])) == "<ActionsFailed> - failed action(s):\n"
