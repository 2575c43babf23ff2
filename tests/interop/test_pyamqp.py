"""Interop: py-amqp (the `amqp` package, the transport under kombu/Celery) used directly.

Every test talks to the broker only through py-amqp's public Connection/Channel API (plus
`send_method` for basic.nack, which py-amqp has no wrapper for) and checks what a user of
the library sees: bodies, properties, counts, exception classes and reply codes.
"""

import socket
import time
from datetime import datetime
from decimal import Decimal

import amqp
import pytest
from amqp import spec
from amqp.exceptions import (
    AccessRefused,
    ChannelError,
    NotFound,
    PreconditionFailed,
    ResourceLocked,
)

TIMEOUT = 5.0


def connect(broker, **kwargs) -> amqp.Connection:
    kwargs.setdefault("userid", "guest")
    kwargs.setdefault("password", "guest")
    kwargs.setdefault("connect_timeout", TIMEOUT)
    conn = amqp.Connection(f"{broker.host}:{broker.port}", **kwargs)
    conn.connect()
    return conn


@pytest.fixture
def conn(broker):
    c = connect(broker)
    yield c
    try:
        c.close()
    except Exception:
        c.collect()


@pytest.fixture
def ch(conn):
    return conn.channel()


@pytest.fixture
def cleanup(broker):
    """Register queue/exchange names; they are deleted on a fresh connection afterwards."""
    names = {"queues": [], "exchanges": []}
    yield names
    c = connect(broker)
    try:
        for q in names["queues"]:
            try:
                c.channel().queue_delete(q)
            except ChannelError:
                pass
        for x in names["exchanges"]:
            try:
                c.channel().exchange_delete(x)
            except ChannelError:
                pass
    finally:
        c.close()


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


def no_more_events(conn, wait=0.3) -> bool:
    try:
        conn.drain_events(timeout=wait)
    except socket.timeout:
        return True
    return False


def declare_queue(ch, cleanup, name, **kwargs):
    # py-amqp's queue_declare defaults to auto_delete=True; most tests want a plain queue.
    kwargs.setdefault("auto_delete", False)
    ok = ch.queue_declare(name, **kwargs)
    if not kwargs.get("exclusive"):
        cleanup["queues"].append(ok.queue)
    return ok


# --------------------------------------------------------------------------- connection


def test_server_properties_and_capabilities(conn):
    props = conn.server_properties
    assert isinstance(props.get("product"), str) and props["product"]
    assert isinstance(props.get("version"), str) and props["version"]
    caps = conn.server_capabilities
    # What py-amqp/kombu/aio-pika look at: confirms, basic.nack, consumer cancel notifications.
    for cap in ("publisher_confirms", "basic.nack", "consumer_cancel_notify", "per_consumer_qos"):
        assert caps.get(cap) is True, f"capability {cap} missing from {caps}"
    assert b"PLAIN" in conn.mechanisms
    # py-amqp echoes back those of its wanted capabilities that the server announced.
    sent = conn.client_properties.get("capabilities", {})
    assert sent.get("consumer_cancel_notify") is True
    assert conn.channel_max > 0 and conn.frame_max >= 4096
    assert conn.connected


def test_plain_login_and_wrong_password(broker):
    c = connect(broker, login_method="PLAIN")
    try:
        assert c.connected
        assert c.channel().queue_declare("", exclusive=True).queue
    finally:
        c.close()
    with pytest.raises(AccessRefused) as ei:
        connect(broker, password="definitely-wrong")
    assert ei.value.reply_code == 403


def test_amqplain_login(broker):
    # Without login_method py-amqp tries GSSAPI (soft), AMQPLAIN, then PLAIN and takes the first
    # the server offers; oslo.messaging asks for AMQPLAIN explicitly (rabbit_login_method).
    c = connect(broker, login_method="AMQPLAIN")
    try:
        assert b"AMQPLAIN" in c.mechanisms
        assert c.channel().queue_declare("", exclusive=True).message_count == 0
    finally:
        c.close()
    with pytest.raises(AccessRefused) as ei:
        connect(broker, login_method="AMQPLAIN", password="definitely-wrong")
    assert ei.value.reply_code == 403
    c = connect(broker)  # no login_method
    try:
        assert c.connected
    finally:
        c.close()


# --------------------------------------------------------------------------- declare/bind/publish


def test_server_named_queue_bind_publish_get_with_properties(conn, ch, cleanup, uid):
    ex = f"{uid}-direct"
    ch.exchange_declare(ex, "direct", durable=False, auto_delete=False)
    cleanup["exchanges"].append(ex)
    ok = declare_queue(ch, cleanup, "", exclusive=True)
    assert ok.queue, "server must name the queue"
    assert ok.message_count == 0 and ok.consumer_count == 0
    ch.queue_bind(ok.queue, ex, routing_key="rk.a")

    ts = 1715949296  # the timestamp *property* is a plain int (seconds) in py-amqp
    msg = amqp.Message(
        b"hello \x00\xff world",
        content_type="application/octet-stream",
        content_encoding="binary",
        delivery_mode=2,
        priority=7,
        correlation_id="corr-1",
        reply_to="replies",
        expiration="60000",
        message_id="mid-1",
        timestamp=ts,
        type="greeting",
        user_id="guest",
        app_id="pytest",
        application_headers={"x-plain": "v"},
    )
    ch.basic_publish(msg, exchange=ex, routing_key="rk.a")
    ch.basic_publish(amqp.Message(b"dropped"), exchange=ex, routing_key="rk.other")

    got = None
    deadline = time.monotonic() + TIMEOUT
    while got is None and time.monotonic() < deadline:
        got = ch.basic_get(ok.queue, no_ack=True)
    assert got is not None
    assert got.body == b"hello \x00\xff world"
    p = got.properties
    assert p["content_type"] == "application/octet-stream"
    assert p["content_encoding"] == "binary"
    assert p["delivery_mode"] == 2
    assert p["priority"] == 7
    assert p["correlation_id"] == "corr-1"
    assert p["reply_to"] == "replies"
    assert p["expiration"] == "60000"
    assert p["message_id"] == "mid-1"
    assert p["timestamp"] == ts
    assert p["type"] == "greeting"
    assert p["user_id"] == "guest"
    assert p["app_id"] == "pytest"
    assert p["application_headers"] == {"x-plain": "v"}
    di = got.delivery_info
    assert di["exchange"] == ex
    assert di["routing_key"] == "rk.a"
    assert di["redelivered"] is False
    assert di["message_count"] == 0
    # the unroutable one was dropped (not mandatory), the queue is now empty
    assert ch.basic_get(ok.queue, no_ack=True) is None


def test_application_headers_field_types_round_trip(ch, cleanup, uid):
    q = declare_queue(ch, cleanup, f"{uid}-q").queue
    headers = {
        "str": "grüße",
        "int": 42,
        "neg": -7,
        "big": 2**40,
        "float": 1.5,
        "bool_t": True,
        "bool_f": False,
        "none": None,
        "decimal": Decimal("123.45"),
        "ts": datetime(2001, 2, 3, 4, 5, 6),
        "bytes": b"\x00\x01\xfe\xff",
        "array": [1, "two", [3, 4], {"five": 5}, True],
        "nested": {"a": {"b": {"c": [datetime(2020, 1, 1), Decimal("-0.5")]}}, "empty": {}},
        "empty_array": [],
    }
    ch.basic_publish(amqp.Message(b"typed", application_headers=headers), exchange="", routing_key=q)
    got = None
    deadline = time.monotonic() + TIMEOUT
    while got is None and time.monotonic() < deadline:
        got = ch.basic_get(q, no_ack=True)
    assert got is not None and got.body == b"typed"
    h = got.properties["application_headers"]
    assert h == headers
    assert isinstance(h["decimal"], Decimal) and h["decimal"] == Decimal("123.45")
    assert isinstance(h["bytes"], bytes)
    assert isinstance(h["nested"]["a"]["b"]["c"][0], datetime)


def test_large_body_spans_frames(conn, ch, cleanup, uid):
    q = declare_queue(ch, cleanup, f"{uid}-q").queue
    body = bytes(range(256)) * (3 * conn.frame_max // 256 + 17)  # > 3 frames
    ch.basic_publish(amqp.Message(body), exchange="", routing_key=q)
    ch.basic_publish(amqp.Message(b""), exchange="", routing_key=q)  # empty body: no body frame
    got = []
    drain_until(conn, lambda: got.append(ch.basic_get(q, no_ack=True)) or len([g for g in got if g]) == 2)
    msgs = [g for g in got if g]
    assert msgs[0].body == body
    assert len(msgs[1].body) == 0  # py-amqp hands out '' (str) for a body of zero frames


def test_topic_and_fanout_routing_and_exchange_to_exchange_binding(ch, cleanup, uid):
    topic, fan, src = f"{uid}-topic", f"{uid}-fan", f"{uid}-src"
    ch.exchange_declare(topic, "topic", auto_delete=False)
    ch.exchange_declare(fan, "fanout", auto_delete=False)
    ch.exchange_declare(src, "direct", auto_delete=False)
    cleanup["exchanges"] += [topic, fan, src]
    q_star = declare_queue(ch, cleanup, f"{uid}-star").queue
    q_hash = declare_queue(ch, cleanup, f"{uid}-hash").queue
    q_fan1 = declare_queue(ch, cleanup, f"{uid}-f1").queue
    q_fan2 = declare_queue(ch, cleanup, f"{uid}-f2").queue
    ch.queue_bind(q_star, topic, "stock.*.nyse")
    ch.queue_bind(q_hash, topic, "stock.#")
    ch.queue_bind(q_fan1, fan, "ignored")
    ch.queue_bind(q_fan2, fan)
    ch.exchange_bind(destination=fan, source=src, routing_key="to-fan")

    for rk in ("stock.ibm.nyse", "stock.nyse", "stock.a.b.nyse", "bond.ibm.nyse"):
        ch.basic_publish(amqp.Message(rk.encode()), exchange=topic, routing_key=rk)
    ch.basic_publish(amqp.Message(b"f"), exchange=fan, routing_key="whatever")
    ch.basic_publish(amqp.Message(b"via-e2e"), exchange=src, routing_key="to-fan")
    ch.basic_publish(amqp.Message(b"not-via-e2e"), exchange=src, routing_key="other")

    def all_bodies(q):
        out = []
        while True:
            m = ch.basic_get(q, no_ack=True)
            if m is None:
                return out
            out.append(m.body)

    time.sleep(0.05)
    # queue.declare passive reports the counts without consuming
    assert ch.queue_declare(q_hash, passive=True).message_count == 3
    assert all_bodies(q_star) == [b"stock.ibm.nyse"]
    assert all_bodies(q_hash) == [b"stock.ibm.nyse", b"stock.nyse", b"stock.a.b.nyse"]
    assert all_bodies(q_fan1) == [b"f", b"via-e2e"]
    assert all_bodies(q_fan2) == [b"f", b"via-e2e"]

    ch.queue_unbind(q_star, topic, "stock.*.nyse")
    ch.exchange_unbind(destination=fan, source=src, routing_key="to-fan")
    ch.basic_publish(amqp.Message(b"x"), exchange=topic, routing_key="stock.ibm.nyse")
    ch.basic_publish(amqp.Message(b"y"), exchange=src, routing_key="to-fan")
    time.sleep(0.05)
    assert all_bodies(q_star) == []
    assert all_bodies(q_hash) == [b"x"]
    assert all_bodies(q_fan1) == []


def test_purge_and_delete_report_counts(ch, uid):
    q = ch.queue_declare(f"{uid}-q").queue
    try:
        for i in range(5):
            ch.basic_publish(amqp.Message(str(i).encode()), exchange="", routing_key=q)
        time.sleep(0.05)
        assert ch.queue_purge(q) == 5
        assert ch.queue_declare(q, passive=True).message_count == 0
        for i in range(3):
            ch.basic_publish(amqp.Message(b"m"), exchange="", routing_key=q)
        time.sleep(0.05)
    finally:
        deleted = ch.queue_delete(q)
    assert deleted == 3


def test_queue_arguments_ttl_max_length_and_expiration(ch, cleanup, uid):
    ttl_q = declare_queue(ch, cleanup, f"{uid}-ttl", arguments={"x-message-ttl": 100}).queue
    max_q = declare_queue(ch, cleanup, f"{uid}-max", arguments={"x-max-length": 2}).queue
    exp_q = declare_queue(ch, cleanup, f"{uid}-exp").queue
    ch.basic_publish(amqp.Message(b"expires"), exchange="", routing_key=ttl_q)
    for i in range(5):
        ch.basic_publish(amqp.Message(f"m{i}".encode()), exchange="", routing_key=max_q)
    ch.basic_publish(amqp.Message(b"short", expiration="50"), exchange="", routing_key=exp_q)
    ch.basic_publish(amqp.Message(b"long", expiration="60000"), exchange="", routing_key=exp_q)
    time.sleep(0.4)
    assert ch.basic_get(ttl_q, no_ack=True) is None
    # x-max-length drops from the head by default
    assert [ch.basic_get(max_q, no_ack=True).body for _ in range(2)] == [b"m3", b"m4"]
    assert ch.basic_get(max_q, no_ack=True) is None
    got = ch.basic_get(exp_q, no_ack=True)
    assert got.body == b"long" and got.properties["expiration"] == "60000"
    assert ch.basic_get(exp_q, no_ack=True) is None


def test_queue_expires_argument_deletes_unused_queue(ch, uid):
    q = ch.queue_declare(f"{uid}-xexp", auto_delete=False, arguments={"x-expires": 200}).queue
    assert ch.queue_declare(q, passive=True).queue == q
    time.sleep(0.6)
    with pytest.raises(NotFound):
        ch.queue_declare(q, passive=True)


def test_auto_delete_queue_goes_away_after_last_consumer(conn, ch, uid):
    q = ch.queue_declare(f"{uid}-ad", auto_delete=True).queue  # py-amqp's default
    t1 = ch.basic_consume(q, callback=lambda m: None)
    t2 = ch.basic_consume(q, callback=lambda m: None)
    assert ch.queue_declare(q, passive=True).consumer_count == 2
    ch.basic_cancel(t1)
    assert ch.queue_declare(q, passive=True).consumer_count == 1
    ch.basic_cancel(t2)
    with pytest.raises(NotFound):
        ch.queue_declare(q, passive=True)


# --------------------------------------------------------------------------- consume


def test_basic_consume_drain_events_and_ack(conn, ch, cleanup, uid):
    q = declare_queue(ch, cleanup, f"{uid}-q").queue
    received = []

    def on_message(message):
        received.append(message)
        message.channel.basic_ack(message.delivery_tag)

    tag = ch.basic_consume(q, callback=on_message, consumer_tag=f"{uid}-ctag")
    assert tag == f"{uid}-ctag"
    for i in range(10):
        ch.basic_publish(amqp.Message(f"m{i}".encode(), content_type="text/plain"), exchange="", routing_key=q)
    drain_until(conn, lambda: len(received) == 10)
    assert [m.body for m in received] == [f"m{i}".encode() for i in range(10)]
    assert all(m.delivery_info["consumer_tag"] == tag for m in received)
    assert all(m.delivery_info["redelivered"] is False for m in received)
    assert all(m.properties["content_type"] == "text/plain" for m in received)
    tags = [m.delivery_tag for m in received]
    assert tags == sorted(tags) and len(set(tags)) == 10
    ch.basic_cancel(tag)
    ch.basic_publish(amqp.Message(b"after-cancel"), exchange="", routing_key=q)
    assert no_more_events(conn)
    assert len(received) == 10
    ok = ch.queue_declare(q, passive=True)
    assert ok.message_count == 1 and ok.consumer_count == 0


def test_server_generated_consumer_tag_and_no_ack(conn, ch, cleanup, uid):
    q = declare_queue(ch, cleanup, f"{uid}-q").queue
    got = []
    tag = ch.basic_consume(q, no_ack=True, callback=got.append)
    assert tag, "server must generate a consumer tag"
    ch.basic_publish(amqp.Message(b"one"), exchange="", routing_key=q)
    drain_until(conn, lambda: len(got) == 1)
    assert got[0].body == b"one" and got[0].delivery_info["consumer_tag"] == tag
    ch.basic_cancel(tag)
    assert ch.queue_declare(q, passive=True).message_count == 0


def test_consumer_cancel_notify_when_queue_deleted(conn, ch, uid):
    q = ch.queue_declare(f"{uid}-q").queue
    cancelled = []
    ch.basic_consume(q, callback=lambda m: None, on_cancel=cancelled.append, consumer_tag="ctag-x")
    other = conn.channel()
    other.queue_delete(q)
    drain_until(conn, lambda: cancelled)
    assert cancelled == ["ctag-x"]


def test_reject_requeue_and_discard(ch, cleanup, uid):
    q = declare_queue(ch, cleanup, f"{uid}-q").queue
    ch.basic_publish(amqp.Message(b"r1"), exchange="", routing_key=q)
    ch.basic_publish(amqp.Message(b"r2"), exchange="", routing_key=q)
    m = None
    while m is None:
        m = ch.basic_get(q)
    assert m.body == b"r1" and m.delivery_info["redelivered"] is False
    assert m.delivery_info["message_count"] == 1
    ch.basic_reject(m.delivery_tag, requeue=True)
    again = ch.basic_get(q)
    assert again.body == b"r1" and again.delivery_info["redelivered"] is True
    ch.basic_reject(again.delivery_tag, requeue=False)
    last = ch.basic_get(q)
    assert last.body == b"r2" and last.delivery_info["redelivered"] is False
    ch.basic_ack(last.delivery_tag)
    assert ch.basic_get(q) is None
    assert ch.queue_declare(q, passive=True).message_count == 0


def test_nack_multiple_requeue(ch, cleanup, uid):
    q = declare_queue(ch, cleanup, f"{uid}-q").queue
    for i in range(4):
        ch.basic_publish(amqp.Message(f"n{i}".encode()), exchange="", routing_key=q)
    time.sleep(0.05)
    msgs = [ch.basic_get(q) for _ in range(3)]
    assert [m.body for m in msgs] == [b"n0", b"n1", b"n2"]
    # basic.nack(delivery_tag, multiple, requeue): py-amqp has no wrapper, send the method.
    ch.send_method(spec.Basic.Nack, "Lbb", (msgs[1].delivery_tag, True, True))  # n0, n1 back
    ch.send_method(spec.Basic.Nack, "Lbb", (msgs[2].delivery_tag, False, False))  # n2 dropped
    bodies = []
    while True:
        m = ch.basic_get(q, no_ack=True)
        if m is None:
            break
        bodies.append((m.body, m.delivery_info["redelivered"]))
    assert sorted(bodies) == [(b"n0", True), (b"n1", True), (b"n3", False)]


def test_basic_qos_prefetch_count_limits_unacked(conn, ch, cleanup, uid):
    q = declare_queue(ch, cleanup, f"{uid}-q").queue
    for i in range(6):
        ch.basic_publish(amqp.Message(f"p{i}".encode()), exchange="", routing_key=q)
    ch.basic_qos(prefetch_size=0, prefetch_count=2, a_global=False)
    got = []
    ch.basic_consume(q, callback=got.append)
    drain_until(conn, lambda: len(got) == 2)
    assert no_more_events(conn, 0.4), "more than prefetch_count unacked deliveries"
    assert [m.body for m in got] == [b"p0", b"p1"]
    ch.basic_ack(got[0].delivery_tag)
    drain_until(conn, lambda: len(got) == 3)
    assert no_more_events(conn, 0.3)
    ch.basic_ack(got[2].delivery_tag, multiple=True)  # acks p1 and p2
    drain_until(conn, lambda: len(got) == 5)
    assert [m.body for m in got] == [b"p0", b"p1", b"p2", b"p3", b"p4"]
    assert no_more_events(conn, 0.3)


def test_basic_recover_redelivers_unacked(conn, ch, cleanup, uid):
    q = declare_queue(ch, cleanup, f"{uid}-q").queue
    got = []
    ch.basic_consume(q, callback=got.append)
    ch.basic_publish(amqp.Message(b"rec"), exchange="", routing_key=q)
    drain_until(conn, lambda: len(got) == 1)
    assert got[0].delivery_info["redelivered"] is False
    ch.basic_recover(requeue=True)
    drain_until(conn, lambda: len(got) == 2)
    assert got[1].body == b"rec" and got[1].delivery_info["redelivered"] is True
    ch.basic_ack(got[1].delivery_tag)
    ch.basic_cancel(got[1].delivery_info["consumer_tag"])
    assert ch.queue_declare(q, passive=True).message_count == 0


# --------------------------------------------------------------------------- confirms / tx


def test_publisher_confirms(conn, ch, cleanup, uid):
    q = declare_queue(ch, cleanup, f"{uid}-q").queue
    for i in range(20):
        ch.basic_publish_confirm(amqp.Message(f"c{i}".encode(), delivery_mode=2), exchange="", routing_key=q)
    # every publish returned only after its basic.ack, so all 20 are in the queue now
    assert ch.queue_declare(q, passive=True).message_count == 20

    # the same with explicit confirm_select + basic.ack events (multiple acks allowed)
    ch2 = conn.channel()
    acked = set()

    def on_ack(delivery_tag, multiple):
        if multiple:
            acked.update(t for t in range(1, delivery_tag + 1))
        else:
            acked.add(delivery_tag)

    ch2.events["basic_ack"].add(on_ack)
    ch2.confirm_select()
    for i in range(10):
        ch2.basic_publish(amqp.Message(b"x"), exchange="", routing_key=q)
    drain_until(conn, lambda: acked >= set(range(1, 11)))
    assert acked == set(range(1, 11))  # delivery tags count from 1 per channel


def test_confirm_mandatory_unroutable_is_returned_then_acked(conn, ch, uid):
    returned = []
    ch.events["basic_return"].add(lambda exc, exchange, rk, msg: returned.append((exc.reply_code, exchange, rk, msg.body)))
    # basic.return comes before the basic.ack; basic_publish_confirm still completes
    ch.basic_publish_confirm(amqp.Message(b"lost"), exchange="amq.direct", routing_key=f"{uid}-nobody", mandatory=True)
    assert returned == [(312, "amq.direct", f"{uid}-nobody", b"lost")]


def test_mandatory_return_without_handler_raises(conn, ch, uid):
    ch.basic_publish(amqp.Message(b"lost"), exchange="amq.direct", routing_key=f"{uid}-nobody", mandatory=True)
    with pytest.raises(ChannelError) as ei:
        drain_until(conn, lambda: False, timeout=TIMEOUT)
    assert ei.value.reply_code == 312
    assert "NO_ROUTE" in ei.value.reply_text


def test_transactions_commit_and_rollback(conn, ch, cleanup, uid):
    q = declare_queue(ch, cleanup, f"{uid}-q").queue
    observer = conn.channel()
    ch.tx_select()
    for i in range(3):
        ch.basic_publish(amqp.Message(f"t{i}".encode()), exchange="", routing_key=q)
    time.sleep(0.1)
    assert observer.queue_declare(q, passive=True).message_count == 0, "uncommitted publishes visible"
    ch.tx_commit()
    assert observer.queue_declare(q, passive=True).message_count == 3
    for i in range(2):
        ch.basic_publish(amqp.Message(b"rolled-back"), exchange="", routing_key=q)
    ch.tx_rollback()
    assert observer.queue_declare(q, passive=True).message_count == 3

    # acks are transactional too
    m = ch.basic_get(q)
    assert m.body == b"t0"
    ch.basic_ack(m.delivery_tag)
    ch.tx_commit()
    assert observer.queue_declare(q, passive=True).message_count == 2
    bodies = [observer.basic_get(q, no_ack=True).body for _ in range(2)]
    assert bodies == [b"t1", b"t2"]


# --------------------------------------------------------------------------- errors


def test_passive_declare_of_missing_queue_is_not_found(conn, uid):
    ch = conn.channel()
    with pytest.raises(NotFound) as ei:
        ch.queue_declare(f"{uid}-missing", passive=True)
    assert ei.value.reply_code == 404
    assert "NOT_FOUND" in ei.value.reply_text
    # (py-amqp reopens the channel object after channel.close-ok; the connection survives) a channel error
    assert conn.connected
    assert conn.channel().queue_declare("", exclusive=True).queue


def test_publish_to_missing_exchange_closes_channel_404(conn, uid):
    ch = conn.channel()
    ch.basic_publish(amqp.Message(b"x"), exchange=f"{uid}-nope", routing_key="k")
    with pytest.raises(NotFound) as ei:
        # the error arrives asynchronously; the next synchronous call surfaces it
        ch.queue_declare("", exclusive=True)
        drain_until(conn, lambda: False, timeout=2)
    assert ei.value.reply_code == 404
    assert conn.connected


def test_redeclare_with_different_type_is_precondition_failed(conn, cleanup, uid):
    ex = f"{uid}-x"
    ch = conn.channel()
    ch.exchange_declare(ex, "direct", auto_delete=False)
    cleanup["exchanges"].append(ex)
    with pytest.raises(PreconditionFailed) as ei:
        ch.exchange_declare(ex, "fanout", auto_delete=False)
    assert ei.value.reply_code == 406
    ch = conn.channel()
    q = f"{uid}-q"
    ch.queue_declare(q, durable=False, auto_delete=False)
    cleanup["queues"].append(q)
    with pytest.raises(PreconditionFailed) as ei:
        ch.queue_declare(q, durable=True, auto_delete=False)
    assert ei.value.reply_code == 406
    assert "PRECONDITION_FAILED" in ei.value.reply_text


def test_ack_unknown_delivery_tag_is_precondition_failed(conn):
    ch = conn.channel()
    ch.basic_ack(999)
    with pytest.raises(PreconditionFailed) as ei:
        ch.queue_declare("", exclusive=True)
        drain_until(conn, lambda: False, timeout=2)
    assert ei.value.reply_code == 406


def test_exclusive_queue_from_other_connection_is_resource_locked(broker, conn, uid):
    q = conn.channel().queue_declare(f"{uid}-excl", exclusive=True).queue
    other = connect(broker)
    try:
        with pytest.raises(ResourceLocked) as ei:
            other.channel().queue_declare(q, passive=True)
        assert ei.value.reply_code == 405
        assert "RESOURCE_LOCKED" in ei.value.reply_text
    finally:
        other.close()
    # the exclusive queue goes away with its connection
    conn.close()
    c = connect(broker)
    try:
        with pytest.raises(NotFound):
            c.channel().queue_declare(q, passive=True)
    finally:
        c.close()


# --------------------------------------------------------------------------- heartbeats


def test_heartbeats_keep_idle_connection_alive(broker, uid):
    c = connect(broker, heartbeat=2)
    try:
        assert c.heartbeat == 2  # negotiated in connection.tune/tune-ok
        ch = c.channel()
        q = ch.queue_declare(f"{uid}-hb", exclusive=True).queue
        recv_before = c.bytes_recv
        end = time.monotonic() + 5.0
        while time.monotonic() < end:
            c.heartbeat_tick()
            try:
                c.drain_events(timeout=0.25)
            except socket.timeout:
                pass
        # the server sent heartbeat frames while we were idle (nothing else was going on)
        assert c.bytes_recv > recv_before
        assert c.connected
        ch.basic_publish(amqp.Message(b"still alive"), exchange="", routing_key=q)
        got = None
        deadline = time.monotonic() + TIMEOUT
        while got is None and time.monotonic() < deadline:
            got = ch.basic_get(q, no_ack=True)
        assert got.body == b"still alive"
    finally:
        c.close()


def test_silent_client_is_disconnected_after_missed_heartbeats(broker):
    c = connect(broker, heartbeat=1)
    try:
        ch = c.channel()
        assert ch.queue_declare("", exclusive=True).queue
        # never call heartbeat_tick: the client sends nothing, so the server must give up
        deadline = time.monotonic() + 8.0
        closed = False
        while time.monotonic() < deadline and not closed:
            time.sleep(0.5)
            try:
                c.sock.setblocking(True)
                c.sock.settimeout(0.01)
                data = c.sock.recv(65536, socket.MSG_PEEK)
                if data == b"":
                    closed = True
                else:
                    # heartbeat frames from the server: consume them, keep waiting
                    c.sock.recv(len(data))
            except socket.timeout:
                pass
            except OSError:
                closed = True
        assert closed, "server kept a connection whose client missed all heartbeats"
    finally:
        c.collect()
