"""Priority queues (x-max-priority) and consumer priorities (basic.consume x-priority) as clients
see them.

Every expectation was checked against RabbitMQ 3.10 (AMQP_EXTERNAL_PORT=5673): delivery order by
priority (FIFO within one, none counting as 0, above the maximum counting as the maximum), where
requeued messages go, what drop-head drops, when expired messages go, the refusals of bad
arguments and their texts, which consumers receive, and how list_consumers shows x-priority.
"""

import signal
import time

import kombu
import pika
import pika.exceptions as pex
import pytest

from admin_helpers import Ctl
from durability_helpers import restartable_broker  # noqa: F401  (a fixture)


from pika_helpers import params  # noqa: E402


@pytest.fixture
def ch(conn):
    """A channel in confirm mode: each publish returns once its queues have it (RabbitMQ's queues
    are processes of their own; without it a basic.get may overtake a publish)."""
    c = conn.channel()
    c.confirm_delivery()
    return c


@pytest.fixture
def cleanup(broker):
    """Queues to delete after the test, on a connection of its own."""
    names = []
    yield names
    c = pika.BlockingConnection(params(broker))
    for name in names:
        c.channel().queue_delete(name)
    c.close()


def publish(ch, queue, items, persistent=False):
    for body, priority in items:
        ch.basic_publish("", queue, body.encode(), pika.BasicProperties(
            priority=priority, delivery_mode=2 if persistent else None))


def drain(ch, queue):
    out = []
    while True:
        method, _props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            return out
        out.append(body.decode())


def wait_count(ch, queue, count, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        n = ch.queue_declare(queue, passive=True).method.message_count
        if n == count or time.monotonic() > deadline:
            return n
        time.sleep(0.02)


def declare(ch, cleanup, name, **arguments):
    cleanup.append(name)
    return ch.queue_declare(name, arguments=arguments)


# ---------------------------------------------------------------------------
# Priority queues


def test_higher_priorities_first_fifo_within_one(ch, uid, cleanup):
    q = f"{uid}-q"
    declare(ch, cleanup, q, **{"x-max-priority": 5})
    publish(ch, q, [("m0", None), ("m1", 1), ("m2", 5), ("m3", 9), ("m4", 0), ("m5", 1), ("m6", 5), ("m7", 3)])
    assert ch.queue_declare(q, passive=True).method.message_count == 8
    # 9 is above the maximum and counts as 5; no priority counts as 0.
    assert drain(ch, q) == ["m2", "m3", "m6", "m7", "m1", "m5", "m0", "m4"]


def test_queue_without_max_priority_keeps_publish_order(ch, uid, cleanup):
    q = f"{uid}-q"
    declare(ch, cleanup, q)
    publish(ch, q, [("a", 1), ("b", 9), ("c", None)])
    assert drain(ch, q) == ["a", "b", "c"]


def test_consumer_receives_the_backlog_by_priority(conn, ch, uid, cleanup):
    q = f"{uid}-q"
    declare(ch, cleanup, q, **{"x-max-priority": 10})
    publish(ch, q, [("low", 1), ("high", 8), ("mid", 4), ("none", None)])
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append((b.decode(), p.priority)), auto_ack=True)
    deadline = time.monotonic() + 5
    while len(got) < 4 and time.monotonic() < deadline:
        conn.process_data_events(0.1)
    assert got == [("high", 8), ("mid", 4), ("low", 1), ("none", None)]


def test_requeued_messages_go_back_to_their_place_in_their_priority(ch, uid, cleanup):
    q = f"{uid}-q"
    declare(ch, cleanup, q, **{"x-max-priority": 5})
    publish(ch, q, [("r0", 1), ("r1", 5), ("r2", 1), ("r3", 5), ("r4", 0)])
    gets = [ch.basic_get(q) for _ in range(3)]
    assert [g[2].decode() for g in gets] == ["r1", "r3", "r0"]
    publish(ch, q, [("new5", 5), ("new1", 1)])
    for i in (1, 2, 0):
        ch.basic_nack(gets[i][0].delivery_tag, requeue=True)
    out = []
    while True:
        method, _p, body = ch.basic_get(q, auto_ack=True)
        if method is None:
            break
        out.append((body.decode(), method.redelivered))
    assert out == [("r1", True), ("r3", True), ("new5", False), ("r0", True), ("r2", False), ("new1", False),
                   ("r4", False)]


def test_unacked_messages_of_a_closed_channel_return_by_priority(broker, ch, uid, cleanup):
    q = f"{uid}-q"
    declare(ch, cleanup, q, **{"x-max-priority": 3})
    other = pika.BlockingConnection(params(broker))
    och = other.channel()
    publish(ch, q, [("a", 0), ("b", 3), ("c", 2)])
    taken = [och.basic_get(q)[2].decode() for _ in range(3)]
    assert taken == ["b", "c", "a"]
    publish(ch, q, [("d", 3)])
    other.close()
    assert drain(ch, q) == ["b", "d", "c", "a"]


def test_drop_head_drops_the_highest_priority(ch, uid, cleanup):
    # The head of a priority queue is its next message to deliver: the highest priority.
    q = f"{uid}-q"
    declare(ch, cleanup, q, **{"x-max-priority": 5, "x-max-length": 3})
    publish(ch, q, [("m0", 1), ("m1", 5), ("m2", 0), ("m3", 3), ("m4", 2)])
    assert drain(ch, q) == ["m4", "m0", "m2"]


def test_reject_publish_refuses_whatever_the_priority(ch, uid, cleanup):
    q = f"{uid}-q"
    declare(ch, cleanup, q, **{"x-max-priority": 5, "x-max-length": 2, "x-overflow": "reject-publish"})
    publish(ch, q, [("m0", 1), ("m1", 5)])
    with pytest.raises(pex.NackError):
        publish(ch, q, [("m2", 5)])
    assert drain(ch, q) == ["m1", "m0"]


def test_expired_message_goes_when_it_reaches_the_head(ch, uid, cleanup):
    q = f"{uid}-q"
    declare(ch, cleanup, q, **{"x-max-priority": 5})
    ch.basic_publish("", q, b"old", pika.BasicProperties(priority=1, expiration="100"))
    publish(ch, q, [("b", 5), ("c", 1)])
    time.sleep(0.4)
    # Behind a higher priority it is not at the head yet: still counted.
    assert ch.queue_declare(q, passive=True).method.message_count == 3
    assert drain(ch, q) == ["b", "c"]


def test_dead_letters_are_ordered_by_priority_in_a_priority_target(ch, uid, cleanup):
    dead = f"{uid}-dead"
    q = f"{uid}-q"
    declare(ch, cleanup, dead, **{"x-max-priority": 9})
    declare(ch, cleanup, q, **{"x-max-priority": 9, "x-max-length": 1, "x-dead-letter-exchange": "",
                                "x-dead-letter-routing-key": dead})
    publish(ch, q, [("p3", 3), ("p1", 1), ("p7", 7)])
    assert wait_count(ch, dead, 2) == 2  # dead-lettering is asynchronous in RabbitMQ
    assert drain(ch, dead) == ["p7", "p3"]
    assert drain(ch, q) == ["p1"]


@pytest.mark.parametrize("value,text", [
    (256, "{max_value_exceeded,256}"),
    (-1, "{value_negative,-1}"),
    ("abc", '"expected integer, got longstr"'),
    (True, '"expected integer, got bool"'),
])
def test_bad_max_priority_is_refused(broker, uid, value, text):
    c = pika.BlockingConnection(params(broker))
    ch = c.channel()
    q = f"{uid}-q"
    with pytest.raises(pex.ChannelClosedByBroker) as e:
        ch.queue_declare(q, arguments={"x-max-priority": value})
    assert e.value.reply_code == 406
    assert e.value.reply_text == (
        f"PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '{q}' in vhost '/': {text}")
    c.channel().queue_declare(q, passive=False, arguments={"x-max-priority": 0})
    c.channel().queue_delete(q)
    c.close()


def test_kombu_priority_queue(broker, uid, cleanup):
    name = f"{uid}-kq"
    cleanup.append(name)
    with kombu.Connection(f"amqp://guest:guest@{broker.host}:{broker.port}//") as conn:
        queue = kombu.Queue(name, exchange=kombu.Exchange(""), routing_key=name, max_priority=10)
        producer = conn.Producer()
        queue(conn.default_channel).declare()
        for body, priority in [("a", 1), ("b", 10), ("c", 5), ("d", 10)]:
            producer.publish(body, routing_key=name, priority=priority, serializer="raw")
        got = []
        bound = queue(conn.default_channel)
        while (m := bound.get(no_ack=True)) is not None:
            got.append((m.body.decode() if isinstance(m.body, bytes) else m.body, m.properties["priority"]))
        assert got == [("b", 10), ("d", 10), ("c", 5), ("a", 1)]


def test_durable_priority_queue_recovers_in_priority_order(restartable_broker, uid):  # noqa: F811
    q = f"{uid}-q"
    c = pika.BlockingConnection(pika.ConnectionParameters(host=restartable_broker.host, port=restartable_broker.port))
    ch = c.channel()
    ch.confirm_delivery()
    ch.queue_declare(q, durable=True, arguments={"x-max-priority": 5})
    publish(ch, q, [("a", 1), ("b", 5), ("c", None), ("d", 9), ("e", 1), ("f", 3)], persistent=True)
    c.close()
    restartable_broker.restart(signal.SIGKILL)
    c = pika.BlockingConnection(pika.ConnectionParameters(host=restartable_broker.host, port=restartable_broker.port))
    ch = c.channel()
    assert drain(ch, q) == ["b", "d", "f", "a", "e", "c"]
    c.close()


# ---------------------------------------------------------------------------
# Consumer priorities


def test_highest_consumer_priorities_first_then_lower_when_blocked(conn, ch, uid, cleanup):
    q = f"{uid}-q"
    declare(ch, cleanup, q)
    ch.basic_qos(prefetch_count=2)
    got = {}

    def consumer(tag, priority):
        arguments = {} if priority is None else {"x-priority": priority}
        ch.basic_consume(q, lambda c, m, p, b: got.setdefault(tag, []).append(b.decode()), consumer_tag=tag,
                         arguments=arguments)

    consumer("low", 1)
    consumer("hiA", 10)
    consumer("hiB", 10)
    consumer("none", None)
    publish(ch, q, [(f"m{i}", None) for i in range(9)])
    deadline = time.monotonic() + 5
    while sum(map(len, got.values())) < 8 and time.monotonic() < deadline:
        conn.process_data_events(0.1)
    conn.process_data_events(0.3)
    # Round-robin between the two highest, two each (prefetch 2); then the next priority.
    assert sorted(got["hiA"] + got["hiB"]) == ["m0", "m1", "m2", "m3"]
    assert len(got["hiA"]) == len(got["hiB"]) == 2
    assert got["low"] == ["m4", "m5"]
    assert got["none"] == ["m6", "m7"]
    assert ch.queue_declare(q, passive=True).method.message_count == 1


def test_negative_priority_consumer_gets_messages_only_when_the_default_one_is_full(conn, ch, uid, cleanup):
    q = f"{uid}-q"
    declare(ch, cleanup, q)
    ch.basic_qos(prefetch_count=1)
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(("neg", b.decode(), m.delivery_tag)), consumer_tag="neg",
                     arguments={"x-priority": -3})
    ch.basic_consume(q, lambda c, m, p, b: got.append(("default", b.decode(), m.delivery_tag)),
                     consumer_tag="default")
    publish(ch, q, [("a", None), ("b", None), ("c", None)])
    deadline = time.monotonic() + 5
    while len(got) < 2 and time.monotonic() < deadline:
        conn.process_data_events(0.1)
    assert [g[:2] for g in got] == [("default", "a"), ("neg", "b")]
    ch.basic_ack(got[0][2])  # the default consumer's: it takes the next
    deadline = time.monotonic() + 5
    while len(got) < 3 and time.monotonic() < deadline:
        conn.process_data_events(0.1)
    assert got[2][:2] == ("default", "c")


@pytest.mark.parametrize("value,type_name", [("abc", "longstr"), (True, "bool")])
def test_non_integer_consumer_priority_is_refused(broker, uid, cleanup, value, type_name):
    c = pika.BlockingConnection(params(broker))
    ch = c.channel()
    q = f"{uid}-q"
    declare(ch, cleanup, q)
    with pytest.raises(pex.ChannelClosedByBroker) as e:
        ch.basic_consume(q, lambda *a: None, arguments={"x-priority": value})
    assert e.value.reply_code == 406
    assert e.value.reply_text == (
        f"PRECONDITION_FAILED - invalid arg 'x-priority' for queue '{q}' in vhost '/': "
        f'"expected integer, got {type_name}"')
    c.close()


def test_list_consumers_shows_the_consume_arguments(broker, ch, uid, cleanup):
    q = f"{uid}-q"
    declare(ch, cleanup, q)
    ch.basic_consume(q, lambda *a: None, consumer_tag="p7", arguments={"x-priority": 7})
    ch.basic_consume(q, lambda *a: None, consumer_tag="plain")
    rows = [r for r in Ctl(broker).table("list_consumers", "queue_name", "consumer_tag", "active",
                                         "activity_status", "arguments") if r["queue_name"] == q]
    assert sorted(rows, key=lambda r: r["consumer_tag"]) == [
        {"queue_name": q, "consumer_tag": "p7", "active": True, "activity_status": "up",
         "arguments": [["x-priority", "signedint", 7]]},
        {"queue_name": q, "consumer_tag": "plain", "active": True, "activity_status": "up", "arguments": []},
    ]
