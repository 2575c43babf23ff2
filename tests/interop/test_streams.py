"""Interop: stream queues (x-queue-type: stream) consumed over AMQP 0-9-1, as RabbitMQ 3.10 offers them.

What a pika (and kombu) user sees: the declaration rules and their errors, consumers reading the
same messages independently from an offset ("first", "last", "next", a number, a timestamp, an
interval), the x-stream-offset header, prefetch and acks, what is refused (basic.get, purge,
no-ack, nack), retention by size, and (Warren only) the data surviving SIGTERM and SIGKILL.
Every test deletes the streams it makes (they keep data on disk).
"""

import datetime
import time

import pika
import pika.exceptions as pex
import pytest

from durability_helpers import restartable_broker  # noqa: F401  (a fixture)

STREAM = {"x-queue-type": "stream"}


def connect(broker):
    return pika.BlockingConnection(pika.ConnectionParameters(host=broker.host, port=broker.port))


@pytest.fixture
def streams(broker):
    """Names of streams to delete after the test."""
    names = []
    yield names
    c = connect(broker)
    try:
        for n in names:
            c.channel().queue_delete(n)
    finally:
        c.close()


def declare(ch, name, **args):
    return ch.queue_declare(name, durable=True, arguments=dict(STREAM, **args))


def publish_confirmed(ch, name, bodies, **props):
    """Publishes each body and waits for its confirm: each message is a chunk of its own."""
    for b in bodies:
        ch.basic_publish("", name, b.encode() if isinstance(b, str) else b, pika.BasicProperties(**props))


def consume(conn, name, offset=None, prefetch=100, ack=True, wait=0.6, until=None):
    """Consumes on a channel of its own; returns [(body, x-stream-offset)], stopping after `until`
    messages or when nothing arrives for `wait` seconds."""
    ch = conn.channel()
    ch.basic_qos(prefetch_count=prefetch)
    got = []

    def cb(c, m, p, b):
        got.append((b.decode(), (p.headers or {}).get("x-stream-offset")))
        if ack:
            c.basic_ack(m.delivery_tag)

    args = None if offset is None else {"x-stream-offset": offset}
    tag = ch.basic_consume(name, cb, arguments=args)
    seen, deadline = -1, time.monotonic() + wait
    while time.monotonic() < deadline and (until is None or len(got) < until):
        conn.process_data_events(0.05)
        if len(got) != seen:
            seen, deadline = len(got), time.monotonic() + wait
    ch.basic_cancel(tag)
    ch.close()
    return got


def expect_close(fn, code, text):
    with pytest.raises((pex.ChannelClosedByBroker, pex.ConnectionClosedByBroker)) as e:
        fn()
    assert e.value.reply_code == code
    assert e.value.reply_text == text
    return e.value


# ---------------------------------------------------------------------------
# Declaration


def test_declaration_rules(broker, uid, streams):
    name = f"{uid}-s"
    where = f"queue '{name}' in vhost '/'"
    for kwargs, text in [
        (dict(durable=False), f"invalid property 'non-durable' for {where}"),
        (dict(durable=True, exclusive=True), f"invalid property 'exclusive-owner' for {where}"),
        (dict(durable=True, auto_delete=True), f"invalid property 'auto-delete' for {where}"),
    ]:
        c = connect(broker)
        expect_close(lambda: c.channel().queue_declare(name, arguments=STREAM, **kwargs), 406,
                     f"PRECONDITION_FAILED - {text}")
        c.close()
    for key, value, text in [
        ("x-message-ttl", 1000, f"invalid arg 'x-message-ttl' for {where} of queue type rabbit_stream_queue"),
        ("x-max-length", 10, f"invalid arg 'x-max-length' for {where} of queue type rabbit_stream_queue"),
        ("x-overflow", "reject-publish", f"invalid arg 'x-overflow' for {where} of queue type rabbit_stream_queue"),
        ("x-dead-letter-exchange", "x",
         f"invalid arg 'x-dead-letter-exchange' for {where} of queue type rabbit_stream_queue"),
        ("x-max-age", 5, f"invalid arg 'x-max-age' for {where}: {{unacceptable_type,signedint}}"),
        ("x-max-length-bytes", -1, f"invalid arg 'x-max-length-bytes' for {where}: {{value_negative,-1}}"),
    ]:
        c = connect(broker)
        expect_close(lambda: declare(c.channel(), name, **{key: value}), 406, f"PRECONDITION_FAILED - {text}")
        c.close()
    c = connect(broker)
    expect_close(lambda: c.channel().queue_declare("", durable=True, arguments=STREAM), 406,
                 "PRECONDITION_FAILED - Cannot declare a server-named queue for type rabbit_stream_queue")
    c.close()

    c = connect(broker)
    ch = c.channel()
    streams.append(name)
    args = {"x-max-age": "7D", "x-max-length-bytes": 10**9, "x-stream-max-segment-size-bytes": 10**6}
    ok = declare(ch, name, **args)
    assert (ok.method.message_count, ok.method.consumer_count) == (0, 0)
    declare(ch, name, **args)
    expect_close(lambda: declare(ch, name, **dict(args, **{"x-max-age": "1h"})), 406,
                 f"PRECONDITION_FAILED - inequivalent arg 'x-max-age' for {where}: received '1h' but current is '7D'")
    ch = c.channel()
    no_type = {k: v for k, v in args.items()}
    expect_close(lambda: ch.queue_declare(name, durable=True, arguments=no_type), 406,
                 f"PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for {where}: "
                 "received none but current is the value 'stream' of type 'longstr'")
    c.close()


def test_invalid_max_age_closes_the_connection(broker, uid):
    c = connect(broker)
    expect_close(lambda: declare(c.channel(), f"{uid}-s", **{"x-max-age": "soon"}), 541, "INTERNAL_ERROR")


# ---------------------------------------------------------------------------
# Consuming


def test_consumers_need_prefetch_and_acks_and_get_purge_nack_are_refused(broker, uid, streams):
    name = f"{uid}-s"
    where = f"queue '{name}' in vhost '/'"
    c = connect(broker)
    declare(c.channel(), name)
    streams.append(name)
    c.channel().basic_publish("", name, b"x")
    ch = c.channel()
    expect_close(lambda: (ch.basic_consume(name, lambda *a: None), c.process_data_events(0.5)), 406,
                 f"PRECONDITION_FAILED - consumer prefetch count is not set for '{where}'")

    def no_ack():
        ch = c.channel()
        ch.basic_qos(prefetch_count=10)
        ch.basic_consume(name, lambda *a: None, auto_ack=True)
        c.process_data_events(0.5)
    expect_close(no_ack, 540, f"NOT_IMPLEMENTED - automatic acknowledgement not supported by stream queues {where}")

    def global_qos():
        ch = c.channel()
        ch.basic_qos(prefetch_count=10)
        ch.basic_qos(prefetch_count=10, global_qos=True)
        ch.basic_consume(name, lambda *a: None)
        c.process_data_events(0.5)
    c = connect(broker)
    expect_close(global_qos, 540, f"NOT_IMPLEMENTED - {where} does not support global qos")

    c = connect(broker)
    expect_close(lambda: c.channel().basic_get(name), 540,
                 f"NOT_IMPLEMENTED - basic.get not supported by stream queues {where}")
    c = connect(broker)
    expect_close(lambda: c.channel().queue_purge(name), 540,
                 f"NOT_IMPLEMENTED - queue.purge not supported by stream queues {where}")

    c = connect(broker)
    ch = c.channel()
    ch.basic_qos(prefetch_count=10)
    tags = []
    ch.basic_consume(name, lambda c_, m, p, b: tags.append(m.delivery_tag), arguments={"x-stream-offset": "first"})
    while not tags:
        c.process_data_events(0.1)

    def nack():
        ch.basic_nack(tags[0], requeue=True)
        c.process_data_events(0.5)
    expect_close(nack, 540, f"NOT_IMPLEMENTED - basic.nack and basic.reject not supported by stream queues {where}")


def test_offsets_and_the_offset_header(broker, uid, streams):
    name = f"{uid}-s"
    c = connect(broker)
    ch = c.channel()
    ch.confirm_delivery()
    declare(ch, name)
    streams.append(name)
    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=2)
    publish_confirmed(ch, name, [f"m{i}" for i in range(5)], headers={"a": 1, "b": "x"}, delivery_mode=1)
    everything = [(f"m{i}", i) for i in range(5)]
    assert consume(c, name, "first", until=5) == everything
    assert consume(c, name, "last", until=1) == [("m4", 4)]
    assert consume(c, name, "next") == []
    assert consume(c, name) == []  # "next" is the default
    assert consume(c, name, 2, until=3) == everything[2:]
    assert consume(c, name, 100) == []
    assert consume(c, name, before, until=5) == everything
    assert consume(c, name, datetime.datetime.now() + datetime.timedelta(hours=1)) == []
    assert consume(c, name, "1h", until=5) == everything

    # the publisher's headers are kept, the offset added; delivery is never marked redelivered
    ch = c.channel()
    ch.basic_qos(prefetch_count=1)
    seen = []
    ch.basic_consume(name, lambda c_, m, p, b: seen.append((m, p)), arguments={"x-stream-offset": 3})
    while not seen:
        c.process_data_events(0.1)
    m, p = seen[0]
    assert p.headers == {"a": 1, "b": "x", "x-stream-offset": 3}
    assert (m.redelivered, m.exchange, m.routing_key, p.delivery_mode) == (False, "", name, 1)

    # the stream keeps every message: declare-ok says 0 ready, as RabbitMQ says
    ok = declare(c.channel(), name)
    assert ok.method.message_count == 0
    c.close()


def test_independent_consumers_and_the_tail(broker, uid, streams):
    name = f"{uid}-s"
    pub = connect(broker)
    ch = pub.channel()
    ch.confirm_delivery()
    declare(ch, name)
    streams.append(name)
    publish_confirmed(ch, name, ["a", "b", "c"])

    readers = []
    for offset in ("first", 1, "next"):
        conn = connect(broker)
        rch = conn.channel()
        rch.basic_qos(prefetch_count=10)
        got = []
        rch.basic_consume(name, lambda c_, m, p, b, got=got: (got.append(b.decode()), c_.basic_ack(m.delivery_tag)),
                          arguments={"x-stream-offset": offset})
        readers.append((conn, got))
    for conn, _ in readers:
        conn.process_data_events(0.3)
    publish_confirmed(ch, name, ["d", "e"])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(len(g) < n for (_, g), n in zip(readers, (5, 4, 2))):
        for conn, _ in readers:
            conn.process_data_events(0.05)
    assert [g for _, g in readers] == [["a", "b", "c", "d", "e"], ["b", "c", "d", "e"], ["d", "e"]]
    # RabbitMQ's declare-ok counts neither the messages nor the consumers of a stream
    ok = declare(pub.channel(), name)
    assert (ok.method.message_count, ok.method.consumer_count) == (0, 0)
    for conn, _ in readers:
        conn.close()
    # consuming removed nothing
    assert [b for b, _ in consume(pub, name, "first", until=5)] == ["a", "b", "c", "d", "e"]
    pub.close()


def test_prefetch_bounds_unacked_deliveries(broker, uid, streams):
    name = f"{uid}-s"
    c = connect(broker)
    ch = c.channel()
    ch.confirm_delivery()
    declare(ch, name)
    streams.append(name)
    publish_confirmed(ch, name, [f"p{i}" for i in range(10)])
    ch = c.channel()
    ch.basic_qos(prefetch_count=3)
    got = []
    ch.basic_consume(name, lambda c_, m, p, b: got.append((m.delivery_tag, b.decode())),
                     arguments={"x-stream-offset": "first"})
    c.process_data_events(0.5)
    assert [b for _, b in got] == ["p0", "p1", "p2"]
    ch.basic_ack(got[1][0], multiple=True)
    c.process_data_events(0.5)
    assert [b for _, b in got] == ["p0", "p1", "p2", "p3", "p4"]
    # closing the channel with unacked deliveries gives nothing back to anyone
    ch.close()
    assert [b for b, _ in consume(c, name, "first", until=10)] == [f"p{i}" for i in range(10)]
    c.close()


def test_kombu_consumer_with_offset(broker, uid, streams):
    kombu = pytest.importorskip("kombu")
    name = f"{uid}-s"
    streams.append(name)
    with kombu.Connection(f"amqp://guest:guest@{broker.host}:{broker.port}//") as conn:
        queue = kombu.Queue(name, durable=True, queue_arguments=STREAM,
                            consumer_arguments={"x-stream-offset": "first"})
        queue(conn.default_channel).declare()
        with conn.Producer() as producer:
            for i in range(3):
                producer.publish({"n": i}, routing_key=name, serializer="json")
        got = []

        def on_message(body, message):
            got.append((body["n"], message.headers["x-stream-offset"]))
            message.ack()

        with conn.Consumer(queue, callbacks=[on_message], prefetch_count=10):
            deadline = time.monotonic() + 5
            while len(got) < 3 and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.2)
                except TimeoutError:
                    pass
        assert got == [(0, 0), (1, 1), (2, 2)]


# ---------------------------------------------------------------------------
# Retention


def test_retention_by_size_drops_the_oldest_segments(broker, uid, streams):
    name = f"{uid}-s"
    c = connect(broker)
    ch = c.channel()
    ch.confirm_delivery()
    declare(ch, name, **{"x-max-length-bytes": 20000, "x-stream-max-segment-size-bytes": 5000})
    streams.append(name)
    body = "x" * 1000
    publish_confirmed(ch, name, [f"{i:04d}{body}" for i in range(100)])
    got = consume(c, name, "first", until=100)
    # whole segments went, oldest first; what is left is the newest messages, in order (offsets
    # grow but need not be dense: RabbitMQ gives offsets to its own records at each segment)
    assert 0 < len(got) < 60
    numbers = [int(b[:4]) for b, _ in got]
    assert numbers == list(range(100 - len(got), 100))
    offsets = [o for _, o in got]
    assert offsets == sorted(set(offsets))
    c.close()


# ---------------------------------------------------------------------------
# Restarts (Warren only: they stop the broker)


@pytest.mark.warren_only
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_stream_survives_restart(restartable_broker, how):  # noqa: F811
    import signal
    h = restartable_broker
    c = connect(h)
    ch = c.channel()
    ch.confirm_delivery()
    declare(ch, "s", **{"x-stream-max-segment-size-bytes": 4000})
    ch.queue_bind("s", "amq.fanout")
    publish_confirmed(ch, "s", [f"before-{i}-" + "y" * 200 for i in range(40)])
    c.close()
    h.restart(getattr(signal, how))
    c = connect(h)
    ch = c.channel()
    ch.confirm_delivery()
    ch.basic_publish("amq.fanout", "", b"after")  # the binding survived too
    got = consume(c, "s", "first", until=41)
    assert [o for _, o in got] == list(range(41))
    assert [b for b, _ in got][:40] == [f"before-{i}-" + "y" * 200 for i in range(40)]
    assert got[40] == ("after", 40)
    assert consume(c, "s", 39, until=2) == [(got[39][0], 39), ("after", 40)]
    c.close()


# ---------------------------------------------------------------------------
# oslo.messaging with rabbit_stream_fanout=True: fanout through one stream


def test_oslo_messaging_stream_fanout_reaches_every_server(broker, uid):
    pytest.importorskip("oslo_messaging")
    import oslo_messaging.opts
    from test_oslo_messaging import CalcEndpoint, OsloEnv, wait_for

    env = OsloEnv(broker, uid)
    try:
        for group, opts in oslo_messaging.opts.list_opts():
            if group == "oslo_messaging_rabbit":
                env.conf.register_opts(opts, group=group)
        for key, value in (("rabbit_stream_fanout", True), ("rabbit_qos_prefetch_count", 10),
                           ("rabbit_transient_quorum_queue", True)):
            env.conf.set_override(key, value, group="oslo_messaging_rabbit")
        topic = f"{uid}-rpc"
        env.queues.add(f"{topic}_fanout")  # the stream, shared by the servers
        eps = [CalcEndpoint(f"s{i}") for i in range(3)]
        for i, ep in enumerate(eps):
            env.rpc_server(topic, f"s{i}", [ep])
        client = env.rpc_client(topic)
        assert client.call({}, "add", a=1, b=2) == 3  # the servers are consuming
        for n in range(3):
            client.prepare(fanout=True).cast({}, "record", value=f"all-{n}")
        wait_for(lambda: all(ep.casts == ["all-0", "all-1", "all-2"] for ep in eps), timeout=10,
                 what="every fanout cast on every server")
    finally:
        env.close()
