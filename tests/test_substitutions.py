"""execo.substitutions: {{{host}}} and {{expr}} replacement and the caller's context."""

import pytest

from execo.host import Host
from execo.substitutions import (check_substitutions, get_caller_context, remote_substitute,
                                 substitute_local)

MODULE_LEVEL = ["g0", "g1"]
HOSTS = [Host("h1"), Host("h2"), Host("h3")]


class Builder:
    """Stands for an action: captures its creator's context in __init__, as the actions do."""

    def __init__(self, cmd="", filter_out=None):
        self.cmd = cmd
        self.context = get_caller_context(filter_out)
        check_substitutions(cmd, self.context)

    def command_for(self, index):
        return remote_substitute(self.cmd, HOSTS, index, self.context)


class SubBuilder(Builder):
    def __init__(self, cmd):
        sub_local = ["sub"]  # noqa: F841 - must NOT be the context
        super().__init__(cmd)


def test_remote_substitute_host_and_sequences():
    ctx = ({"peers": ["p0", "p1"]}, {"ports": range(8000, 8003)})
    text = "ping {{peers}} -p {{ports}} from {{{host}}}"
    assert [remote_substitute(text, HOSTS, i, ctx) for i in range(3)] == [
        "ping p0 -p 8000 from h1", "ping p1 -p 8001 from h2", "ping p0 -p 8002 from h3"]


def test_remote_substitute_expressions_and_locals_win():
    ctx = ({"n": [1, 2, 3], "x": ["global"]}, {"x": ["local"]})
    assert remote_substitute("{{[v * 10 for v in n]}}/{{x}}", HOSTS, 1, ctx) == "20/local"
    assert remote_substitute("{{'abc'}}", HOSTS, 2, ctx) == "c"   # a str is a sequence


def test_remote_substitute_leaves_single_braces():
    ctx = ({}, {})
    assert remote_substitute("awk '{print $1}' {x}", HOSTS, 0, ctx) == "awk '{print $1}' {x}"


@pytest.mark.parametrize("text, words", [
    ("echo {{undefined_thing}}", ["{{undefined_thing}}", "NameError"]),
    ("echo {{42}}", ["{{42}}", "sequence", "int"]),
    ("echo {{[]}}", ["{{[]}}", "empty"]),
    ("echo {{1/0}}", ["{{1/0}}", "ZeroDivisionError"]),
    ("echo {{ [ }}", ["{{ [ }}", "SyntaxError"]),
])
def test_bad_expressions_raise_value_error_naming_them(text, words):
    with pytest.raises(ValueError) as info:
        remote_substitute(text, HOSTS, 0, ({}, {}))
    for word in words:
        assert word in str(info.value)
    with pytest.raises(ValueError) as info:
        check_substitutions(text, ({}, {}))
    assert words[0] in str(info.value)


def test_substitute_local_keeps_host_tag():
    ctx = ({}, {"files": ["a.txt", "b.txt"]})
    assert substitute_local("cat {{files}} {{{host}}}", ctx) == "cat a.txt {{{host}}}"


def test_check_substitutions_accepts_valid_and_ignores_host_tag():
    check_substitutions("{{{host}}} {{seq}} plain", ({}, {"seq": [1]}))
    check_substitutions("no substitution at all", (None, None))


def test_context_of_the_code_that_built_the_action():
    local_seq = ["l0", "l1"]  # noqa: F841 - read through the captured context
    b = Builder("echo {{local_seq}} {{MODULE_LEVEL}} {{{host}}}")
    assert b.context[0] is globals()
    assert b.command_for(1) == "echo l1 g1 h2"


def test_subclass_init_chain_is_crossed():
    mine = ["user"]  # noqa: F841
    b = SubBuilder("{{mine}}")
    assert "mine" in b.context[1] and "sub_local" not in b.context[1]
    assert b.command_for(0) == "user"


def _make_execo_internal_factory():
    """A real function whose module is an execo one, like execo.action.get_remote."""
    namespace = {"__name__": "execo.fake_factory", "Builder": Builder}
    exec("def get_thing(cmd):\n    factory_local = ['factory']\n    return Builder(cmd)\n",
         namespace)
    return namespace["get_thing"]


def test_execo_internal_frames_are_skipped():
    get_thing = _make_execo_internal_factory()
    mine = ["from the user"]  # noqa: F841
    b = get_thing("{{mine}}")
    assert "factory_local" not in b.context[1]
    assert b.command_for(0) == "from the user"


def test_invalid_expression_raises_at_construction():
    with pytest.raises(ValueError) as info:
        Builder("echo {{not_defined_here}}")
    assert "{{not_defined_here}}" in str(info.value)


def helper_that_builds(cmd):
    helper_local = ["helper"]  # noqa: F841
    return Builder(cmd, filter_out=["helper_that_builds"])


def test_filter_out_funcs_skips_named_helpers():
    mine = ["caller"]  # noqa: F841
    b = helper_that_builds("{{mine}}")
    assert b.command_for(0) == "caller"


def test_without_constructor_the_direct_caller_is_used():
    here = 1  # noqa: F841

    def inner():
        inner_local = 2  # noqa: F841
        return get_caller_context()

    glob, loc = inner()
    assert glob is globals() and loc["inner_local"] == 2
