"""execo.utils: string helpers, interruptible waits, memoize, do_once, get_port."""

import os
import pathlib
import shlex
import socket
import threading
import time

import pytest

from execo.config import configuration
from execo.utils import (MAXFD, checked_min, comma_join, compact_output, do_once,
                         get_port, intr_event_wait, is_string, memoize, name_from_cmdline,
                         non_retrying_intr_cond_wait, singleton_to_collection, str_from_cmdline)


def test_comma_join():
    assert comma_join("a", "", "b", "") == "a, b"
    assert comma_join() == ""


def test_compact_output(monkeypatch):
    monkeypatch.setitem(configuration, "compact_output_threshold", 10)
    assert compact_output("0123456789") == "0123456789"
    assert compact_output("0123456789abcdef") == "01234\n[...]\nbcdef"
    assert compact_output(b"0123456789abcdef") == b"01234\n[...]\nbcdef"
    monkeypatch.setitem(configuration, "compact_output_threshold", 5)
    assert compact_output("0123456789") == "01\n[...]\n789"   # odd: the end gets the extra char
    monkeypatch.setitem(configuration, "compact_output_threshold", 0)
    assert compact_output("x" * 100000) == "x" * 100000


def test_str_from_cmdline_quotes_arguments():
    args = ["echo", "a b", "it's", "$HOME", pathlib.Path("/tmp/x y")]
    line = str_from_cmdline(args)
    assert shlex.split(line) == ["echo", "a b", "it's", "$HOME", "/tmp/x y"]
    assert str_from_cmdline("echo $HOME | wc") == "echo $HOME | wc"


def test_name_from_cmdline():
    assert name_from_cmdline("  echo   a\n\tb  ") == "echo a b"
    assert name_from_cmdline(["ls", "-l"]) == "ls -l"
    exact = "x" * 39
    assert name_from_cmdline(exact) == exact
    long_cmd = "y" * 37 + " " + "z" * 10
    assert name_from_cmdline(long_cmd) == "y" * 36 + "..."
    assert len(name_from_cmdline(long_cmd)) == 39


def test_checked_min():
    assert checked_min(None, 3) == 3
    assert checked_min(2, None) == 2
    assert checked_min(None, None) is None
    assert checked_min(0, 5) == 0


def test_intr_event_wait_wakes_on_set(monkeypatch):
    monkeypatch.setitem(configuration, "intr_period", 0.05)
    event = threading.Event()
    setter = threading.Timer(0.2, event.set)
    setter.start()
    start = time.monotonic()
    try:
        assert intr_event_wait(event) is True
    finally:
        setter.cancel()
        setter.join()
    assert 0.15 < time.monotonic() - start < 1.0


def test_intr_event_wait_timeout(monkeypatch):
    monkeypatch.setitem(configuration, "intr_period", 0.05)
    event = threading.Event()
    start = time.monotonic()
    assert intr_event_wait(event, 0.3) is False
    assert 0.3 <= time.monotonic() - start < 1.0
    start = time.monotonic()
    assert intr_event_wait(event, 0) is False
    assert time.monotonic() - start < 0.05
    event.set()
    assert intr_event_wait(event, 0) is True


def test_non_retrying_intr_cond_wait_bounds(monkeypatch):
    monkeypatch.setitem(configuration, "intr_period", 0.2)
    cond = threading.Condition()
    with cond:
        start = time.monotonic()
        assert non_retrying_intr_cond_wait(cond) is False    # one intr_period slice
        assert 0.15 < time.monotonic() - start < 1.0
        start = time.monotonic()
        assert non_retrying_intr_cond_wait(cond, 0) is False  # 2.8 waited forever here
        assert time.monotonic() - start < 0.1
        start = time.monotonic()
        assert non_retrying_intr_cond_wait(cond, 0.05) is False
        assert time.monotonic() - start < 0.15


def test_non_retrying_intr_cond_wait_notified(monkeypatch):
    monkeypatch.setitem(configuration, "intr_period", 5)
    cond = threading.Condition()

    def notify():
        with cond:
            cond.notify_all()

    with cond:
        notifier = threading.Timer(0.1, notify)
        notifier.start()
        start = time.monotonic()
        assert non_retrying_intr_cond_wait(cond) is True
        assert time.monotonic() - start < 2
    notifier.join()


def test_memoize_caches_by_arguments():
    calls = []

    @memoize
    def square(x, scale=1):
        calls.append((x, scale))
        return x * x * scale

    assert square(3) == 9 and square(3) == 9
    assert square(3, scale=2) == 18
    assert calls == [(3, 1), (3, 2)]
    assert square.cache == {"(3,){}": 9, "(3,){'scale': 2}": 18}
    assert square.__name__ == "square"


def test_memoize_recursion_and_classes():
    @memoize
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    assert fib(80) == 23416728348467685

    @memoize
    class Thing:
        def __init__(self, name):
            self.name = name

    assert Thing("a") is Thing("a")
    assert Thing("a") is not Thing("b")


def test_memoize_does_not_cache_exceptions():
    attempts = []

    @memoize
    def flaky(x):
        attempts.append(x)
        if len(attempts) == 1:
            raise RuntimeError("first call fails")
        return x

    with pytest.raises(RuntimeError):
        flaky(1)
    assert flaky(1) == 1
    assert attempts == [1, 1]


def test_memoize_is_thread_safe():
    calls = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    @memoize
    def slow(x):
        with lock:
            calls.append(x)
        time.sleep(0.2)
        return object()

    results = []

    def worker():
        barrier.wait()
        results.append(slow("k"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["k"]
    assert len(results) == 8 and all(r is results[0] for r in results)


def test_do_once():
    seen = []

    def record(value):
        seen.append(value)
        return len(seen)

    key = object()
    assert do_once(key, record, "a") == 1
    assert do_once(key, record, "b") == 1   # same (func, key): not called, first result
    assert do_once(object(), record, "c") == 2
    assert seen == ["a", "c"]


def test_do_once_threads():
    seen = []
    barrier = threading.Barrier(6)
    key = object()

    def record():
        seen.append(1)
        time.sleep(0.1)

    def worker():
        barrier.wait()
        do_once(key, record)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [1]


def _listening_socket(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", port))
    sock.listen(1)
    return sock


def test_get_port_round_robin_in_range(monkeypatch):
    monkeypatch.setitem(configuration, "port_range", (26000, 26010))
    ports = [get_port() for _ in range(25)]
    assert all(26000 <= p < 26010 for p in ports)
    for previous, current in zip(ports, ports[1:]):
        assert current == (previous + 1 if previous + 1 < 26010 else 26000)


def test_get_port_skips_ports_in_use(monkeypatch):
    monkeypatch.setitem(configuration, "port_range", (26100, 26104))
    first = get_port()
    busy = 26100 + (first - 26100 + 1) % 4
    expected = 26100 + (first - 26100 + 2) % 4
    with _listening_socket(busy):
        assert get_port() == expected


def test_get_port_all_busy(monkeypatch):
    monkeypatch.setitem(configuration, "port_range", (26200, 26202))
    with _listening_socket(26200), _listening_socket(26201):
        with pytest.raises(RuntimeError) as info:
            get_port()
    assert "(26200, 26202)" in str(info.value)


def test_get_port_threads_get_distinct_ports(monkeypatch):
    monkeypatch.setitem(configuration, "port_range", (25500, 26700))
    got = []
    lock = threading.Lock()

    def worker():
        mine = [get_port() for _ in range(20)]
        with lock:
            got.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 200 and len(set(got)) == 200


def test_singleton_to_collection():
    assert singleton_to_collection(None) == []
    assert singleton_to_collection("ab") == ["ab"]
    assert singleton_to_collection(5) == [5]
    items = [1, 2]
    assert singleton_to_collection(items) is items
    pair = (1, 2)
    assert singleton_to_collection(pair) is pair


def test_is_string_and_maxfd():
    assert is_string("x") and not is_string(b"x") and not is_string(3)
    assert MAXFD == os.sysconf("SC_OPEN_MAX")
