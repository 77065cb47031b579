"""execo.host: Host fields, copy semantics, equality, repr, validation, list helpers."""

import pathlib

import pytest

from execo.config import configuration
from execo.host import Host, get_hosts_list, get_hosts_set, get_unique_hosts_list


@pytest.fixture(autouse=True)
def no_colours(monkeypatch):
    monkeypatch.setitem(configuration, "color_mode", False)


def test_fields_default_to_none():
    h = Host("node-1")
    assert (h.address, h.user, h.keyfile, h.port) == ("node-1", None, None, None)
    h = Host("node-1", user="u", keyfile="/k", port=2222)
    assert (h.address, h.user, h.keyfile, h.port) == ("node-1", "u", "/k", 2222)


def test_copy_false_keeps_none_clears():
    base = Host("n", user="u", keyfile="/k", port=22)
    copy = Host(base)
    assert copy == base and copy is not base
    assert Host(base, port=False).port == 22
    cleared = Host(base, user=None, keyfile=None)
    assert (cleared.user, cleared.keyfile, cleared.port) == (None, None, 22)
    assert Host(base, user="v").user == "v"


def test_equality_and_hash_use_all_fields():
    assert Host("a", user="u") == Host("a", user="u")
    assert hash(Host("a", user="u", port=1)) == hash(Host("a", user="u", port=1))
    assert Host("a") != Host("a", user="u")
    assert Host("a") != Host("a", port=22)
    assert Host("a") != Host("a", keyfile="/k")
    assert Host("a") != Host("b")
    assert Host("a") != "a"
    assert {Host("a"): 1}[Host("a")] == 1
    assert len({Host("a"), Host("a"), Host("a", user="u")}) == 2


def test_attributes_can_be_set_later():
    h = Host("localhost")
    h.user = "root"
    assert h == Host("localhost", user="root")
    assert repr(h) == "Host('localhost', user='root')"


def test_repr_shows_only_set_fields():
    assert repr(Host("a")) == "Host('a')"
    assert repr(Host("a", port=22)) == "Host('a', port=22)"
    assert repr(Host("a", user="u", keyfile="/k", port=22)) == "Host('a', user='u', keyfile='/k', port=22)"


def test_repr_colours_the_address(monkeypatch):
    monkeypatch.setitem(configuration, "color_mode", True)
    assert repr(Host("a")) == "Host(\033[35m\033[1m'a'\033[m)"


def test_port_and_keyfile_normalised():
    assert Host("a", port="2222").port == 2222
    assert Host("a", port="2222") == Host("a", port=2222)
    assert Host("a", keyfile=pathlib.Path("/home/u/.ssh/id")).keyfile == "/home/u/.ssh/id"


@pytest.mark.parametrize("kwargs, exc, words", [
    ({"address": 3}, TypeError, ["address", "int"]),
    ({"address": None}, TypeError, ["address"]),
    ({"address": ""}, ValueError, ["address", "empty"]),
    ({"address": "-oProxyCommand=touch /tmp/x"}, ValueError, ["address", "-oProxyCommand"]),
    ({"address": "a b"}, ValueError, ["address", "'a b'"]),
    ({"address": "a", "user": 5}, TypeError, ["user", "int"]),
    ({"address": "a", "keyfile": 1.5}, TypeError, ["keyfile", "float"]),
    ({"address": "a", "port": "abc"}, ValueError, ["port", "'abc'"]),
    ({"address": "a", "port": 70000}, ValueError, ["port", "70000"]),
    ({"address": "a", "port": 0}, ValueError, ["port"]),
    ({"address": "a", "port": True}, TypeError, ["port", "bool"]),
    ({"address": "a", "port": 22.0}, TypeError, ["port", "float"]),
])
def test_bad_arguments_name_the_argument(kwargs, exc, words):
    with pytest.raises(exc) as info:
        Host(**kwargs)
    for word in words:
        assert word in str(info.value)


def test_ipv6_and_fqdn_addresses_are_accepted():
    assert Host("::1").address == "::1"
    assert Host("graphene-1.nancy.grid5000.fr").address == "graphene-1.nancy.grid5000.fr"


def test_hosts_list_helpers():
    h = Host("b", user="u")
    hosts = ["a", h, "c", Host("a"), Host("b", user="u"), "c"]
    as_list = get_hosts_list(hosts)
    assert as_list == [Host("a"), h, Host("c"), Host("a"), h, Host("c")]
    assert as_list[1] is not h          # copies, not the same objects
    assert get_unique_hosts_list(hosts) == [Host("a"), h, Host("c")]
    assert get_hosts_set(hosts) == {Host("a"), h, Host("c")}
    assert get_hosts_list([]) == [] and get_hosts_set([]) == set()
