"""APIConnection against the real HTTP stand-in: statuses, retries, timeouts, HTML, credentials."""

import logging
import socket
import time

import pytest

from execo_g5k.api_connection import APIConnection, APIException, redact_uri
from execo_g5k.config import g5k_configuration


@pytest.fixture
def conn(g5k_api):
    c = APIConnection()
    yield c
    c.close()


def test_get_json_root_sends_accept_and_additional_args(g5k_api):
    with APIConnection(additional_args={"branch": "testing"}) as c:
        root = c.get_json("")
    assert root["version"] == g5k_api.state.version
    assert root["uid"] == "grid5000"
    req = g5k_api.state.requests[-1]
    assert req["accept"] == "application/json"
    assert req["query"] == {"branch": "testing"}
    assert g5k_configuration["api_additional_args"] == {}


def test_configured_additional_args_go_with_every_request(g5k_api):
    g5k_configuration["api_additional_args"] = {"branch": "master"}
    with APIConnection() as c:
        c.get_json("sites", params={"deep": "false"})
    assert g5k_api.state.requests[-1]["query"] == {"branch": "master", "deep": "false"}


def test_404_names_method_uri_and_server_message_without_retry(conn, g5k_api):
    with pytest.raises(APIException) as info:
        conn.get_json("sites/nowhere")
    e = info.value
    assert e.status_code == 404 and e.method == "GET"
    assert e.uri == g5k_api.base_uri + "sites/nowhere"
    assert "GET %ssites/nowhere failed: HTTP 404" % g5k_api.base_uri in str(e)
    assert "Cannot find resource /sites/nowhere" in str(e)
    assert not e.is_unreachable
    assert g5k_api.state.request_paths().count("/3.0/sites/nowhere") == 1


def test_500_is_retried_then_reported(conn, g5k_api):
    g5k_api.state.add_fault(r"^/3.0/sites$", "status", times=None, status=500, body="boom")
    with pytest.raises(APIException) as info:
        conn.get_json("sites")
    assert info.value.status_code == 500 and "boom" in str(info.value)
    assert info.value.is_unreachable
    assert g5k_api.state.request_paths().count("/3.0/sites") == 1 + conn.retries == 3


def test_transient_502_then_success(conn, g5k_api):
    g5k_api.state.add_fault(r"^/3.0/sites/rennes$", "status", times=1, status=502, body="Bad Gateway")
    assert conn.get_json("sites/rennes")["uid"] == "rennes"
    assert g5k_api.state.request_paths().count("/3.0/sites/rennes") == 2


def test_429_honours_retry_after(conn, g5k_api):
    g5k_api.state.add_fault(r"^/3.0/sites/lyon$", "status", times=2, status=429, body="slow down",
                            headers={"Retry-After": "0.2"})
    start = time.monotonic()
    assert conn.get_json("sites/lyon")["uid"] == "lyon"
    assert time.monotonic() - start >= 0.4
    assert g5k_api.state.request_paths().count("/3.0/sites/lyon") == 3


def test_dropped_connection_is_retried(conn, g5k_api):
    g5k_api.state.add_fault(r"^/3.0/sites/nancy$", "reset", times=1)
    assert conn.get_json("sites/nancy")["uid"] == "nancy"
    assert g5k_api.state.request_paths().count("/3.0/sites/nancy") == 2


def test_read_timeout_is_reported_quickly_and_not_retried(g5k_api):
    g5k_api.state.add_fault(r"^/3.0/sites/lille$", "timeout", times=None, delay=5)
    start = time.monotonic()
    with APIConnection(timeout=0.3) as c, pytest.raises(APIException) as info:
        c.get_json("sites/lille")
    assert time.monotonic() - start < 2
    assert "ReadTimeout" in str(info.value) and "sites/lille" in str(info.value)
    assert info.value.status_code is None and info.value.is_unreachable
    assert g5k_api.state.request_paths().count("/3.0/sites/lille") == 1


def test_html_instead_of_json(conn, g5k_api):
    g5k_api.state.add_fault(r"^/3.0/sites/sophia$", "html", times=1)
    with pytest.raises(APIException) as info:
        conn.get_json("sites/sophia")
    text = str(info.value)
    assert "expected JSON" in text and "text/html" in text and "sites/sophia" in text
    assert info.value.status_code == 200 and info.value.is_unreachable


def test_connection_refused_is_retried_then_reported(g5k_api):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    start = time.monotonic()
    with APIConnection(base_uri="http://127.0.0.1:%d/3.0/" % port) as c, pytest.raises(APIException) as info:
        c.get("sites")
    assert "ConnectionError" in str(info.value) and ":%d/3.0/sites" % port in str(info.value)
    assert info.value.is_unreachable
    assert time.monotonic() - start < 2


def test_post_is_not_retried_on_500(conn, g5k_api):
    g5k_api.state.add_fault(r"^/3.0/sites/rennes/vlans/4$", "status", times=None, status=500, method="POST")
    with pytest.raises(APIException) as info:
        conn.post("sites/rennes/vlans/4", {"nodes": ["paravance-1-eth1.rennes.grid5000.fr"]})
    assert info.value.method == "POST" and info.value.status_code == 500
    assert g5k_api.state.request_paths("POST") == ["/3.0/sites/rennes/vlans/4"]


def test_basic_credentials_from_configuration_never_logged(g5k_api, caplog):
    caplog.set_level(1, logger="execo")
    g5k_api.state.users = {"alice": "s3cret-pw"}
    g5k_configuration.update({"api_username": "alice", "api_password": "s3cret-pw"})
    g5k_api.state.add_fault(r"^/3.0/sites$", "status", times=1, status=503)
    with APIConnection() as c:
        assert len(c.get_json("sites")["items"]) == 8
        assert "s3cret" not in repr(c)
    assert g5k_api.state.requests[-1]["user"] == "alice"
    assert "s3cret" not in caplog.text
    assert "retry 1/2" in caplog.text


def test_wrong_password_gives_401_without_the_password(g5k_api):
    g5k_api.state.users = {"alice": "right"}
    with APIConnection(username="alice", password="wrong-pw") as c, pytest.raises(APIException) as info:
        c.get_json("sites")
    assert info.value.status_code == 401
    assert "wrong-pw" not in str(info.value) and "alice" in str(info.value)


def test_netrc_entry_gives_login_and_password(g5k_api, tmp_path, monkeypatch):
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine 127.0.0.1 login bob password n3trc-pw\n")
    netrc_file.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc_file))
    g5k_api.state.users = {"bob": "n3trc-pw"}
    g5k_api.state.require_auth = True
    with APIConnection() as c:
        c.get_json("")
        assert c.username == "bob"
    with APIConnection(username=False) as c, pytest.raises(APIException) as info:
        c.get_json("")
    assert info.value.status_code == 401
    assert [r["user"] for r in g5k_api.state.requests] == ["bob", None]


def test_username_without_password_and_no_tty_goes_without_credentials(g5k_api, caplog, monkeypatch):
    monkeypatch.setenv("NETRC", "/nonexistent")
    caplog.set_level(logging.WARNING, logger="execo")
    with APIConnection(username="carol") as c:
        assert c.auth is None
        c.get_json("")
    assert "no password found for Grid'5000 API user carol" in caplog.text


def test_redact_uri():
    assert redact_uri("https://u:pw@api.grid5000.fr/3.0/sites") == "https://api.grid5000.fr/3.0/sites"
    assert redact_uri("http://127.0.0.1:8/3.0/") == "http://127.0.0.1:8/3.0/"
    e = APIException("https://u:pw@h/x", "GET", message="m")
    assert "pw" not in str(e) and e.uri == "https://h/x"
