"""Durability: what a client sees across broker restarts, clean (SIGTERM) and kill -9.

Each test runs its own broker (`restartable_broker`: same data dir and port on every restart) and
checks only what clients observe (confirms, deliveries, redelivered flags, 404s), plus the data
directory where the test is about disk use or damaged files. File formats: durability_helpers.py.

The crash test is seeded (DURABILITY_SEED, default below) so a failure can be replayed.
"""

import os
import random
import signal
import socket
import struct
import threading
import time

import amqp
import pika
import pika.exceptions as pex
import pytest

from durability_helpers import (  # noqa: F401  (restartable_broker is a fixture)
    dir_size,
    metadata_log,
    queue_dir,
    read_records,
    restartable_broker,
    segment_files,
    wait_until,
)

pytestmark = pytest.mark.warren_only

PERSISTENT = 2
TRANSIENT = 1
SEED = int(os.environ.get("DURABILITY_SEED", "20250611"))


# ---------------------------------------------------------------------------
# Clients


def connect(h):
    """A pika connection with short timeouts (a dead broker must not hang a test)."""
    return pika.BlockingConnection(
        pika.ConnectionParameters(
            host=h.host, port=h.port, connection_attempts=1, socket_timeout=3, stack_timeout=5,
            blocked_connection_timeout=5,
        )
    )


def amqp_connect(h, timeout=3.0):
    c = amqp.Connection(
        host=f"{h.host}:{h.port}", connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout)
    c.connect()
    return c


def body_of(n: int, size: int = 0) -> bytes:
    head = b"%08d" % n
    return head + b"." * max(0, size - len(head))


def number_of(body: bytes) -> int:
    return int(body[:8])


def publish_confirmed(ch, queue, numbers, mode=PERSISTENT, size=0, exchange=""):
    """Publishes numbered messages on a confirm channel (each call returns once confirmed)."""
    for n in numbers:
        ch.basic_publish(exchange, queue, body_of(n, size), pika.BasicProperties(delivery_mode=mode))


def peek_all(conn, queue, limit=100_000):
    """Every message of the queue as (number, redelivered), left in the queue: basic.get without
    ack, then the channel is closed, which requeues them."""
    ch = conn.channel()
    out = []
    for _ in range(limit):
        method, _props, body = ch.basic_get(queue, auto_ack=False)
        if method is None:
            break
        out.append((number_of(body), method.redelivered))
    ch.close()
    return out


def take_all(conn, queue, limit=100_000):
    """Consumes (auto-ack) every message of the queue; returns the numbers."""
    ch = conn.channel()
    out = []
    for _ in range(limit):
        method, _props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            break
        out.append(number_of(body))
    ch.close()
    return out


def message_count(conn, queue) -> int:
    ch = conn.channel()
    n = ch.queue_declare(queue, passive=True).method.message_count
    ch.close()
    return n


def exists(conn_factory, kind, name) -> bool:
    """Passive declare of a queue or exchange on a fresh connection: True, or False on 404."""
    c = conn_factory()
    try:
        ch = c.channel()
        if kind == "queue":
            ch.queue_declare(name, passive=True)
        else:
            ch.exchange_declare(name, passive=True)
        return True
    except pex.ChannelClosedByBroker as e:
        assert e.reply_code == 404, e
        return False
    finally:
        if c.is_open:
            c.close()


def restart_serving(h, sig, *conns):
    """Restarts the broker while still processing the I/O of open pika connections, so a
    SIGTERM shutdown (which asks clients to close and waits for them) is not held up by a client
    that is not reading."""
    stopper = threading.Thread(target=h.stop, args=(sig,))
    stopper.start()
    while stopper.is_alive():
        for c in conns:
            try:
                if c.is_open:
                    c.process_data_events(time_limit=0.02)
            except Exception:
                pass
        time.sleep(0.005)
    stopper.join()
    close_quietly(*conns)
    h.start()


def close_quietly(*conns):
    for c in conns:
        try:
            if isinstance(c, amqp.Connection):
                c.collect()
            elif c is not None and c.is_open:
                c.close()
        except Exception:
            pass


# ---------------------------------------------------------------------------
# 1. Crash test: kill -9 at random moments while a confirming publisher streams


# Errors a client sees when the broker dies under it.
CONNECTION_LOST = (OSError, amqp.exceptions.AMQPError, amqp.exceptions.RecoverableConnectionError)


@pytest.mark.timeout(120)  # ~10 s on an idle machine; more while other builds run
def test_kill9_during_confirmed_publishing_loses_nothing_confirmed(restartable_broker):
    h = restartable_broker
    rng = random.Random(SEED)
    cycles = 6
    window = 64  # unconfirmed publishes in flight
    ack_every = 40  # publishes between two acks of held deliveries during the publish phase
    rate = 1500  # publishes per second at most, to keep the queue (and the test) small
    q = "crash-q"

    setup = connect(h)
    setup.channel().queue_declare(q, durable=True)
    setup.close()

    next_number = 0
    sent = set()  # published (confirmed or not)
    confirmed = set()  # basic.ack received from the broker for the publish
    acked = set()  # consumer ack followed by a successful round trip: must never come back
    ack_maybe = set()  # consumer ack sent but the broker died before a round trip confirmed it
    delivered_ever = set()
    held = []  # (delivery tag, number): delivered, unacked, kept across the kill
    consumer = None
    consumer_ch = None
    stats = []

    for cycle in range(cycles + 1):
        # ---- verify what came back (the first round checks an empty start) ----------------
        consumer = amqp_connect(h)
        consumer_ch = consumer.channel()
        _, count, _ = consumer_ch.queue_declare(q, passive=True)
        got = []  # (number, redelivered, delivery tag)
        consumer_ch.basic_qos(0, 0, False)
        ctag = consumer_ch.basic_consume(
            q, no_ack=False,
            callback=lambda m: got.append((number_of(m.body), m.delivery_info["redelivered"], m.delivery_tag)))
        deadline = time.monotonic() + 15
        while len(got) < count and time.monotonic() < deadline:
            try:
                consumer.drain_events(timeout=0.2)
            except socket.timeout:
                pass
        numbers = [n for n, _, _ in got]
        where = f"cycle {cycle} (seed {SEED})"
        assert len(got) == count, f"{where}: queue reported {count} messages but {len(got)} were delivered"
        dups = sorted({n for n in numbers if numbers.count(n) > 1}) if len(set(numbers)) != len(numbers) else []
        assert not dups, f"{where}: delivered twice in one consumption: {dups[:20]}"
        present = set(numbers)
        assert not (present & acked), f"{where}: acked messages came back: {sorted(present & acked)[:20]}"
        assert present <= sent, f"{where}: unknown messages: {sorted(present - sent)[:20]}"
        must_be_there = (confirmed | {n for _, n in held}) - acked - ack_maybe
        lost = must_be_there - present
        assert not lost, f"{where}: {len(lost)} confirmed or previously delivered messages lost: {sorted(lost)[:20]}"
        fresh = [n for n in numbers if n not in delivered_ever]
        assert fresh == sorted(fresh), f"{where}: never-delivered messages out of publish order"
        assert numbers == sorted(numbers), f"{where}: recovered messages not in publish order"
        not_flagged = [n for n, redelivered, _ in got if n in delivered_ever and not redelivered]
        assert not not_flagged, f"{where}: delivered before the crash but redelivered=False: {not_flagged[:20]}"
        # An uncertain ack whose message did not come back took effect: it must stay gone.
        acked |= ack_maybe - present
        ack_maybe.clear()
        delivered_ever |= present
        stats.append((cycle, count, len(confirmed), len(acked)))

        # ---- ack some of them (safely), hold the rest unacked across the next kill ---------
        to_ack = [(tag, n) for n, _, tag in got if rng.random() < 0.4]
        for tag, _ in to_ack:
            consumer_ch.basic_ack(tag)
        consumer_ch.basic_qos(0, 0, False)  # round trip: the acks above were processed
        acked |= {n for _, n in to_ack}
        consumer_ch.basic_cancel(ctag)  # keep the deliveries, receive nothing new
        acked_tags = {tag for tag, _ in to_ack}
        held = [(tag, n) for n, _, tag in got if tag not in acked_tags]
        rng.shuffle(held)

        if cycle == cycles:
            break

        # ---- publish with confirms until the broker is killed -------------------------------
        publisher = amqp_connect(h)
        pch = publisher.channel()
        pch.confirm_select()
        inflight = {}  # delivery tag -> number
        nacked = []
        next_tag = [1]

        def on_ack(tag, multiple, inflight=inflight):
            for t in [t for t in inflight if t <= tag] if multiple else [tag]:
                confirmed.add(inflight.pop(t))

        pch.events["basic_ack"].add(on_ack)
        pch.events["basic_nack"].add(lambda tag, multiple: nacked.append(tag))

        killed_at = []
        pid = h.broker.pid

        def kill():
            killed_at.append(time.monotonic())
            os.kill(pid, signal.SIGKILL)

        delay = rng.uniform(0.2, 1.5)
        timer = threading.Timer(delay, kill)
        started = time.monotonic()
        timer.start()
        since_ack = 0
        error = None
        confirmed_before = len(confirmed)
        first_number = next_number
        try:
            while time.monotonic() - started < 30:
                while len(inflight) < window and next_number - first_number < rate * (time.monotonic() - started):
                    n = next_number
                    next_number += 1
                    sent.add(n)
                    inflight[next_tag[0]] = n
                    next_tag[0] += 1
                    pch.basic_publish(amqp.Message(body_of(n, 64), delivery_mode=PERSISTENT), exchange="", routing_key=q)
                    since_ack += 1
                if held and since_ack >= ack_every:
                    since_ack = 0
                    tag, n = held.pop()
                    ack_maybe.add(n)
                    consumer_ch.basic_ack(tag)
                    consumer_ch.basic_qos(0, 0, False)  # round trip after the ack
                    ack_maybe.discard(n)
                    acked.add(n)
                try:
                    publisher.drain_events(timeout=0.01)
                except socket.timeout:
                    pass
        except CONNECTION_LOST as e:
            error = e
            error_at = time.monotonic()
        timer.join()
        h.kill()  # reap (the timer already sent SIGKILL)
        assert killed_at, f"cycle {cycle}: the broker was not killed"
        assert error is not None, f"cycle {cycle}: publishing went on for 30 s after the kill"
        assert error_at >= killed_at[0], f"cycle {cycle}: client error before the kill: {error!r}"
        assert not nacked, f"cycle {cycle}: broker nacked publishes {nacked[:10]}"
        stats[-1] += (round(delay, 2), len(confirmed) - confirmed_before, len(inflight))
        close_quietly(publisher, consumer)
        h.start()

    # Everything is consumed and acked now except `held`; ack those, restart cleanly: empty.
    for tag, n in held:
        consumer_ch.basic_ack(tag)
        acked.add(n)
    consumer_ch.basic_qos(0, 0, False)
    consumer.close()
    assert confirmed <= delivered_ever, f"never delivered: {sorted(confirmed - delivered_ever)[:20]}"
    h.restart(signal.SIGTERM)
    c = connect(h)
    assert message_count(c, q) == 0
    c.close()
    print("crash cycles (cycle, recovered, confirmed total, acked total, delay, confirmed this cycle, in flight):")
    for s in stats:
        print("  ", s)
    assert len(confirmed) > 100, "too few confirmed publishes for the test to mean anything"


# ---------------------------------------------------------------------------
# 2. Topology survives restarts


def build_topology(conn, u):
    ch = conn.channel()
    ch.confirm_delivery()
    for kind in ("direct", "fanout", "topic", "headers"):
        ch.exchange_declare(f"{u}.{kind}", kind, durable=True)
    ch.exchange_declare(f"{u}.internal", "topic", durable=True, internal=True)
    ch.exchange_declare(f"{u}.hdst", "fanout", durable=True, auto_delete=False)

    queues = {
        "direct": {"x-max-length": 3},
        "topic": {"x-message-ttl": 600_000},
        "headers": {"x-queue-mode": "lazy"},
        "e2e": {"x-max-length-bytes": 1_000_000, "x-overflow": "reject-publish"},
        "hdst": {},
        "amq": {"x-expires": 3_600_000},
        "msgs": {},
    }
    for name, args in queues.items():
        ch.queue_declare(f"{u}.q.{name}", durable=True, arguments=args)
    ch.queue_bind(f"{u}.q.direct", f"{u}.direct", "k1")
    ch.queue_bind(f"{u}.q.topic", f"{u}.topic", "a.*.c")
    ch.queue_bind(f"{u}.q.headers", f"{u}.headers", "", arguments={"x-match": "all", "color": "red", "size": "big"})
    ch.queue_bind(f"{u}.q.e2e", f"{u}.internal", "b.#")
    ch.queue_bind(f"{u}.q.hdst", f"{u}.hdst", "")
    ch.queue_bind(f"{u}.q.amq", "amq.topic", f"{u}.amq.#")
    # exchange-to-exchange: fanout -> internal topic; headers -> fanout, with x-match arguments
    ch.exchange_bind(destination=f"{u}.internal", source=f"{u}.fanout", routing_key="ignored")
    ch.exchange_bind(destination=f"{u}.hdst", source=f"{u}.headers", routing_key="",
                     arguments={"x-match": "any", "route": "e2e", "other": 1})

    # transient things, and an exclusive durable queue: all gone after a restart
    ch.exchange_declare(f"{u}.transient-x", "fanout", durable=False)
    ch.queue_declare(f"{u}.tq", durable=False)
    ch.queue_bind(f"{u}.tq", f"{u}.direct", "k1")  # durable exchange -> transient queue
    ch.queue_bind(f"{u}.q.msgs", f"{u}.transient-x", "")  # transient exchange -> durable queue
    ch.exchange_bind(destination=f"{u}.transient-x", source=f"{u}.fanout", routing_key="")
    ch.queue_declare(f"{u}.xq", durable=True, exclusive=True)

    # durable things deleted before the restart: must stay deleted
    ch.queue_declare(f"{u}.gone-q", durable=True)
    ch.queue_bind(f"{u}.gone-q", f"{u}.direct", "k1")
    ch.queue_delete(f"{u}.gone-q")
    ch.exchange_declare(f"{u}.gone-x", "topic", durable=True)
    ch.exchange_bind(destination=f"{u}.gone-x", source=f"{u}.fanout", routing_key="")
    ch.queue_bind(f"{u}.q.topic", f"{u}.gone-x", "#")
    ch.exchange_delete(f"{u}.gone-x")
    ch.queue_bind(f"{u}.q.direct", f"{u}.direct", "k-unbound")
    ch.queue_unbind(f"{u}.q.direct", f"{u}.direct", "k-unbound")
    ch.queue_bind(f"{u}.q.headers", f"{u}.headers", "", arguments={"x-match": "any", "gone": "yes"})
    ch.queue_unbind(f"{u}.q.headers", f"{u}.headers", "", arguments={"x-match": "any", "gone": "yes"})
    ch.exchange_bind(destination=f"{u}.hdst", source=f"{u}.topic", routing_key="z.#")
    ch.exchange_unbind(destination=f"{u}.hdst", source=f"{u}.topic", routing_key="z.#")

    # messages: persistent and transient into a durable queue; persistent into a transient queue
    for i in range(6):
        ch.basic_publish("", f"{u}.q.msgs", body_of(i), pika.BasicProperties(delivery_mode=PERSISTENT if i % 2 == 0 else TRANSIENT))
    for i in range(3):
        ch.basic_publish("", f"{u}.tq", body_of(100 + i), pika.BasicProperties(delivery_mode=PERSISTENT))
    ch.close()
    return queues


def check_topology(h, u, queues):
    conn = connect(h)
    factory = lambda: connect(h)  # noqa: E731

    # exchanges and queues that must exist / must not
    for kind in ("direct", "fanout", "topic", "headers", "internal", "hdst"):
        assert exists(factory, "exchange", f"{u}.{kind}"), f"durable exchange {u}.{kind} lost"
    for name in queues:
        assert exists(factory, "queue", f"{u}.q.{name}"), f"durable queue {u}.q.{name} lost"
    for kind, name in [("exchange", f"{u}.transient-x"), ("queue", f"{u}.tq"), ("queue", f"{u}.xq"),
                       ("queue", f"{u}.gone-q"), ("exchange", f"{u}.gone-x")]:
        assert not exists(factory, kind, name), f"{kind} {name} should not exist after the restart"

    # types and flags came back: same declaration is fine, another type is refused
    ch = conn.channel()
    for kind in ("direct", "fanout", "topic", "headers"):
        ch.exchange_declare(f"{u}.{kind}", kind, durable=True)
    ch.exchange_declare(f"{u}.internal", "topic", durable=True, internal=True)
    with pytest.raises(pex.ChannelClosedByBroker) as ei:
        ch.exchange_declare(f"{u}.direct", "fanout", durable=True)
    assert ei.value.reply_code == 406
    # arguments came back: the same arguments are equivalent, others are refused
    ch = conn.channel()
    for name, args in queues.items():
        ch.queue_declare(f"{u}.q.{name}", durable=True, arguments=args)
    with pytest.raises(pex.ChannelClosedByBroker) as ei:
        ch.queue_declare(f"{u}.q.direct", durable=True, arguments={"x-max-length": 4})
    assert ei.value.reply_code == 406
    ch = conn.channel()
    with pytest.raises(pex.ChannelClosedByBroker) as ei:
        ch.basic_publish(f"{u}.internal", "b.1", b"x")
        ch.queue_declare("", exclusive=True)  # round trip to see the channel close
    assert ei.value.reply_code == 403, "internal flag lost"

    # messages: only the persistent ones, in order
    assert peek_all(conn, f"{u}.q.msgs") == [(0, True), (2, True), (4, True)]
    take_all(conn, f"{u}.q.msgs")

    # routing: every durable binding works, the removed ones do not
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare(f"{u}.tq", durable=False)  # a new transient queue: the old binding must not be back
    def pub(exchange, key, n, headers=None):
        ch.basic_publish(exchange, key, body_of(n), pika.BasicProperties(delivery_mode=PERSISTENT, headers=headers))

    for n in range(5):
        pub(f"{u}.direct", "k1", n)
    pub(f"{u}.direct", "k-unbound", 90)
    pub(f"{u}.topic", "a.b.c", 10)
    pub(f"{u}.topic", "a.b", 91)
    pub(f"{u}.topic", "z.q", 92)  # unbound e2e
    pub(f"{u}.headers", "", 20, {"color": "red", "size": "big"})
    pub(f"{u}.headers", "", 93, {"color": "red"})
    pub(f"{u}.headers", "", 94, {"gone": "yes"})  # unbound headers binding
    pub(f"{u}.fanout", "b.1", 30)  # fanout -> internal topic b.# -> q.e2e
    pub(f"{u}.fanout", "c.1", 95)
    pub(f"{u}.headers", "", 40, {"route": "e2e"})  # headers(any) -> hdst fanout -> q.hdst
    pub(f"{u}.headers", "", 41, {"other": 1})
    pub(f"{u}.headers", "", 96, {"route": "no"})
    pub("amq.topic", f"{u}.amq.x", 50)
    assert take_all(conn, f"{u}.q.direct") == [2, 3, 4], "x-max-length 3 or the direct binding lost"
    assert take_all(conn, f"{u}.q.topic") == [10]
    assert take_all(conn, f"{u}.q.headers") == [20]
    assert take_all(conn, f"{u}.q.e2e") == [30]
    assert take_all(conn, f"{u}.q.hdst") == [40, 41]
    assert take_all(conn, f"{u}.q.amq") == [50]
    assert take_all(conn, f"{u}.tq") == [], "binding to a transient queue came back"
    conn.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_topology_and_messages_survive_restart(restartable_broker, sig):
    h = restartable_broker
    u = "topo"
    conn = connect(h)
    queues = build_topology(conn, u)
    # the exclusive queue's connection stays open until the broker goes
    restart_serving(h, sig, conn)
    check_topology(h, u, queues)
    # and a second restart (from the compacted metadata log) gives the same result
    c = connect(h)
    ch = c.channel()
    for i in range(6):
        ch.basic_publish("", f"{u}.q.msgs", body_of(i), pika.BasicProperties(delivery_mode=PERSISTENT if i % 2 == 0 else TRANSIENT))
    ch.queue_delete(f"{u}.tq")
    c.close()
    h.restart(sig)
    check_topology(h, u, queues)


# ---------------------------------------------------------------------------
# 3. Torn tail of the last segment


def publish_numbers(h, q, numbers, size=0, declare=True):
    c = connect(h)
    ch = c.channel()
    if declare:
        ch.queue_declare(q, durable=True)
    ch.confirm_delivery()
    publish_confirmed(ch, q, numbers, size=size)
    c.close()


def all_numbers(h, q):
    c = connect(h)
    out = [n for n, _ in peek_all(c, q)]
    c.close()
    return out


@pytest.mark.parametrize("damage", ["garbage", "half-record", "cut-last-record"])
def test_torn_tail_is_cut_and_the_queue_keeps_working(restartable_broker, damage):
    h = restartable_broker
    q = "torn-q"
    publish_numbers(h, q, range(1, 11), size=100)
    h.kill()
    seg = segment_files(queue_dir(h.data_dir, q))[-1]
    records = list(read_records(seg))
    assert len(records) == 10
    size = os.path.getsize(seg)
    expected = list(range(1, 11))
    with open(seg, "r+b") as f:
        if damage == "garbage":
            f.seek(0, os.SEEK_END)
            f.write(bytes(random.Random(SEED).randrange(256) for _ in range(37)))
            discarded = 37
        elif damage == "half-record":
            f.seek(records[0].offset)
            head = f.read(20)
            f.seek(0, os.SEEK_END)
            f.write(head)
            discarded = 20
        else:
            last = records[-1]
            f.truncate(last.offset + last.length // 2)
            discarded = last.length // 2
            expected = expected[:-1]
    h.start()
    assert all_numbers(h, q) == expected
    log = h.log()
    assert "torn tail" in log and f"{discarded} bytes" in log, log
    assert os.path.getsize(seg) == size - (records[-1].length if damage == "cut-last-record" else 0)

    publish_numbers(h, q, range(11, 16), size=100, declare=False)
    h.restart(signal.SIGKILL)
    assert all_numbers(h, q) == expected + list(range(11, 16))
    assert "torn tail" not in h.log(), "the tail was not cut for good"


# ---------------------------------------------------------------------------
# 4. A damaged record inside a segment


def test_corrupt_record_in_the_middle_is_skipped(restartable_broker):
    h = restartable_broker
    q = "corrupt-q"
    publish_numbers(h, q, range(1, 11), size=200)
    h.stop(signal.SIGTERM)
    seg = segment_files(queue_dir(h.data_dir, q))[-1]
    records = list(read_records(seg))
    assert [number_of(r.body) for r in records] == list(range(1, 11))
    third = records[2]
    with open(seg, "r+b") as f:
        f.seek(third.body_offset + 50)
        f.write(b"\xde\xad\xbe\xef")
    h.start()
    assert h.alive()
    assert all_numbers(h, q) == [1, 2, 4, 5, 6, 7, 8, 9, 10]
    log = h.log()
    assert f"skipped {third.length} damaged bytes" in log and os.path.basename(seg) in log, log
    # the broker goes on working: new messages, consumption, another restart
    publish_numbers(h, q, [11], size=200, declare=False)
    h.restart(signal.SIGTERM)
    c = connect(h)
    assert take_all(c, q) == [1, 2, 4, 5, 6, 7, 8, 9, 10, 11]
    c.close()


# ---------------------------------------------------------------------------
# 5. Disk space comes back


MIB = 1024 * 1024
SEGMENT = 32 * MIB  # MessageStore's default segment size


def consume_ack_all(h, q, expect):
    c = connect(h)
    ch = c.channel()
    ch.basic_qos(prefetch_count=8)
    got = 0
    for method, _props, _body in ch.consume(q, inactivity_timeout=5):
        assert method is not None, f"only {got} of {expect} delivered"
        ch.basic_ack(method.delivery_tag)
        got += 1
        if got == expect:
            break
    ch.cancel()
    ch.queue_declare(q, passive=True)  # round trip: acks processed
    c.close()


def test_space_is_reclaimed_after_consuming_everything(restartable_broker):
    h = restartable_broker
    q = "space-q"
    publish_numbers(h, q, range(40), size=MIB)
    qdir = queue_dir(h.data_dir, q)
    assert len(segment_files(qdir)) >= 2, "40 MiB should need more than one segment"
    assert dir_size(qdir) > 40 * MIB
    consume_ack_all(h, q, 40)
    # every full segment is gone; only the current one (the last written) may stay
    assert wait_until(lambda: len(segment_files(qdir)) == 1), os.listdir(qdir)
    current = segment_files(qdir)[0]
    assert dir_size(qdir) <= os.path.getsize(current) + 64 * 1024
    assert dir_size(qdir) <= SEGMENT
    h.restart(signal.SIGTERM)
    c = connect(h)
    assert message_count(c, q) == 0
    c.close()


def test_space_is_reclaimed_when_a_drained_segment_is_rolled_over(restartable_broker):
    """31 × 1 MiB fill the first segment; all are acked while it is still the current segment;
    the next message opens segment 2. Segment 1 holds nothing live and must go."""
    h = restartable_broker
    q = "space-roll-q"
    publish_numbers(h, q, range(31), size=MIB)
    consume_ack_all(h, q, 31)
    qdir = queue_dir(h.data_dir, q)
    publish_numbers(h, q, range(31, 33), size=MIB, declare=False)
    consume_ack_all(h, q, 2)
    assert wait_until(lambda: dir_size(qdir) < 8 * MIB, timeout=3), (
        f"{dir_size(qdir) / MIB:.1f} MiB left in {sorted(os.listdir(qdir))} with the queue empty")


# ---------------------------------------------------------------------------
# 6. Acked messages never come back


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_acked_messages_never_come_back(restartable_broker, sig):
    h = restartable_broker
    q = "acked-q"
    publish_numbers(h, q, range(100))
    c = connect(h)
    ch = c.channel()
    ch.basic_qos(prefetch_count=0)
    tags = {}
    for method, _props, body in ch.consume(q, inactivity_timeout=5):
        assert method is not None
        tags[number_of(body)] = method.delivery_tag
        if len(tags) == 100:
            break
    acked = set(rng_sample(range(100), 50))
    for n in sorted(acked):
        ch.basic_ack(tags[n])
    ch.basic_qos(prefetch_count=0)  # round trip: the acks are processed
    # the other 50 stay unacked on the open connection while the broker goes down
    restart_serving(h, sig, c)
    expected = [(n, True) for n in range(100) if n not in acked]
    c = connect(h)
    assert peek_all(c, q) == expected
    c.close()
    h.restart(sig)
    c = connect(h)
    assert peek_all(c, q) == expected
    c.close()


def rng_sample(population, k):
    return random.Random(SEED).sample(list(population), k)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_messages_removed_without_ack_stay_gone(restartable_broker, sig):
    """Purged, dropped by x-max-length, expired, rejected, and auto-acked messages do not come back."""
    h = restartable_broker
    c = connect(h)
    ch = c.channel()
    ch.queue_declare("purged", durable=True)
    ch.queue_declare("capped", durable=True, arguments={"x-max-length": 2})
    ch.queue_declare("expiring", durable=True)
    ch.queue_declare("rejected", durable=True)
    ch.queue_declare("autoacked", durable=True)
    ch.confirm_delivery()
    for q in ("purged", "capped", "rejected", "autoacked"):
        publish_confirmed(ch, q, range(5))
    for n in range(3):
        ch.basic_publish("", "expiring", body_of(n), pika.BasicProperties(delivery_mode=PERSISTENT, expiration="50"))
    publish_confirmed(ch, "expiring", [3, 4])
    ch.queue_purge("purged")
    for _ in range(2):
        method, _, _ = ch.basic_get("rejected", auto_ack=False)
        ch.basic_reject(method.delivery_tag, requeue=False)
        ch.basic_get("autoacked", auto_ack=True)
    time.sleep(0.3)  # expired messages are dropped by the broker's timer (every 100 ms)
    assert message_count(c, "expiring") == 2
    restart_serving(h, sig, c)
    c = connect(h)
    assert take_all(c, "purged") == []
    assert take_all(c, "capped") == [3, 4]
    assert take_all(c, "expiring") == [3, 4]
    assert take_all(c, "rejected") == [2, 3, 4]
    assert take_all(c, "autoacked") == [2, 3, 4]
    c.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_committed_transactions_survive_and_open_ones_do_not(restartable_broker, sig):
    h = restartable_broker
    c = connect(h)
    ch = c.channel()
    ch.queue_declare("tx-q", durable=True)
    ch.tx_select()
    publish_confirmed(ch, "tx-q", range(3))
    ch.tx_commit()  # commit-ok only once the messages are on disk
    publish_confirmed(ch, "tx-q", range(3, 6))  # never committed
    restart_serving(h, sig, c)
    c = connect(h)
    assert take_all(c, "tx-q") == [0, 1, 2]
    c.close()


def test_queue_deleted_and_declared_again_keeps_only_new_messages(restartable_broker):
    h = restartable_broker
    c = connect(h)
    ch = c.channel()
    ch.confirm_delivery()
    ch.queue_declare("again", durable=True)
    ch.queue_declare("other", durable=True)
    ch.exchange_declare("again-x", "fanout", durable=True)
    ch.queue_bind("again", "again-x")
    ch.queue_bind("other", "again-x")
    publish_confirmed(ch, "", range(3), exchange="again-x")
    ch.queue_delete("again")
    ch.queue_declare("again", durable=True, arguments={"x-max-length": 10})
    publish_confirmed(ch, "", [3], exchange="again-x")  # the binding went with the old queue
    publish_confirmed(ch, "again", [4])
    c.close()
    h.restart(signal.SIGKILL)
    c = connect(h)
    assert take_all(c, "again") == [4]
    assert take_all(c, "other") == [0, 1, 2, 3]
    ch = c.channel()
    with pytest.raises(pex.ChannelClosedByBroker) as ei:
        ch.queue_declare("again", durable=True)  # declared with x-max-length 10 the second time
    assert ei.value.reply_code == 406
    c.close()


# ---------------------------------------------------------------------------
# Found while writing the above: queue limits and damaged-file handling after recovery


def test_message_ttl_still_applies_to_recovered_messages(restartable_broker):
    """RabbitMQ keeps a persistent message's expiry across a restart."""
    h = restartable_broker
    q = "ttl-q"
    c = connect(h)
    ch = c.channel()
    ch.queue_declare(q, durable=True, arguments={"x-message-ttl": 700})
    ch.confirm_delivery()
    publish_confirmed(ch, q, [1])
    c.close()
    h.restart(signal.SIGTERM)
    c = connect(h)
    ch = c.channel()
    ch.confirm_delivery()
    publish_confirmed(ch, q, [2])  # published after the restart, behind the recovered one
    time.sleep(1.0)
    # Expiry works from the head: a recovered message that never expires keeps the new one too.
    assert message_count(c, q) == 0, "messages past the queue's x-message-ttl are still there after a restart"
    method, _, _ = ch.basic_get(q, auto_ack=True)
    assert method is None, "a message past its queue's x-message-ttl was delivered after a restart"
    c.close()


def test_max_length_bytes_counts_bodies_after_restart(restartable_broker):
    """x-max-length-bytes counts message bodies; after a restart it must count the same."""
    h = restartable_broker
    q = "bytes-q"
    c = connect(h)
    ch = c.channel()
    ch.queue_declare(q, durable=True, arguments={"x-max-length-bytes": 1000, "x-overflow": "reject-publish"})
    ch.confirm_delivery()
    publish_confirmed(ch, q, range(10), size=100)  # exactly 1000 body bytes: full
    with pytest.raises(pex.NackError):
        publish_confirmed(ch, q, [10], size=100)
    c.close()
    h.restart(signal.SIGTERM)
    c = connect(h)
    ch = c.channel()
    method, _, _ = ch.basic_get(q, auto_ack=True)  # 900 bytes left: room for one more
    assert method is not None
    ch.confirm_delivery()
    publish_confirmed(ch, q, [11], size=100)  # raises NackError if the queue counts more than bodies
    assert message_count(c, q) == 10
    c.close()


def test_torn_metadata_log_line_does_not_swallow_later_declarations(restartable_broker):
    h = restartable_broker
    c = connect(h)
    c.channel().queue_declare("meta-a", durable=True)
    c.close()
    h.kill()
    with open(metadata_log(h.data_dir), "ab") as f:
        f.write(b'{"name":"meta-torn","op":"declare_qu')  # a line cut short by a crash
    h.start()
    factory = lambda: connect(h)  # noqa: E731
    assert exists(factory, "queue", "meta-a")
    c = connect(h)
    c.channel().queue_declare("meta-b", durable=True)
    c.close()
    h.restart(signal.SIGTERM)
    assert exists(factory, "queue", "meta-a")
    assert exists(factory, "queue", "meta-b"), "a queue declared after recovering from a torn log line was lost"


def test_torn_ack_file_does_not_resurrect_later_acks(restartable_broker):
    """A crash can leave a partial offset at the end of an .ack file; acks written after the
    restart must still be read back as acks."""
    h = restartable_broker
    q = "torn-ack-q"
    publish_numbers(h, q, range(10))
    c = connect(h)
    ch = c.channel()
    for _ in range(3):
        method, _, _ = ch.basic_get(q, auto_ack=True)  # no-ack delivery settles 0, 1, 2
    c.close()
    h.kill()
    qdir = queue_dir(h.data_dir, q)
    ack = segment_files(qdir)[-1][:-4] + ".ack"
    with open(ack, "ab") as f:
        f.write(b"\x00\x00")  # half of the next offset
    h.start()
    c = connect(h)
    ch = c.channel()
    got = []
    for _ in range(3):
        method, _, body = ch.basic_get(q, auto_ack=True)  # settles 3, 4, 5
        got.append(number_of(body))
    assert got == [3, 4, 5]
    c.close()
    h.restart(signal.SIGTERM)
    assert all_numbers(h, q) == [6, 7, 8, 9]


def test_torn_tail_over_an_acked_record_does_not_hide_new_messages(restartable_broker):
    """If the cut-off tail held records that were acked, their offsets stay in the .ack file;
    a new message written at the same offset after the restart must not count as acked."""
    h = restartable_broker
    q = "stale-ack-q"
    publish_numbers(h, q, range(1, 11), size=100)
    c = connect(h)
    ch = c.channel()
    tags = []
    for _ in range(10):
        method, _, body = ch.basic_get(q, auto_ack=False)
        tags.append((method.delivery_tag, number_of(body)))
    ch.basic_ack(tags[-1][0])  # ack message 10 only, the last record
    ch.basic_recover(requeue=True)
    c.close()
    h.kill()
    seg = segment_files(queue_dir(h.data_dir, q))[-1]
    last = list(read_records(seg))[-1]
    with open(seg, "r+b") as f:
        f.truncate(last.offset + 10)  # as if the crash tore the last record
    h.start()
    assert all_numbers(h, q) == list(range(1, 10))
    publish_numbers(h, q, [11], size=100, declare=False)  # confirmed: lands where 10 was
    h.restart(signal.SIGTERM)
    assert all_numbers(h, q) == list(range(1, 10)) + [11], "a confirmed message was lost"
