"""The disk alarm: below the free-disk limit, connections that publish are blocked
(connection.blocked to clients that announce the capability, their socket no longer read),
while consumers carry on."""

import time

import pika
import pytest

from amqp_raw import RawConnection
from conftest import start_warren, stop_warren

pytestmark = pytest.mark.warren_only

# More free space than any disk has: the alarm is raised as soon as the broker starts.
HUGE_LIMIT = str(10**18)


@pytest.fixture
def alarmed_broker():
    b = start_warren(["--disk-free-limit", HUGE_LIMIT])
    yield b
    stop_warren(b)


def test_alarm_is_logged_at_startup(alarmed_broker):
    deadline = time.time() + 5
    while "disk alarm" not in alarmed_broker.log() and time.time() < deadline:
        time.sleep(0.1)
    assert "disk alarm" in alarmed_broker.log()


def test_publisher_gets_connection_blocked_and_its_messages_stop(alarmed_broker, uid):
    consumer = pika.BlockingConnection(pika.URLParameters(alarmed_broker.url()))
    cch = consumer.channel()
    q = cch.queue_declare(uid, auto_delete=False).method.queue

    blocked = []
    publisher = pika.BlockingConnection(pika.URLParameters(alarmed_broker.url()))
    publisher.add_on_connection_blocked_callback(lambda conn, frame: blocked.append(frame.method.reason))
    pch = publisher.channel()
    pch.basic_publish("", q, b"first")
    deadline = time.time() + 5
    while not blocked and time.time() < deadline:
        publisher.process_data_events(time_limit=0.1)
    assert blocked == ["low on disk"]

    # The blocked connection is no longer read: what it publishes now never arrives.
    for i in range(20):
        pch.basic_publish("", q, f"later-{i}".encode())
    publisher.process_data_events(time_limit=0.5)
    bodies = []
    while True:
        method, _, body = cch.basic_get(q, auto_ack=True)
        if method is None:
            break
        bodies.append(body)
    assert all(not b.startswith(b"later-") for b in bodies)

    # A connection that only consumes is not blocked.
    assert cch.queue_declare(q, passive=True).method.queue == q
    cch.queue_delete(q)
    consumer.close()


def test_raw_publisher_without_capability_is_paused_without_notification(alarmed_broker, uid):
    c = RawConnection("127.0.0.1", alarmed_broker.port).handshake(capabilities={})
    c.open_channel(1)
    c.publish(1, "", uid, b"x")
    # No connection.blocked for a client that did not ask for it.
    f = c.read_frame(1.0)
    assert f is None or not f.is_method("connection.blocked")
    # The socket is no longer read: a synchronous request gets no answer.
    c.send_method(1, "queue.declare", queue="", exclusive=True)
    assert c.read_frame(1.0) is None
