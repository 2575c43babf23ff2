"""Interop: kombu (Celery's messaging layer) over its default pyamqp transport.

Uses only kombu's public API: Connection, Exchange, Queue, Producer, Consumer, SimpleQueue.
"""

import socket
import time

import amqp.exceptions
import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue

TIMEOUT = 5.0


@pytest.fixture
def conn(broker):
    c = Connection(broker.url(), connect_timeout=TIMEOUT)
    c.connect()
    yield c
    c.release()


@pytest.fixture
def confirm_conn(broker):
    c = Connection(broker.url(), connect_timeout=TIMEOUT, transport_options={"confirm_publish": True})
    c.connect()
    yield c
    c.release()


@pytest.fixture
def cleanup(broker):
    """kombu entities to delete (on a fresh connection) after the test."""
    entities = []
    yield entities
    with Connection(broker.url(), connect_timeout=TIMEOUT) as c:
        ch = c.channel()
        for e in entities:
            try:
                e(ch).delete()
            except Exception:
                ch = c.channel()


def drain_until(conn, predicate, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate():
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("condition not reached before timeout")
        try:
            conn.drain_events(timeout=min(left, 0.5))
        except socket.timeout:
            pass


def quiet(conn, wait=0.3) -> bool:
    """True if no event arrives within `wait` seconds."""
    try:
        conn.drain_events(timeout=wait)
    except socket.timeout:
        return True
    return False


def test_direct_exchange_json_round_trip_with_headers_and_properties(conn, cleanup, uid):
    ex = Exchange(f"{uid}-direct", type="direct", durable=False)
    q = Queue(f"{uid}-q", exchange=ex, routing_key="jobs", durable=False)
    cleanup += [q, ex]
    received = []

    def on_message(body, message):
        received.append((body, message))
        message.ack()

    payload = {"id": 7, "name": "grüße", "tags": ["a", "b"], "nested": {"ok": True, "n": None, "f": 1.25}}
    with Consumer(conn, queues=[q], callbacks=[on_message], accept=["json"]):
        producer = Producer(conn, exchange=ex, serializer="json")
        producer.publish(
            payload,
            routing_key="jobs",
            headers={"task": "add", "retries": 3, "argsrepr": "(1, 2)"},
            correlation_id="c-1",
            reply_to="reply-q",
            priority=5,
            message_id="m-1",
            app_id="kombu-test",
            expiration=60,
            declare=[q],
        )
        producer.publish({"ignored": True}, routing_key="other-key")
        drain_until(conn, lambda: len(received) == 1)
        assert quiet(conn)

    body, message = received[0]
    assert body == payload
    assert message.payload == payload
    assert message.content_type == "application/json"
    assert message.content_encoding == "utf-8"
    assert message.headers == {"task": "add", "retries": 3, "argsrepr": "(1, 2)"}
    props = message.properties
    assert props["correlation_id"] == "c-1"
    assert props["reply_to"] == "reply-q"
    assert props["priority"] == 5
    assert props["message_id"] == "m-1"
    assert props["app_id"] == "kombu-test"
    assert props["expiration"] == "60000"
    assert props["delivery_mode"] == 2  # kombu publishes persistent by default
    assert message.delivery_info["exchange"] == ex.name
    assert message.delivery_info["routing_key"] == "jobs"
    assert message.delivery_info["redelivered"] is False
    assert message.acknowledged


def test_topic_exchange_routing(conn, cleanup, uid):
    ex = Exchange(f"{uid}-topic", type="topic", durable=False)
    q_eu = Queue(f"{uid}-eu", exchange=ex, routing_key="weather.eu.*", durable=False)
    q_all = Queue(f"{uid}-all", exchange=ex, routing_key="weather.#", durable=False)
    cleanup += [q_eu, q_all, ex]
    got = {"eu": [], "all": []}

    def collect(key):
        def cb(body, message):
            got[key].append(body)
            message.ack()
        return cb

    with Consumer(conn, queues=[q_eu], callbacks=[collect("eu")], accept=["json"]), \
            Consumer(conn, queues=[q_all], callbacks=[collect("all")], accept=["json"]):
        producer = Producer(conn, exchange=ex, serializer="json")
        for rk in ("weather.eu.paris", "weather.us.nyc", "weather.eu", "news.eu.paris", "weather.eu.de.berlin"):
            producer.publish({"rk": rk}, routing_key=rk)
        drain_until(conn, lambda: len(got["eu"]) == 1 and len(got["all"]) == 4)
        assert quiet(conn)
    assert got["eu"] == [{"rk": "weather.eu.paris"}]
    assert [b["rk"] for b in got["all"]] == ["weather.eu.paris", "weather.us.nyc", "weather.eu", "weather.eu.de.berlin"]


def test_fanout_exchange_delivers_to_every_queue(conn, cleanup, uid):
    ex = Exchange(f"{uid}-fan", type="fanout", durable=False)
    queues = [Queue(f"{uid}-f{i}", exchange=ex, durable=False) for i in range(3)]
    cleanup += queues + [ex]
    got = []

    def cb(body, message):
        got.append((message.delivery_info["consumer_tag"], body))
        message.ack()

    with Consumer(conn, queues=queues, callbacks=[cb], accept=["json", "text/plain"]) as consumer:
        assert len(consumer.queues) == 3
        Producer(conn, exchange=ex).publish("broadcast", routing_key="anything", serializer="raw",
                                            content_type="text/plain", content_encoding="utf-8")
        drain_until(conn, lambda: len(got) == 3)
        assert quiet(conn)
    assert [b for _, b in got] == ["broadcast"] * 3
    assert len({tag for tag, _ in got}) == 3  # one basic.consume per queue


def test_requeue_and_reject(conn, cleanup, uid):
    q = Queue(f"{uid}-q", durable=False)
    cleanup.append(q)
    seen = []

    def cb(body, message):
        seen.append((body, message.delivery_info["redelivered"]))
        n = len(seen)
        if n == 1:
            message.requeue()  # basic.reject requeue=true -> comes back, redelivered
        elif n == 2:
            message.reject()  # basic.reject requeue=false -> dropped
        else:
            message.ack()

    with Consumer(conn, queues=[q], callbacks=[cb], accept=["json"]):
        p = Producer(conn, serializer="json")
        p.publish({"n": 1}, routing_key=q.name, declare=[q])
        drain_until(conn, lambda: len(seen) == 2)
        p.publish({"n": 2}, routing_key=q.name)
        drain_until(conn, lambda: len(seen) == 3)
        assert quiet(conn)
    assert seen == [({"n": 1}, False), ({"n": 1}, True), ({"n": 2}, False)]
    assert q(conn.default_channel).queue_declare(passive=True).message_count == 0


def test_unacked_messages_are_redelivered_after_connection_closes(broker, conn, cleanup, uid):
    q = Queue(f"{uid}-q", durable=False)
    cleanup.append(q)
    Producer(conn, serializer="json").publish({"job": 1}, routing_key=q.name, declare=[q])

    first = Connection(broker.url(), connect_timeout=TIMEOUT)
    got = []
    with Consumer(first, queues=[q], callbacks=[lambda b, m: got.append(b)], accept=["json"]):
        drain_until(first, lambda: got)
    first.release()  # never acked

    redelivered = []

    def cb(body, message):
        redelivered.append((body, message.delivery_info["redelivered"]))
        message.ack()

    with Consumer(conn, queues=[q], callbacks=[cb], accept=["json"]):
        drain_until(conn, lambda: redelivered)
    assert got == [{"job": 1}]
    assert redelivered == [({"job": 1}, True)]


def test_consumer_qos_prefetch(conn, cleanup, uid):
    q = Queue(f"{uid}-q", durable=False)
    cleanup.append(q)
    p = Producer(conn, serializer="json")
    for i in range(6):
        p.publish({"i": i}, routing_key=q.name, declare=[q])
    pending = []
    # prefetch_count= makes kombu send basic.qos(0, 2, global=False) before basic.consume
    with Consumer(conn, queues=[q], callbacks=[lambda b, m: pending.append(m)], accept=["json"],
                  prefetch_count=2):
        drain_until(conn, lambda: len(pending) >= 2)
        assert quiet(conn, 0.4)
        assert [m.payload["i"] for m in pending] == [0, 1]
        pending[0].ack()
        drain_until(conn, lambda: len(pending) == 3)
        assert quiet(conn, 0.3)
        for m in pending[1:]:
            m.ack()
        drain_until(conn, lambda: len(pending) == 5)
        assert [m.payload["i"] for m in pending] == [0, 1, 2, 3, 4]
        for m in pending[3:]:
            m.ack()
        drain_until(conn, lambda: len(pending) == 6)
        pending[5].ack()


def test_global_qos_is_accepted(conn, cleanup, uid):
    # Celery sends basic.qos with global=true when the server says it is RabbitMQ 3.3-3.x.
    q = Queue(f"{uid}-q", durable=False)
    cleanup.append(q)
    p = Producer(conn, serializer="json")
    for i in range(3):
        p.publish({"i": i}, routing_key=q.name, declare=[q])
    pending = []
    consumer = Consumer(conn, queues=[q], callbacks=[lambda b, m: pending.append(m)], accept=["json"],
                        auto_declare=False)
    consumer.qos(prefetch_count=1, apply_global=True)
    consumer.declare()
    with consumer:
        drain_until(conn, lambda: len(pending) >= 1)
        assert quiet(conn, 0.4)
        assert len(pending) == 1
        pending[0].ack()
        drain_until(conn, lambda: len(pending) == 2)
        pending[1].ack()
        drain_until(conn, lambda: len(pending) == 3)
        pending[2].ack()
    assert [m.payload["i"] for m in pending] == [0, 1, 2]


def test_simple_queue_put_get_ack_and_qsize(conn, cleanup, uid):
    name = f"{uid}-simple"
    sq = conn.SimpleQueue(name, serializer="json")
    cleanup += [sq.queue, sq.queue.exchange]
    try:
        sq.put("x")
        sq.put("y")
        time.sleep(0.05)
        assert sq.qsize() == 2
        assert sq.clear() == 2  # queue.purge reports the count
        assert sq.qsize() == 0
        for i in range(3):
            sq.put({"i": i, "text": "é"}, headers={"h": i})
        deadline = time.monotonic() + TIMEOUT
        while sq.qsize() < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sq.qsize() == 3
        assert len(sq) == 3
        m0 = sq.get_nowait()  # basic.get
        assert m0.payload == {"i": 0, "text": "é"}
        assert m0.headers == {"h": 0}
        m0.ack()
        m1 = sq.get(block=True, timeout=TIMEOUT)  # basic.consume + drain_events
        assert m1.payload["i"] == 1
        assert m1.headers == {"h": 1}
        m1.ack()
        m2 = sq.get(block=True, timeout=TIMEOUT)
        assert m2.payload["i"] == 2
        m2.ack()
        with pytest.raises(sq.Empty):
            sq.get(block=True, timeout=0.3)
        assert sq.qsize() == 0
    finally:
        sq.close()


def test_simple_buffer_is_transient_and_auto_deleting(broker, uid):
    # SimpleBuffer: non-durable, auto_delete queue and exchange, transient messages.
    with Connection(broker.url(), connect_timeout=TIMEOUT) as c:
        buf = c.SimpleBuffer(f"{uid}-buf")
        buf.put({"v": 1})
        m = buf.get(block=True, timeout=TIMEOUT)
        assert m.payload == {"v": 1}
        assert m.properties["delivery_mode"] == 1
        m.ack()
        buf.close()  # cancels the consumer -> auto_delete queue disappears
        ch = c.channel()
        with pytest.raises(amqp.exceptions.NotFound):
            ch.queue_declare(f"{uid}-buf", passive=True)


def test_publisher_confirms_transport_option(confirm_conn, cleanup, uid):
    q = Queue(f"{uid}-q", durable=False)
    cleanup.append(q)
    producer = Producer(confirm_conn, serializer="json")
    for i in range(10):
        producer.publish({"i": i}, routing_key=q.name, declare=[q])
    ch = confirm_conn.default_channel
    assert ch._confirm_selected  # kombu switched the channel to confirm.select mode
    # with confirms each publish waited for its basic.ack, so all are enqueued already
    assert q(ch).queue_declare(passive=True).message_count == 10
    msgs = [q(ch).get(no_ack=True) for _ in range(10)]
    assert [m.payload["i"] for m in msgs] == list(range(10))


def test_mandatory_publish_to_nowhere_with_confirms_raises(confirm_conn, uid):
    producer = Producer(confirm_conn, exchange=Exchange("amq.direct", type="direct"), auto_declare=False)
    with pytest.raises(amqp.exceptions.ChannelError) as ei:
        producer.publish({"lost": True}, routing_key=f"{uid}-nobody", mandatory=True, serializer="json")
    assert ei.value.reply_code == 312
    assert "NO_ROUTE" in ei.value.reply_text
    # not a channel error in the AMQP sense: the channel stays usable
    producer.publish({"x": 1}, routing_key=f"{uid}-nobody-2", serializer="json")


def test_mandatory_publish_to_nowhere_calls_on_return(conn, uid):
    returned = []

    def on_return(exc, exchange, routing_key, message):
        returned.append((exc.reply_code, exchange, routing_key, message.body))

    producer = Producer(conn.channel(), exchange=Exchange("amq.direct", type="direct"),
                        auto_declare=False, on_return=on_return)
    producer.publish({"lost": True}, routing_key=f"{uid}-nobody", mandatory=True, serializer="json")
    drain_until(conn, lambda: returned)
    assert returned == [(312, "amq.direct", f"{uid}-nobody", '{"lost": true}')]  # py-amqp decodes utf-8 bodies


def test_publish_to_missing_exchange_surfaces_not_found(conn, uid):
    producer = Producer(conn.channel(), exchange=Exchange(f"{uid}-missing", type="direct"), auto_declare=False)
    with pytest.raises(amqp.exceptions.NotFound) as ei:
        producer.publish({"a": 1}, routing_key="k", serializer="json")
        drain_until(conn, lambda: False, timeout=2)
    assert ei.value.reply_code == 404


def test_passive_exchange_and_queue_declare(conn, cleanup, uid):
    ex = Exchange(f"{uid}-x", type="topic", durable=False)
    q = Queue(f"{uid}-q", exchange=ex, routing_key="#", durable=False)
    cleanup += [q, ex]
    ch = conn.channel()
    bq = q(ch)
    bq.declare()
    assert ex(ch).declare(passive=True) is None
    assert bq.queue_declare(passive=True).queue == q.name
    with pytest.raises(amqp.exceptions.NotFound):
        Exchange(f"{uid}-nope", type="direct")(conn.channel()).declare(passive=True)
