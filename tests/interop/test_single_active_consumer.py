"""Single active consumer (x-single-active-consumer) as clients and rabbitmqctl see it.

Checked against RabbitMQ 3.10 (AMQP_EXTERNAL_PORT=5673): only the first consumer registered
receives; the others get their basic.consume-ok and nothing else until it goes; when its
connection closes, what it left unacked goes to the next one first; list_consumers shows active
and activity_status (single_active / waiting; `up` elsewhere, exclusive consumers included);
exclusive consumers and non-boolean values are refused.

A cancelled active consumer's unacked deliveries stay on its channel (they can still be acked);
the next consumer receives once they are settled, so that whatever is requeued reaches it first.
pika's close cancels its consumers before closing the channel, which is the case below.
(RabbitMQ 3.10 hands over on basic.cancel without delivering the backlog until the queue is woken
by a requeue or a publish, and not at all when both consumers share a channel; the tests check
what both brokers do alike.)
"""

import time

import kombu
import pika
import pika.exceptions as pex
import pytest

from admin_helpers import Ctl

SAC = {"x-single-active-consumer": True}


def params(broker):
    return pika.ConnectionParameters(
        host=broker.host, port=broker.port, credentials=pika.PlainCredentials("guest", "guest"),
        connection_attempts=1, socket_timeout=5)


class Client:
    """A pika connection with one channel, collecting what its consumers receive."""

    def __init__(self, broker):
        self.conn = pika.BlockingConnection(params(broker))
        self.ch = self.conn.channel()
        self.got = []

    def consume(self, queue, tag, auto_ack=False, **kwargs):
        def on_message(ch, method, props, body):
            self.got.append((body.decode(), method.delivery_tag, method.redelivered))
        return self.ch.basic_consume(queue, on_message, consumer_tag=tag, auto_ack=auto_ack, **kwargs)

    def pump(self, seconds=0.3):
        self.conn.process_data_events(seconds)

    def bodies(self):
        return [g[0] for g in self.got]

    def close(self):
        if self.conn.is_open:
            self.conn.close()


@pytest.fixture
def clients(broker):
    made = []

    def make():
        c = Client(broker)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


@pytest.fixture
def queue(broker, uid):
    name = f"{uid}-sac"
    c = pika.BlockingConnection(params(broker))
    c.channel().queue_declare(name, arguments=SAC)
    yield name
    c.channel().queue_delete(name)
    c.close()


def wait_for(predicate, pump, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        pump()
    return predicate()


def consumers(broker, queue):
    rows = Ctl(broker).table("list_consumers", "queue_name", "consumer_tag", "active", "activity_status")
    return sorted((r["consumer_tag"], r["active"], r["activity_status"]) for r in rows if r["queue_name"] == queue)


def test_only_the_first_consumer_receives(broker, clients, queue):
    a, b = clients(), clients()
    a.consume(queue, "first", auto_ack=True)
    # The waiting consumer gets its consume-ok (pika returns the tag) and nothing else.
    assert b.consume(queue, "second", auto_ack=True) == "second"
    for i in range(5):
        a.ch.basic_publish("", queue, f"m{i}".encode())
    assert wait_for(lambda: len(a.got) == 5, a.pump)
    b.pump(0.3)
    assert a.bodies() == ["m0", "m1", "m2", "m3", "m4"]
    assert b.got == []
    assert a.ch.queue_declare(queue, passive=True).method.consumer_count == 2


def test_list_consumers_shows_who_is_active(broker, clients, queue, uid):
    a, b = clients(), clients()
    a.consume(queue, "first")
    b.consume(queue, "second")
    assert consumers(broker, queue) == [("first", True, "single_active"), ("second", False, "waiting")]
    # Elsewhere, consumers are "up", exclusive ones included.
    plain = f"{uid}-plain"
    a.ch.queue_declare(plain, exclusive=True)
    a.consume(plain, "solo", exclusive=True)
    assert consumers(broker, plain) == [("solo", True, "up")]
    rows = Ctl(broker).rows("list_consumers", "queue_name", "consumer_tag", "active", "activity_status")
    assert [queue, "second", "false", "waiting"] in rows


def test_closing_the_active_consumer_hands_over_with_its_unacked_first(broker, clients, queue):
    a, b = clients(), clients()
    a.ch.basic_qos(prefetch_count=2)
    a.consume(queue, "first")
    b.consume(queue, "second", auto_ack=True)
    for i in range(5):
        b.ch.basic_publish("", queue, f"m{i}".encode())
    assert wait_for(lambda: len(a.got) == 2, a.pump)
    assert a.bodies() == ["m0", "m1"]
    a.ch.basic_ack(a.got[0][1])  # m0 done: m2 comes; m1 and m2 unacked
    assert wait_for(lambda: len(a.got) == 3, a.pump)
    assert a.bodies() == ["m0", "m1", "m2"]
    b.pump(0.2)
    assert b.got == []
    a.close()
    assert wait_for(lambda: len(b.got) == 4, b.pump)
    assert [(body, redelivered) for body, _tag, redelivered in b.got] == [
        ("m1", True), ("m2", True), ("m3", False), ("m4", False)]
    assert consumers(broker, queue) == [("second", True, "single_active")]


def test_closing_a_channel_hands_over_in_registration_order(broker, clients, queue):
    a = clients()
    ch2 = a.conn.channel()
    ch3 = a.conn.channel()
    got = []
    a.consume(queue, "first", auto_ack=True)
    ch2.basic_consume(queue, lambda c, m, p, b: got.append(("second", b.decode())), consumer_tag="second",
                      auto_ack=True)
    ch3.basic_consume(queue, lambda c, m, p, b: got.append(("third", b.decode())), consumer_tag="third",
                      auto_ack=True)
    a.ch.close()
    a.pump(0.2)
    assert consumers(broker, queue) == [("second", True, "single_active"), ("third", False, "waiting")]
    ch3.basic_publish("", queue, b"x")
    assert wait_for(lambda: len(got) == 1, a.pump)
    ch2.close()
    ch3.basic_publish("", queue, b"y")
    assert wait_for(lambda: len(got) == 2, a.pump)
    assert got == [("second", "x"), ("third", "y")]


def test_cancelled_active_consumer_is_replaced_for_new_messages(broker, clients, queue):
    a, b = clients(), clients()
    a.consume(queue, "first", auto_ack=True)
    b.consume(queue, "second", auto_ack=True)
    a.ch.basic_publish("", queue, b"x1")
    assert wait_for(lambda: len(a.got) == 1, a.pump)
    a.ch.basic_cancel("first")
    a.pump(0.3)
    assert consumers(broker, queue) == [("second", True, "single_active")]
    a.ch.basic_publish("", queue, b"x2")
    assert wait_for(lambda: len(b.got) == 1, b.pump)
    assert a.bodies() == ["x1"]
    assert b.bodies() == ["x2"]


def test_exclusive_consumer_is_refused(broker, clients, queue):
    a = clients()
    with pytest.raises(pex.ChannelClosedByBroker) as e:
        a.consume(queue, "x", exclusive=True)
    assert e.value.reply_code == 403
    assert e.value.reply_text == f"ACCESS_REFUSED - queue '{queue}' in vhost '/' in exclusive use"


@pytest.mark.parametrize("value,type_name", [("yes", "longstr"), (1, "signedint")])
def test_non_boolean_argument_is_refused(broker, uid, value, type_name):
    c = pika.BlockingConnection(params(broker))
    q = f"{uid}-bad"
    with pytest.raises(pex.ChannelClosedByBroker) as e:
        c.channel().queue_declare(q, arguments={"x-single-active-consumer": value})
    assert e.value.reply_code == 406
    assert e.value.reply_text == (
        f"PRECONDITION_FAILED - invalid arg 'x-single-active-consumer' for queue '{q}' in vhost '/': "
        f"{{unacceptable_type,{type_name}}}")
    ch = c.channel()
    ch.queue_declare(q, arguments={"x-single-active-consumer": False})
    ch.queue_delete(q)
    c.close()


def test_kombu_consumers_take_turns(broker, queue):
    url = f"amqp://guest:guest@{broker.host}:{broker.port}//"
    kq = kombu.Queue(queue, exchange=kombu.Exchange(""), routing_key=queue, queue_arguments=SAC,
                      durable=False)
    first, second = [], []
    with kombu.Connection(url) as c1, kombu.Connection(url) as c2:
        cons1 = c1.Consumer([kq], callbacks=[lambda body, m: (first.append(body), m.ack())], accept=["json"])
        cons2 = c2.Consumer([kq], callbacks=[lambda body, m: (second.append(body), m.ack())], accept=["json"])
        cons1.consume()
        cons2.consume()
        producer = c2.Producer()
        for i in range(3):
            producer.publish({"n": i}, routing_key=queue, serializer="json")

        live = [c1, c2]

        def drain_both(until, timeout=5.0):
            deadline = time.monotonic() + timeout
            while not until() and time.monotonic() < deadline:
                for conn in live:
                    try:
                        conn.drain_events(timeout=0.05)
                    except TimeoutError:
                        pass
        drain_both(lambda: len(first) == 3)
        assert [b["n"] for b in first] == [0, 1, 2]
        assert second == []
        live.remove(c1)
        c1.release()  # the active consumer's connection closes: the other one takes over
        for i in range(3, 5):
            producer.publish({"n": i}, routing_key=queue, serializer="json")
        drain_both(lambda: len(second) == 2)
        assert [b["n"] for b in second] == [3, 4]
