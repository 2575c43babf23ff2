"""Quorum queues (x-queue-type: quorum) as clients see them on one node.

Every expectation was checked against RabbitMQ 3.10 (AMQP_EXTERNAL_PORT=5673): the declaration
rules and their error texts, the x-delivery-count header (on basic.get always, on a consumer's
delivery once the message came back), the delivery limit and its dead letters (reason
delivery_limit), and where returned messages go: to the back after a nack, reject or recover on a
queue without a delivery limit, ahead of the others when their channel closed or the queue has a
limit. RabbitMQ applies a nack's requeue asynchronously, so tests read the queue's order only
once every return has landed. The restart tests are Warren's own.
"""

import signal
import time

import kombu
import pika
import pika.exceptions as pex
import pytest

from admin_helpers import Ctl
from durability_helpers import restartable_broker  # noqa: F401  (a fixture)

QUORUM = {"x-queue-type": "quorum"}
DEADLINE = 5.0


from pika_helpers import params  # noqa: E402


@pytest.fixture
def queues(conn):
    """Names to delete at the end (RabbitMQ keeps what a test leaves)."""
    names = []
    yield names
    ch = conn.channel() if conn.is_open else None
    for name in names:
        if ch is not None:
            try:
                ch.queue_delete(name)
            except pex.AMQPError:
                ch = conn.channel()


def declare_quorum(ch, queues, name, **arguments):
    queues.append(name)
    return ch.queue_declare(name, durable=True, arguments={**QUORUM, **arguments})


def refusal(conn, **declare):
    ch = conn.channel()
    with pytest.raises(pex.ChannelClosedByBroker) as e:
        ch.queue_declare(**declare)
    return e.value.reply_code, e.value.reply_text


def count(headers):
    return (headers or {}).get("x-delivery-count")


def take_all(ch, queue, expected, deadline=DEADLINE):
    """basic.get (no-ack) until `expected` messages came or the deadline passed: bodies with
    their delivery counts."""
    out = []
    end = time.monotonic() + deadline
    while len(out) < expected and time.monotonic() < end:
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            time.sleep(0.02)
            continue
        out.append((body.decode(), count(props.headers)))
    return out


def wait_count(ch, queue, n, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while True:
        c = ch.queue_declare(queue, passive=True).method.message_count
        if c == n or time.monotonic() > end:
            return c
        time.sleep(0.02)


def consume(conn, ch, queue, n, on_message, deadline=DEADLINE):
    """Consumes until `on_message` has been called n times; returns what it returned."""
    seen = []

    def callback(channel, method, props, body):
        seen.append(on_message(channel, method, props, body))

    tag = ch.basic_consume(queue, callback)
    end = time.monotonic() + deadline
    while len(seen) < n and time.monotonic() < end:
        conn.process_data_events(time_limit=0.05)
    ch.basic_cancel(tag)
    return seen


# 1. Declaration


def test_declaration_rules_and_errors(conn, queues, uid):
    q = f"{uid}-q"
    v = "in vhost '/'"
    assert refusal(conn, queue=q, durable=False, arguments=QUORUM) == (
        406, f"PRECONDITION_FAILED - invalid property 'non-durable' for queue '{q}' {v}")
    assert refusal(conn, queue=q, durable=True, exclusive=True, arguments=QUORUM) == (
        406, f"PRECONDITION_FAILED - invalid property 'exclusive-owner' for queue '{q}' {v}")
    assert refusal(conn, queue=q, durable=True, auto_delete=True, arguments=QUORUM) == (
        406, f"PRECONDITION_FAILED - invalid property 'auto-delete' for queue '{q}' {v}")
    assert refusal(conn, queue="", durable=True, arguments=QUORUM) == (
        406, "PRECONDITION_FAILED - Cannot declare a server-named queue for type rabbit_quorum_queue")
    for key, value in [("x-max-priority", 5), ("x-queue-mode", "lazy"), ("x-queue-master-locator", "min-masters")]:
        assert refusal(conn, queue=q, durable=True, arguments={**QUORUM, key: value}) == (
            406, f"PRECONDITION_FAILED - invalid arg '{key}' for queue '{q}' {v} of queue type rabbit_quorum_queue")
    # The arguments are checked before the properties.
    assert refusal(conn, queue=q, durable=False, arguments={**QUORUM, "x-max-priority": 5})[1].endswith(
        "invalid arg 'x-max-priority' for queue '" + q + "' in vhost '/' of queue type rabbit_quorum_queue")
    assert refusal(conn, queue=q, durable=True, arguments={"x-queue-type": "foo"}) == (
        406, f"PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue '{q}' {v}: \"unsupported queue type 'foo'\"")

    ch = conn.channel()
    ok = declare_quorum(ch, queues, q, **{"x-overflow": "reject-publish", "x-delivery-limit": 3})
    assert (ok.method.queue, ok.method.message_count, ok.method.consumer_count) == (q, 0, 0)
    ch.basic_publish("", q, b"m")
    assert wait_count(ch, q, 1) == 1
    assert ch.queue_declare(q, durable=True, arguments={**QUORUM, "x-overflow": "reject-publish",
                                                         "x-delivery-limit": 3}).method.message_count == 1
    classic = f"{uid}-classic"
    queues.append(classic)
    assert ch.queue_declare(classic, arguments={"x-queue-type": "classic"}).method.queue == classic


def test_redeclaring_with_another_type_is_inequivalent(conn, queues, uid):
    q, c = f"{uid}-q", f"{uid}-c"
    ch = conn.channel()
    declare_quorum(ch, queues, q)
    queues.append(c)
    ch.queue_declare(c, durable=True)
    prefix = "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue"
    assert refusal(conn, queue=q, durable=True, arguments={"x-queue-type": "classic"}) == (
        406, f"{prefix} '{q}' in vhost '/': received 'classic' but current is 'quorum'")
    assert refusal(conn, queue=q, durable=True) == (
        406, f"{prefix} '{q}' in vhost '/': received none but current is the value 'quorum' of type 'longstr'")
    assert refusal(conn, queue=c, durable=True, arguments=QUORUM) == (
        406, f"{prefix} '{c}' in vhost '/': received the value 'quorum' of type 'longstr' but current is none")
    # No type and classic are the same.
    assert conn.channel().queue_declare(c, durable=True, arguments={"x-queue-type": "classic"}).method.queue == c


def test_list_queues_shows_the_type(broker, conn, queues, uid):
    ch = conn.channel()
    declare_quorum(ch, queues, f"{uid}-q")
    queues.append(f"{uid}-c")
    ch.queue_declare(f"{uid}-c")
    rows = {r[0]: r[1] for r in Ctl(broker).rows("list_queues", "name", "type")}
    assert rows[f"{uid}-q"] == "quorum"
    assert rows[f"{uid}-c"] == "classic"


def test_x_cancel_on_ha_failover_is_accepted_by_classic_queues_only(conn, queues, uid):
    ch = conn.channel()
    declare_quorum(ch, queues, f"{uid}-q")
    queues.append(f"{uid}-c")
    ch.queue_declare(f"{uid}-c")
    tag = ch.basic_consume(f"{uid}-c", lambda *a: None, arguments={"x-cancel-on-ha-failover": True})
    ch.basic_cancel(tag)
    with pytest.raises(pex.ChannelClosedByBroker) as e:
        ch.basic_consume(f"{uid}-q", lambda *a: None, arguments={"x-cancel-on-ha-failover": True})
    assert (e.value.reply_code, e.value.reply_text) == (
        406, f"PRECONDITION_FAILED - invalid arg 'x-cancel-on-ha-failover' for queue '{uid}-q' in vhost '/' "
             "of queue type rabbit_quorum_queue")


# 2. Delivery count


def test_delivery_count_on_get_and_on_redelivery(conn, queues, uid):
    q = f"{uid}-q"
    ch = conn.channel()
    declare_quorum(ch, queues, q)
    ch.basic_publish("", q, b"a", pika.BasicProperties(headers={"z": 1, "b": 2}))
    assert wait_count(ch, q, 1) == 1
    for expected in range(3):
        method, props, body = ch.basic_get(q)
        assert (body, method.redelivered, count(props.headers)) == (b"a", expected > 0, expected)
        # Set in the headers, sorted as RabbitMQ sorts a table it changes.
        assert list(props.headers) == ["b", "x-delivery-count", "z"]
        if expected < 2:
            ch.basic_nack(method.delivery_tag, requeue=True)
            assert wait_count(ch, q, 1) == 1
    ch.basic_reject(method.delivery_tag, requeue=True)
    assert wait_count(ch, q, 1) == 1

    # A consumer's first delivery carries no header; each redelivery does.
    ch.basic_publish("", q, b"b")
    assert wait_count(ch, q, 2) == 2
    ch.basic_qos(prefetch_count=1)

    def nack_first_time(channel, method, props, body):
        if not method.redelivered:
            channel.basic_nack(method.delivery_tag, requeue=True)
        else:
            channel.basic_ack(method.delivery_tag)
        return (body.decode(), method.redelivered, count(props.headers))

    seen = consume(conn, ch, q, 3, nack_first_time)
    assert sorted(seen) == sorted([("a", True, 3), ("b", False, None), ("b", True, 1)])


def test_closing_the_channel_counts_as_a_return(conn, queues, uid):
    q = f"{uid}-q"
    ch = conn.channel()
    declare_quorum(ch, queues, q)
    for body in (b"a", b"b", b"c", b"d"):
        ch.basic_publish("", q, body)
    assert wait_count(ch, q, 4) == 4
    ch.basic_get(q)
    ch.basic_get(q)
    ch.close()
    ch = conn.channel()
    # Returned by a closed channel: ahead of the others, in delivery order.
    assert take_all(ch, q, 4) == [("a", 1), ("b", 1), ("c", 0), ("d", 0)]


# 3. Where returned messages go


@pytest.mark.parametrize("limit", [None, 10])
def test_nacked_messages_go_back_as_rabbitmq_3_10_puts_them(conn, queues, uid, limit):
    q = f"{uid}-q"
    ch = conn.channel()
    declare_quorum(ch, queues, q, **({"x-delivery-limit": limit} if limit else {}))
    for body in (b"a", b"b", b"c", b"d"):
        ch.basic_publish("", q, body)
    assert wait_count(ch, q, 4) == 4
    a, _, _ = ch.basic_get(q)
    b, _, _ = ch.basic_get(q)
    ch.basic_nack(b.delivery_tag, requeue=True)
    ch.basic_nack(a.delivery_tag, requeue=True)
    assert wait_count(ch, q, 4) == 4
    got = take_all(ch, q, 4)
    if limit is None:
        assert got == [("c", 0), ("d", 0), ("b", 1), ("a", 1)]
    else:
        assert got == [("b", 1), ("a", 1), ("c", 0), ("d", 0)]


# 4. Delivery limit


def test_past_the_delivery_limit_a_message_is_dead_lettered(conn, queues, uid):
    q, dead = f"{uid}-q", f"{uid}-dead"
    ch = conn.channel()
    queues.append(dead)
    ch.queue_declare(dead, durable=True)
    declare_quorum(ch, queues, q, **{"x-delivery-limit": 2, "x-dead-letter-exchange": "",
                                     "x-dead-letter-routing-key": dead})
    ch.basic_publish("", q, b"a", pika.BasicProperties(headers={"k": "v"}, expiration="100000"))
    assert wait_count(ch, q, 1) == 1
    ch.basic_qos(prefetch_count=1)

    def nack(channel, method, props, body):
        channel.basic_nack(method.delivery_tag, requeue=True)
        return count(props.headers)

    # Delivered three times (two returns allowed); the third return dead-letters it.
    assert consume(conn, ch, q, 3, nack) == [None, 1, 2]
    assert wait_count(ch, dead, 1) == 1
    assert wait_count(ch, q, 0) == 0
    method, props, body = ch.basic_get(dead, auto_ack=True)
    assert body == b"a" and method.routing_key == dead
    headers = props.headers
    assert "x-delivery-count" not in headers
    assert headers["k"] == "v"
    assert (headers["x-first-death-reason"], headers["x-first-death-queue"], headers["x-first-death-exchange"]) == (
        "delivery_limit", q, "")
    [death] = headers["x-death"]
    assert {k: v for k, v in death.items() if k != "time"} == {
        "count": 1, "reason": "delivery_limit", "queue": q, "exchange": "", "routing-keys": [q],
        "original-expiration": "100000"}
    assert props.expiration is None


def test_past_the_delivery_limit_without_dead_letter_exchange_a_message_is_dropped(conn, queues, uid):
    q = f"{uid}-q"
    ch = conn.channel()
    declare_quorum(ch, queues, q, **{"x-delivery-limit": 0})
    ch.basic_publish("", q, b"a")
    ch.basic_publish("", q, b"b")
    assert wait_count(ch, q, 2) == 2
    method, props, body = ch.basic_get(q)
    assert (body, count(props.headers)) == (b"a", 0)
    ch.basic_nack(method.delivery_tag, requeue=True)
    assert wait_count(ch, q, 1) == 1
    assert take_all(ch, q, 1) == [("b", 0)]


def test_delivery_limit_from_a_policy(broker, conn, queues, uid):
    ctl = Ctl(broker)
    q = f"{uid}-q"
    ctl.ok("set_policy", "--apply-to", "queues", f"{uid}-p", f"^{uid}-q$", '{"delivery-limit":0}')
    try:
        ch = conn.channel()
        declare_quorum(ch, queues, q, **{"x-delivery-limit": 5})
        ch.basic_publish("", q, b"a")
        assert wait_count(ch, q, 1) == 1
        method, _, _ = ch.basic_get(q)
        ch.basic_nack(method.delivery_tag, requeue=True)
        # The smaller of the argument and the policy applies.
        assert wait_count(ch, q, 0) == 0
    finally:
        ctl.ok("clear_policy", f"{uid}-p")


# 5. kombu


def test_kombu_requeue_counts_deliveries(broker, queues, uid):
    name = f"{uid}-kombu"
    queues.append(name)
    with kombu.Connection(f"amqp://guest:guest@{broker.host}:{broker.port}//") as connection:
        queue = kombu.Queue(name, exchange=kombu.Exchange("", type="direct"), routing_key=name, durable=True,
                            queue_arguments={"x-queue-type": "quorum", "x-delivery-limit": 1})
        with connection.Producer() as producer:
            producer.publish({"n": 1}, routing_key=name, declare=[queue], serializer="json")
        seen = []

        def on_message(body, message):
            seen.append((body["n"], message.headers.get("x-delivery-count"), message.delivery_info["redelivered"]))
            message.requeue()

        with connection.Consumer(queue, callbacks=[on_message], prefetch_count=1):
            end = time.monotonic() + DEADLINE
            while len(seen) < 2 and time.monotonic() < end:
                try:
                    connection.drain_events(timeout=0.2)
                except TimeoutError:
                    pass
        assert seen == [(1, None, False), (1, 1, True)]
        # The second requeue passed the limit of 1: the message is gone.
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            _, count_, _ = queue(connection.default_channel).queue_declare(passive=True)
            if count_ == 0:
                break
            time.sleep(0.05)
        assert count_ == 0


# 6. Restarts (Warren's own)


def connect(h):
    return pika.BlockingConnection(pika.ConnectionParameters(
        host=h.host, port=h.port, credentials=pika.PlainCredentials("guest", "guest"), connection_attempts=1))


@pytest.mark.warren_only
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_every_message_and_its_delivery_count_survive_a_restart(restartable_broker, sig):
    h = restartable_broker
    c = connect(h)
    ch = c.channel()
    ch.queue_declare("qq", durable=True, arguments=QUORUM)
    ch.confirm_delivery()
    # Transient messages too: a quorum queue keeps everything, confirmed once on disk.
    for i in range(5):
        ch.basic_publish("", "qq", f"m{i}".encode(), pika.BasicProperties(delivery_mode=1 if i % 2 else 2))
    method, _, _ = ch.basic_get("qq")
    ch.basic_nack(method.delivery_tag, requeue=True)
    method, _, _ = ch.basic_get("qq")
    ch.basic_ack(method.delivery_tag)
    # A round trip, so the nack and ack have been handled before the restart.
    ch.queue_declare("qq", passive=True)
    c.close()
    if sig == signal.SIGKILL:
        time.sleep(0.3)  # the ack and return records are written at the end of their batch
        h.kill()
        h.start()
    else:
        h.restart(sig)
    c = connect(h)
    ch = c.channel()
    assert ch.queue_declare("qq", durable=True, arguments=QUORUM).method.message_count == 4
    # After a restart the messages come back in publish order (where a return put one is not
    # kept); each keeps its delivery count.
    assert sorted(take_all(ch, "qq", 4)) == [("m0", 1), ("m2", 0), ("m3", 0), ("m4", 0)]
    c.close()
