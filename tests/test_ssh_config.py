"""host_spec and connection_key: execo Host fields, connection params, ssh_options and ssh_config files."""

import getpass

import msgpack
import pytest

from execo_actors.ssh_config import SpecError, connection_key, host_spec


class FakeHost:
    """Anything with execo's Host attributes (the real one lives in api/, which actors/ must not import)."""

    def __init__(self, address, user=None, keyfile=None, port=None):
        self.address, self.user, self.keyfile, self.port = address, user, keyfile, port


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "ssh_config"
    path.write_text(
        "Host node-1\n"
        "    HostName 10.0.0.1\n"
        "Host gw\n"
        "    HostName gateway.example.org\n"
        "    User me\n"
        "    Port 2200\n"
        "Host *.site\n"
        "    ProxyJump gw\n"
        "    User root\n"
        "    ConnectTimeout 7\n"
        "    ServerAliveInterval 15\n"
        "Host chained\n"
        "    ProxyJump gw,hop2:2022\n"
        "Host viacmd\n"
        "    HostName 192.0.2.5\n"
        "    ProxyCommand ssh -W %h:%p -l %r jumpbox\n"
        "Host *\n"
        "    IdentityFile ~/.ssh/from_config\n"
        "    StrictHostKeyChecking accept-new\n"
        "    UserKnownHostsFile /tmp/kh1 /tmp/kh2\n"
    )
    return str(path)


def test_plain_address_defaults(tmp_path):
    spec = host_spec("example.org", {"ssh_config_file": str(tmp_path / "none")})
    assert (spec["address"], spec["user"], spec["port"], spec["keys"]) == ("example.org", getpass.getuser(), 22, [])
    assert spec["strict_host_key_checking"] == "ask"
    assert spec["proxy_jump"] is None and spec["proxy_command"] is None
    msgpack.packb(spec)  # it travels in frames


def test_host_fields_beat_params_which_beat_options_which_beat_config(config):
    params = {"user": "puser", "keyfile": "/k/params", "port": 2000, "ssh_config_file": config,
              "ssh_options": ("-o", "User=ouser", "-o", "Port=3000", "-i", "/k/opt", "-o", "ConnectTimeout=3")}
    spec = host_spec(FakeHost("a.site", user="huser", keyfile="/k/host", port=1000), params)
    assert (spec["user"], spec["port"]) == ("huser", 1000)
    assert spec["keys"][:2] == ["/k/host", "/k/opt"] and spec["keys"][-1].endswith("/.ssh/from_config")
    spec = host_spec("a.site", params)
    assert (spec["user"], spec["port"], spec["keys"][0]) == ("puser", 2000, "/k/params")
    spec = host_spec("a.site", dict(params, user=None, port=None))
    assert (spec["user"], spec["port"]) == ("ouser", 3000)
    assert spec["connect_timeout"] == 3.0  # -o beats the config's 7
    spec = host_spec("a.site", {"ssh_config_file": config})
    assert (spec["user"], spec["port"], spec["connect_timeout"], spec["keepalive"]) == ("root", 22, 7.0, 15)
    assert spec["keepalive_count_max"] == 3  # OpenSSH's default
    spec = host_spec("a.site", dict(params, ssh_options=("-o", "ServerAliveCountMax=5")))
    assert spec["keepalive_count_max"] == 5
    with pytest.raises(SpecError, match="ServerAliveCountMax"):
        host_spec("a.site", dict(params, ssh_options=("-o", "ServerAliveCountMax=many")))


def test_execo_false_means_unset():
    spec = host_spec(FakeHost("h", user=False, keyfile=False, port=False), {"user": "u", "port": 99,
                                                                            "ssh_config_file": "/dev/null"})
    assert (spec["user"], spec["port"]) == ("u", 99)


def test_config_patterns_hostname_and_known_hosts(config):
    spec = host_spec("node-1", {"ssh_config_file": config})
    assert spec["address"] == "10.0.0.1" and spec["alias"] == "node-1"
    assert spec["strict_host_key_checking"] == "accept-new"
    assert spec["known_hosts"][:2] == ["/tmp/kh1", "/tmp/kh2"]


def test_proxyjump_resolved_from_config_only(config):
    spec = host_spec("n3.site", {"user": "root", "keyfile": "/k/nodes", "ssh_config_file": config})
    gateway = spec["proxy_jump"]
    assert (gateway["address"], gateway["user"], gateway["port"]) == ("gateway.example.org", "me", 2200)
    assert "/k/nodes" not in gateway["keys"]  # the nodes' key and user do not leak to the gateway
    assert spec["user"] == "root"


def test_proxyjump_chain_and_user_port_syntax(config):
    spec = host_spec("chained", {"ssh_config_file": config})
    hop2 = spec["proxy_jump"]
    assert (hop2["address"], hop2["port"]) == ("hop2", 2022)
    assert hop2["proxy_jump"]["address"] == "gateway.example.org"
    spec = host_spec("x", {"ssh_options": ("-J", "alice@jump:2201"), "ssh_config_file": "/dev/null"})
    assert (spec["proxy_jump"]["user"], spec["proxy_jump"]["address"], spec["proxy_jump"]["port"]) == \
        ("alice", "jump", 2201)


def test_proxycommand_tokens_are_final_values(config):
    spec = host_spec("viacmd", {"user": "bob", "port": 2222, "ssh_config_file": config})
    assert spec["proxy_command"] == "ssh -W 192.0.2.5:2222 -l bob jumpbox"


def test_hosts_behind_one_gateway_share_the_gateway_key(config):
    a = host_spec("a.site", {"ssh_config_file": config})
    b = host_spec("b.site", {"ssh_config_file": config})
    assert connection_key(a) != connection_key(b)
    assert connection_key(a["proxy_jump"]) == connection_key(b["proxy_jump"])
    assert connection_key(a) == connection_key(host_spec("a.site", {"ssh_config_file": config}))


def test_host_rewrite_func_applies_before_config(config):
    spec = host_spec("node-1-kavlan", {"host_rewrite_func": lambda a: a.replace("-kavlan", ""),
                                       "ssh_config_file": config})
    assert spec["address"] == "10.0.0.1"


@pytest.mark.parametrize("bad, culprit", [
    ("a;rm -rf /", "invalid host address"),
    ("$(reboot)", "invalid host address"),
    ("", "invalid host address"),
])
def test_bad_addresses_are_refused(bad, culprit):
    with pytest.raises(SpecError, match=culprit):
        host_spec(bad, {"ssh_config_file": "/dev/null"})


def test_bad_params_name_the_culprit(tmp_path):
    with pytest.raises(SpecError, match="invalid user name 'x y'"):
        host_spec("h", {"user": "x y", "ssh_config_file": "/dev/null"})
    with pytest.raises(SpecError, match="port must be an integer, got 'abc'"):
        host_spec("h", {"port": "abc", "ssh_config_file": "/dev/null"})
    with pytest.raises(SpecError, match="ssh_options must be a sequence"):
        host_spec("h", {"ssh_options": "-o Port=2", "ssh_config_file": "/dev/null"})
    with pytest.raises(SpecError, match="-o needs an argument"):
        host_spec("h", {"ssh_options": ("-o",), "ssh_config_file": "/dev/null"})
    with pytest.raises(SpecError, match="ConnectTimeout must be a number"):
        host_spec("h", {"ssh_options": ("-o", "ConnectTimeout=soon"), "ssh_config_file": "/dev/null"})
    with pytest.raises(SpecError, match="not a host"):
        host_spec(42, {})
    loop = tmp_path / "loop"
    loop.write_text("Host *\n    ProxyJump gw\n")
    with pytest.raises(SpecError, match="ProxyJump chain longer"):
        host_spec("h", {"ssh_config_file": str(loop)})


def test_execo_default_ssh_options_parse():
    options = ('-tt', '-o', 'BatchMode=yes', '-o', 'PasswordAuthentication=no', '-o', 'StrictHostKeyChecking=no',
               '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=20')
    spec = host_spec("h", {"ssh_options": options, "ssh_config_file": "/dev/null"})
    assert spec["strict_host_key_checking"] == "no" and spec["connect_timeout"] == 20.0
    assert spec["request_tty"] is True
    assert "/dev/null" not in spec["known_hosts"]


def test_resolved_specs_are_reused_until_the_config_file_changes(config):
    params = {"ssh_config_file": config}
    first = host_spec("node-1", params)
    first["address"] = "changed by the caller"  # a caller's change must not leak into the next answer
    assert host_spec("node-1", params)["address"] == "10.0.0.1"
    with open(config) as f:
        text = f.read()
    with open(config, "w") as f:
        f.write(text.replace("HostName 10.0.0.1", "HostName 10.0.0.42    "))  # other size: a new stamp
    assert host_spec("node-1", params)["address"] == "10.0.0.42"
