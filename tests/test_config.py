"""execo.config: defaults, connection-parameter merging, and ~/.execo.conf.py."""

import logging
import os
import subprocess
import sys
import textwrap

import pytest

from execo import config
from execo.config import (CHAINPUT, DETAIL, FDEBUG, IODEBUG, SCP, SSH, TAKTUK, TRACE, checktty,
                          configuration, default_connection_params, get_user_config_filename,
                          load_configuration, make_connection_params,
                          make_default_connection_params)


def run_python(code, home, extra_env=None):
    """Run code in a fresh interpreter whose HOME is ``home``; returns the CompletedProcess."""
    env = dict(os.environ, HOME=str(home))
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)


def write_conf(home, text):
    path = home / ".execo.conf.py"
    path.write_text(textwrap.dedent(text))
    return path


def test_constants():
    assert (SSH, SCP, TAKTUK, CHAINPUT) == (0, 1, 2, 3)
    assert (IODEBUG, FDEBUG, TRACE, DETAIL) == (3, 5, 12, 15)


def test_configuration_defaults_in_a_clean_interpreter(tmp_path):
    # A HOME without a config file: the built-in defaults, exactly.
    proc = run_python(
        "import execo.config as c, logging\n"
        "d = c.configuration\n"
        "print(d['log_level'] == logging.INFO, d['remote_tool'], d['fileput_tool'],"
        " d['fileget_tool'], d['compact_output_threshold'], d['kill_timeout'],"
        " d['intr_period'], d['port_range'], d['kill_childs_at_end'], d['color_mode'])\n"
        "print(sorted(k for k in d['color_styles'] if isinstance(k, str)))\n"
        "print(sorted(k for k in d['color_styles'] if isinstance(k, int)))\n", tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # color_mode is False: stdout and stderr are pipes here.
    assert lines[0] == "True 0 1 1 4096 60 1 (25500, 26700) True False"
    assert lines[1] == str(sorted(["log_header", "object_repr", "emph", "report_warn",
                                   "report_error", "command", "host", "user1", "user2", "user3"]))
    assert lines[2] == str(sorted([3, 5, 10, 12, 15, 20, 30, 40, 50]))
    assert proc.stderr == ""


def test_default_connection_params_values():
    params = make_default_connection_params()
    common = ("-o", "BatchMode=yes", "-o", "PasswordAuthentication=no",
              "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
              "-o", "ConnectTimeout=20")
    assert params["ssh_options"] == ("-tt",) + common
    assert params["scp_options"] == common + ("-rp",)
    assert params["taktuk_connector_options"] == common
    assert params["taktuk_options"] == ("-s",)
    expected_scalars = {
        "user": None, "keyfile": None, "port": None, "ssh": "ssh", "scp": "scp",
        "taktuk": "taktuk", "taktuk_connector": "ssh", "chainput_nc_client_timeout": 5,
        "chainput_nc_server_timeout": 30, "nc": "/bin/nc.traditional -v -v",
        "chainput_host_retry": 5, "chainput_chain_retry": 10, "chainput_try_delay": 1,
        "forwarding_timeout": 25, "pty": False, "host_rewrite_func": None,
        "ssh_backend": "auto", "ssh_config_file": None, "ssh_control_master": None,
        "ssh_control_persist": None,
    }
    for key, value in expected_scalars.items():
        assert params[key] == value, key
    assert set(params) == set(expected_scalars) | {
        "ssh_options", "scp_options", "taktuk_options", "taktuk_connector_options"}


def test_make_default_connection_params_is_a_fresh_copy():
    first = make_default_connection_params()
    first["user"] = "changed"
    assert make_default_connection_params()["user"] is None
    assert first is not default_connection_params


def test_make_connection_params_priority(monkeypatch):
    monkeypatch.setitem(default_connection_params, "user", "global_user")
    monkeypatch.setitem(default_connection_params, "port", 2200)
    merged = make_connection_params({"port": 2222})
    assert merged["user"] == "global_user"       # from the global defaults
    assert merged["port"] == 2222                # the call's own params win
    assert merged["ssh"] == "ssh"                # built-in default
    explicit = make_connection_params({"keyfile": "/k"}, {"user": "other"})
    assert explicit["user"] == "other"           # default_params replaces the global dict
    assert explicit["port"] is None              # ... which is not consulted then
    assert explicit["keyfile"] == "/k"
    assert make_connection_params() == dict(make_default_connection_params(),
                                            user="global_user", port=2200)


def test_get_user_config_filename(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_user_config_filename() == str(tmp_path / ".execo.conf.py")
    monkeypatch.delenv("HOME")
    assert get_user_config_filename() is None


def test_load_configuration_merges_named_dicts(tmp_path):
    path = write_conf(tmp_path, """
        import logging
        configuration = {'kill_timeout': 7, 'log_level': logging.DEBUG}
        g5k_configuration = {'default_site': 'lyon'}
        unrelated = {'x': 1}
        """)
    conf, g5k = {"kill_timeout": 60, "intr_period": 1}, {}
    load_configuration(str(path), ((conf, "configuration"), (g5k, "g5k_configuration"),
                                   ({}, "absent_name")))
    assert conf == {"kill_timeout": 7, "intr_period": 1, "log_level": logging.DEBUG}
    assert g5k == {"default_site": "lyon"}


def test_load_configuration_missing_file_is_silent(tmp_path, capsys):
    target = {"a": 1}
    load_configuration(str(tmp_path / "nope.py"), ((target, "configuration"),))
    load_configuration(None, ((target, "configuration"),))
    assert target == {"a": 1}
    assert capsys.readouterr().err == ""


def test_load_configuration_runtime_error_names_file_and_line(tmp_path, capsys):
    path = write_conf(tmp_path, """\
        configuration = {'kill_timeout': 3}
        def helper():
            return undefined_name
        x = helper()
        default_connection_params = {'user': 'never'}
        """)
    conf, params = {}, {}
    load_configuration(str(path), ((conf, "configuration"), (params, "default_connection_params")))
    err = capsys.readouterr().err
    # The innermost line of the file: inside helper().
    assert err == ("ERROR while reading config file %s, line 3: NameError: "
                   "name 'undefined_name' is not defined\n" % (path,))
    assert conf == {"kill_timeout": 3}   # what was defined before the error is kept
    assert params == {}


def test_load_configuration_syntax_error_names_line(tmp_path, capsys):
    path = write_conf(tmp_path, "configuration = {}\n\nconfiguration['a'] = (1,\nx = = 2\n")
    load_configuration(str(path), (({}, "configuration"),))
    err = capsys.readouterr().err
    assert err.startswith("ERROR while reading config file %s, line " % (path,))
    assert "SyntaxError" in err
    line = int(err.split(", line ")[1].split(":")[0])
    assert line in (3, 4)   # where the parser notices, depending on the Python version


def test_load_configuration_non_dict_value_is_reported(tmp_path, capsys):
    path = write_conf(tmp_path, "configuration = 42\n")
    target = {"a": 1}
    load_configuration(str(path), ((target, "configuration"),))
    err = capsys.readouterr().err
    assert str(path) in err and "'configuration' must be a dict, not int" in err
    assert target == {"a": 1}


def test_broken_user_file_does_not_break_import(tmp_path):
    write_conf(tmp_path, """\
        import logging
        configuration = {'kill_timeout': 9}
        configuration['log_level'] = x
        """)
    proc = run_python("import execo.config as c; print(c.configuration['kill_timeout'])", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "9"
    conf_file = str(tmp_path / ".execo.conf.py")
    assert ("ERROR while reading config file %s, line 3: NameError: name 'x' is not defined"
            % (conf_file,)) in proc.stderr


def test_user_file_with_syntax_error_does_not_break_import(tmp_path):
    write_conf(tmp_path, "configuration = {\n  'kill_timeout': 9\n  'intr_period': 2}\n")
    proc = run_python("import execo; print(execo.configuration['kill_timeout'])", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "60"
    assert "ERROR while reading config file %s, line " % (tmp_path / ".execo.conf.py",) in proc.stderr
    assert "SyntaxError" in proc.stderr


def test_user_file_is_applied_at_import(tmp_path):
    write_conf(tmp_path, """\
        import logging
        configuration = {'log_level': logging.DEBUG, 'compact_output_threshold': 10}
        default_connection_params = {'user': 'alice', 'port': 2222}
        """)
    proc = run_python(
        "import execo.config as c, execo.log as l\n"
        "print(c.configuration['compact_output_threshold'], l.logger.level,"
        " c.default_connection_params['user'], c.make_connection_params()['port'],"
        " c.make_default_connection_params()['user'])", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["10", "10", "alice", "2222", "None"]
    assert proc.stderr == ""


def test_user_file_cannot_exit_the_importer(tmp_path):
    write_conf(tmp_path, "import sys\nsys.exit(3)\n")
    proc = run_python("import execo.config; print('alive')", tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.strip() == "alive"
    assert "line 2: SystemExit: 3" in proc.stderr


def test_checktty_on_pipes_and_ptys():
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd) as reader, os.fdopen(write_fd, "w") as writer:
        assert checktty(writer) is False
        assert checktty(reader) is False
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            assert checktty(tty) is True
    finally:
        os.close(master)
        os.close(slave)
    closed = open(os.devnull, "w")
    closed.close()
    assert checktty(closed) is False
    assert checktty(None) is False
    assert checktty(object()) is False


def test_module_dicts_are_the_exported_ones():
    import execo
    assert execo.configuration is configuration
    assert execo.default_connection_params is default_connection_params
    assert config.configuration["kill_childs_at_end"] is True
