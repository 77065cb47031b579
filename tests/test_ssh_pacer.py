"""The worker's bound on handshakes in flight (actors/ssh_pacer.py): one budget for the loop's handshakes
(callbacks) and the blocking ones (threads waiting in slot())."""

import threading
import time

from execo_actors.ssh_pacer import Pacer


def spec(address, gateway=None):
    s = {"address": address, "port": 22, "user": "u", "keys": [], "proxy_jump": None}
    if gateway:
        s["proxy_jump"] = {"address": gateway, "port": 22, "user": "u", "keys": [], "proxy_jump": None}
    return s


def test_the_total_bound_holds_and_waiters_start_in_order_as_slots_free():
    pacer = Pacer(total=3, per_gateway=8, per_target=4)
    started = []
    for i in range(5):
        pacer.queue(spec("10.0.0.%d" % i), lambda i=i: started.append(i))
    assert started == [0, 1, 2]
    pacer.release(spec("10.0.0.1"))
    assert started == [0, 1, 2, 3]
    pacer.release(spec("10.0.0.0"))
    pacer.release(spec("10.0.0.2"))
    assert started == [0, 1, 2, 3, 4]


def test_a_busy_target_or_gateway_does_not_hold_up_the_others():
    pacer = Pacer(total=10, per_gateway=2, per_target=1)
    started = []
    pacer.queue(spec("a"), lambda: started.append("a1"))
    pacer.queue(spec("a"), lambda: started.append("a2"))  # a already has its one handshake
    pacer.queue(spec("b", gateway="gw"), lambda: started.append("b"))
    pacer.queue(spec("c", gateway="gw"), lambda: started.append("c"))
    pacer.queue(spec("d", gateway="gw"), lambda: started.append("d"))  # the gateway already has two
    pacer.queue(spec("e"), lambda: started.append("e"))
    assert started == ["a1", "b", "c", "e"]
    pacer.release(spec("c", gateway="gw"))
    assert started[-1] == "d"
    pacer.release(spec("a"))
    assert started[-1] == "a2"


def test_blocking_slots_and_queued_handshakes_share_one_budget():
    pacer = Pacer(total=2, per_gateway=8, per_target=4)
    queued = []
    entered = threading.Event()
    leave = threading.Event()

    def blocking():
        with pacer.slot(spec("t1")):
            entered.set()
            leave.wait(10)

    thread = threading.Thread(target=blocking)
    thread.start()
    assert entered.wait(10)
    pacer.queue(spec("l1"), lambda: queued.append("l1"))
    pacer.queue(spec("l2"), lambda: queued.append("l2"))
    assert queued == ["l1"]  # the thread holds the other slot
    waiting = threading.Thread(target=lambda: pacer.slot(spec("t2")).__enter__())
    waiting.start()
    time.sleep(0.2)
    assert waiting.is_alive()  # no slot for it either
    leave.set()  # the first thread's slot goes to the oldest waiter: l2, queued before t2
    thread.join(10)
    assert queued == ["l1", "l2"] and waiting.is_alive()
    pacer.release(spec("l1"))
    waiting.join(10)
    assert not waiting.is_alive()
