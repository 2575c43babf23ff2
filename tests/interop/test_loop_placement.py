"""Where connections live: a connection starts on the default vhost's event loop, one to a vhost
on another loop moves there once it has opened, and a connection that publishes heavily while
its loop is busy moves to an idle loop. The client sees none of it: its socket stays open and
every message keeps its order.

Warren only: these are statements about Warren's threads, read from its log."""

import threading
import time

import pika
import pytest

from admin_helpers import Ctl
from conftest import start_warren, stop_warren
from pika_helpers import params
from test_warrenperf import run_json, warrenperf  # noqa: F401 (fixture)


@pytest.fixture
def two_loop_broker():
    b = start_warren(["--event-loops", "2", "--log-level", "debug"])
    yield b
    stop_warren(b)


def moves(broker, kind):
    return [line for line in broker.log().splitlines() if kind in line]


def publish_and_consume_in_order(broker, vhost, count=3000):
    connection = pika.BlockingConnection(params(broker, vhost=vhost))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("ordered")
        received = []

        def on_message(ch, method, properties, body):
            received.append(int(body))

        channel.basic_consume("ordered", on_message, auto_ack=True)
        for i in range(count):
            channel.basic_publish("", "ordered", str(i).encode())
        deadline = time.monotonic() + 20
        while len(received) < count and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.1)
        return received
    finally:
        connection.close()


@pytest.mark.warren_only
def test_connections_to_a_vhost_on_the_other_loop_move_there_and_keep_working(two_loop_broker):
    ctl = Ctl(two_loop_broker)
    # Vhosts take the loops in turn: of two made one after the other, one is not on the default
    # vhost's loop.
    for vhost in ("placement-a", "placement-b"):
        ctl.ok("add_vhost", vhost)
        ctl.ok("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    for vhost in ("placement-a", "placement-b"):
        assert publish_and_consume_in_order(two_loop_broker, vhost) == list(range(3000))
    assert moves(two_loop_broker, "moving the connection to its vhost's event loop"), two_loop_broker.log()
    assert moves(two_loop_broker, "the connection moved to another event loop")
    # The moved connection is listed once, as open, like any other, and an administrator can
    # close it (the broker knows its new channel).
    connections = {v: pika.BlockingConnection(params(two_loop_broker, vhost=v)) for v in ("placement-a", "placement-b")}
    try:
        time.sleep(0.3)
        rows = ctl.rows("list_connections", "vhost", "state", "pid")
        assert sorted(r[0] for r in rows) == ["placement-a", "placement-b"], rows
        assert all(r[1] == "running" for r in rows), rows
        for vhost, _, pid in rows:
            ctl.ok("close_connection", pid, "placement test")
            with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
                connections[vhost].process_data_events(time_limit=5)
                connections[vhost].sleep(5)
            assert closed.value.reply_code == 320, vhost
    finally:
        for c in connections.values():
            if c.is_open:
                c.close()


@pytest.mark.warren_only
def test_a_busy_publisher_moves_off_its_busy_loop_and_loses_nothing(warrenperf, two_loop_broker):  # noqa: F811
    # A Python consumer on another queue keeps working on the default vhost's loop meanwhile.
    stop = threading.Event()
    seen = []

    def rpc_like():
        connection = pika.BlockingConnection(params(two_loop_broker))
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("side", auto_delete=True)
        n = 0
        while not stop.is_set():
            channel.basic_publish("", "side", str(n).encode())
            method, _, body = channel.basic_get("side", auto_ack=True)
            seen.append(int(body) if method else None)
            n += 1
        connection.close()

    side = threading.Thread(target=rpc_like)
    side.start()
    try:
        summary, _ = run_json(
            warrenperf, two_loop_broker, "throughput", "--duration", "4", "--confirm", "2000", timeout=60
        )
    finally:
        stop.set()
        side.join(timeout=30)
    moved = moves(two_loop_broker, "moving the connection to another event loop: it carries")
    assert moved, two_loop_broker.log()[-3000:]
    assert moves(two_loop_broker, "the connection moved to another event loop")
    # Nothing lost in the move: every publish but the last window's was confirmed, and the
    # consumer received what was confirmed (less what was in flight when the run stopped).
    assert summary["nacked"] == 0
    assert summary["confirmed"] >= summary["published"] - 2000, summary
    assert summary["consumed"] >= summary["confirmed"] - 4000, summary
    # The publisher kept going after the move (it happens in the first second).
    assert all(s["published"] > 0 for s in summary["per_second"]), summary
    assert seen and None not in seen and seen == list(range(len(seen)))
