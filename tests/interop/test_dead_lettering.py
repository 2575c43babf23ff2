"""Dead-lettering (x-dead-letter-exchange, x-dead-letter-routing-key) as clients see it.

Every expectation was checked against RabbitMQ 3.10 (AMQP_EXTERNAL_PORT=5673): the reasons
(rejected, expired, maxlen), the x-death entries (keys, wire types, order, counting), the
x-first-death-* headers, the routing keys a dead letter carries, cycles, the refusals of bad
arguments. pika reads most of it; the raw client checks the exact field types and key order.
"""

import datetime
import struct
import time

import kombu
import pika
import pika.exceptions as pex
import pytest

import amqp_raw
from durability_helpers import restartable_broker  # noqa: F401  (a fixture)

DEADLINE = 5.0  # seconds within which a dead letter must arrive


from pika_helpers import params, poll_get  # noqa: E402


@pytest.fixture
def ch(conn):
    return conn.channel()


def wait_get(ch, queue, deadline=DEADLINE):
    """basic.get (auto-ack) until a message comes or the deadline passes."""
    return poll_get(ch, queue, deadline)


def reject_next(ch, queue, nack=False):
    method, _props, _body = ch.basic_get(queue, auto_ack=False)
    assert method is not None, f"nothing to reject in {queue}"
    if nack:
        ch.basic_nack(method.delivery_tag, requeue=False)
    else:
        ch.basic_reject(method.delivery_tag, requeue=False)


def dl_args(exchange="", routing_key=None, **extra):
    args = {"x-dead-letter-exchange": exchange}
    if routing_key is not None:
        args["x-dead-letter-routing-key"] = routing_key
    args.update(extra)
    return args


def assert_recent(ts):
    assert isinstance(ts, datetime.datetime), f"time is not a timestamp: {ts!r}"
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert abs((ts.replace(tzinfo=None) - now).total_seconds()) < 60


# ---------------------------------------------------------------------------
# Reasons


def test_rejected_message_is_republished_with_x_death(ch, uid):
    dlx, src, dead = f"{uid}.dlx", f"{uid}.src", f"{uid}.dead"
    ch.exchange_declare(dlx, "topic")
    ch.queue_declare(dead)
    ch.queue_bind(dead, dlx, "#")
    ch.queue_declare(src, arguments=dl_args(dlx))
    ch.queue_bind(src, "amq.direct", f"{uid}.rk")
    ch.basic_publish("amq.direct", f"{uid}.rk", b"hello", pika.BasicProperties(
        headers={"h": "v"}, delivery_mode=2, expiration="60000", message_id="m1"))
    reject_next(ch, src)

    method, props, body = wait_get(ch, dead)
    assert body == b"hello"
    assert method.exchange == dlx
    assert method.routing_key == f"{uid}.rk"
    assert method.redelivered is False
    assert props.expiration is None
    assert props.delivery_mode == 2
    assert props.message_id == "m1"
    h = props.headers
    assert list(h) == ["h", "x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason"]
    assert h["h"] == "v"
    assert h["x-first-death-exchange"] == "amq.direct"
    assert h["x-first-death-queue"] == src
    assert h["x-first-death-reason"] == "rejected"
    [death] = h["x-death"]
    assert list(death) == ["count", "reason", "queue", "time", "exchange", "routing-keys", "original-expiration"]
    assert death["count"] == 1
    assert death["reason"] == "rejected"
    assert death["queue"] == src
    assert death["exchange"] == "amq.direct"
    assert death["routing-keys"] == [f"{uid}.rk"]
    assert death["original-expiration"] == "60000"
    assert_recent(death["time"])
    assert ch.basic_get(src, auto_ack=True)[0] is None


def test_nack_without_requeue_dead_letters_and_ack_does_not(ch, uid):
    src, dead = f"{uid}.src", f"{uid}.dead"
    ch.queue_declare(dead)
    ch.queue_declare(src, arguments=dl_args("", dead))
    for body in (b"a", b"b"):
        ch.basic_publish("", src, body)
    reject_next(ch, src, nack=True)
    method, _, _ = ch.basic_get(src, auto_ack=False)
    ch.basic_ack(method.delivery_tag)
    method, props, body = wait_get(ch, dead)
    assert body == b"a"
    assert method.routing_key == dead
    assert method.exchange == ""
    assert props.headers["x-death"][0]["reason"] == "rejected"
    assert props.headers["x-death"][0]["routing-keys"] == [src]
    time.sleep(0.2)
    assert ch.basic_get(dead, auto_ack=True)[0] is None


def test_queue_ttl_expiry_dead_letters_to_a_waiting_consumer(conn, ch, uid):
    src, dead = f"{uid}.src", f"{uid}.dead"
    ch.queue_declare(dead)
    ch.queue_declare(src, arguments=dl_args("", dead, **{"x-message-ttl": 100}))
    got = []
    ch.basic_consume(dead, lambda c, m, p, b: got.append((m, p, b)), auto_ack=True)
    ch.basic_publish("", src, b"ttl")
    end = time.monotonic() + DEADLINE
    while not got and time.monotonic() < end:
        conn.process_data_events(time_limit=0.1)
    assert got, "the expired message was not dead-lettered in time"
    method, props, body = got[0]
    assert body == b"ttl"
    assert method.routing_key == dead
    death = props.headers["x-death"][0]
    assert (death["reason"], death["queue"], death["count"]) == ("expired", src, 1)
    assert "original-expiration" not in death
    assert props.headers["x-first-death-reason"] == "expired"


def test_per_message_expiration_found_by_basic_get_dead_letters(ch, uid):
    src, dead = f"{uid}.src", f"{uid}.dead"
    ch.queue_declare(dead)
    ch.queue_declare(src, arguments=dl_args("", dead))
    ch.basic_publish("", src, b"short", pika.BasicProperties(expiration="50"))
    time.sleep(0.3)
    assert ch.basic_get(src, auto_ack=True)[0] is None
    _, props, body = wait_get(ch, dead)
    assert body == b"short"
    assert props.expiration is None
    death = props.headers["x-death"][0]
    assert death["reason"] == "expired"
    assert death["original-expiration"] == "50"


def test_max_length_drop_head_dead_letters_with_reason_maxlen(ch, uid):
    src, dead = f"{uid}.src", f"{uid}.dead"
    ch.queue_declare(dead)
    ch.queue_declare(src, arguments=dl_args("", dead, **{"x-max-length": 2}))
    for i in range(4):
        ch.basic_publish("", src, b"m%d" % i)
    bodies = []
    for _ in range(2):
        _, props, body = wait_get(ch, dead)
        bodies.append(body)
        assert props.headers["x-death"][0]["reason"] == "maxlen"
        assert props.headers["x-first-death-reason"] == "maxlen"
    assert bodies == [b"m0", b"m1"]
    assert [ch.basic_get(src, auto_ack=True)[2] for _ in range(2)] == [b"m2", b"m3"]


def test_max_length_bytes_drop_head_dead_letters(ch, uid):
    src, dead = f"{uid}.src", f"{uid}.dead"
    ch.queue_declare(dead)
    ch.queue_declare(src, arguments=dl_args("", dead, **{"x-max-length-bytes": 5}))
    for i in range(3):
        ch.basic_publish("", src, b"abc%d" % i)
    assert [wait_get(ch, dead)[2] for _ in range(2)] == [b"abc0", b"abc1"]


def test_reject_publish_dlx_nacks_the_publisher_and_dead_letters(ch, uid):
    src, dead = f"{uid}.src", f"{uid}.dead"
    ch.queue_declare(dead)
    ch.queue_declare(src, arguments=dl_args("", dead, **{"x-max-length": 1, "x-overflow": "reject-publish-dlx"}))
    ch.confirm_delivery()
    ch.basic_publish("", src, b"kept")
    with pytest.raises(pex.NackError):
        ch.basic_publish("", src, b"refused", pika.BasicProperties(expiration="50000"))
    _, props, body = wait_get(ch, dead)
    assert body == b"refused"
    death = props.headers["x-death"][0]
    assert (death["reason"], death["queue"], death["original-expiration"]) == ("maxlen", src, "50000")
    assert ch.basic_get(src, auto_ack=True)[2] == b"kept"


def test_reject_publish_dlx_nack_on_the_wire(broker, uid):
    """The raw client sees the confirms' tags: ack 1, then a nack for 2 and for 3."""
    src, dead = f"{uid}.src", f"{uid}.dead"
    with amqp_raw.connect(broker.host, broker.port) as c:
        c.open_channel(1)
        c.rpc(1, "queue.declare", "queue.declare-ok", queue=dead)
        c.rpc(1, "queue.declare", "queue.declare-ok", queue=src, arguments=dl_args(
            "", dead, **{"x-max-length": 1, "x-overflow": "reject-publish-dlx"}))
        c.rpc(1, "confirm.select", "confirm.select-ok")
        for i in range(3):
            c.publish(1, "", src, b"g%d" % i)
        events = c.drain(quiet=0.5)
        confirms = [(f.name, f.args["delivery_tag"]) for f, _, _ in events]
        assert confirms == [("basic.ack", 1), ("basic.nack", 2), ("basic.nack", 3)]
        c.rpc(1, "queue.purge", "queue.purge-ok", queue=dead)


# ---------------------------------------------------------------------------
# Routing keys


def test_original_routing_key_and_cc_route_the_dead_letter(ch, uid):
    dlx, src = f"{uid}.dlx", f"{uid}.src"
    ch.exchange_declare(dlx, "direct")
    for key in ("rk", "cc", "other"):
        ch.queue_declare(f"{uid}.t-{key}")
        ch.queue_bind(f"{uid}.t-{key}", dlx, f"{uid}.{key}")
    ch.queue_declare(src, arguments=dl_args(dlx))
    ch.queue_bind(src, "amq.direct", f"{uid}.rk")
    ch.basic_publish("amq.direct", f"{uid}.rk", b"m", pika.BasicProperties(headers={"CC": [f"{uid}.cc"]}))
    reject_next(ch, src)
    for key in ("rk", "cc"):
        method, props, body = wait_get(ch, f"{uid}.t-{key}")
        assert body == b"m", key
        assert method.routing_key == f"{uid}.rk"
        assert props.headers["CC"] == [f"{uid}.cc"]
        assert props.headers["x-death"][0]["routing-keys"] == [f"{uid}.rk", f"{uid}.cc"]
    assert ch.basic_get(f"{uid}.t-other", auto_ack=True)[0] is None


def test_dead_letter_routing_key_replaces_the_keys_and_drops_cc(ch, uid):
    src, dead = f"{uid}.src", f"{uid}.dead"
    ch.queue_declare(dead)
    ch.queue_declare(src, arguments=dl_args("", dead))
    ch.basic_publish("", src, b"m", pika.BasicProperties(headers={"CC": ["zz"], "a": 1}, expiration="100000"))
    reject_next(ch, src)
    method, props, _ = wait_get(ch, dead)
    assert method.routing_key == dead
    assert "CC" not in props.headers
    assert list(props.headers) == ["a", "x-death", "x-first-death-exchange", "x-first-death-queue",
                                   "x-first-death-reason"]
    assert props.headers["x-death"][0]["routing-keys"] == [src, "zz"]


# ---------------------------------------------------------------------------
# x-death


def test_death_in_the_same_queue_counts_and_keeps_its_first_time(ch, uid):
    q = f"{uid}.loop"
    ch.queue_declare(q, arguments=dl_args("", q))
    ch.basic_publish("", q, b"m")
    reject_next(ch, q)
    _, props, _ = wait_get(ch, q)  # auto-acked: publish it again with its headers
    first = props.headers["x-death"][0]
    ch.basic_publish("", q, b"m", pika.BasicProperties(headers=props.headers))
    time.sleep(1.1)
    reject_next(ch, q)
    _, props, _ = wait_get(ch, q)
    [death] = props.headers["x-death"]
    assert death["count"] == 2
    # An updated entry comes back sorted by key, its time unchanged.
    assert list(death) == ["count", "exchange", "queue", "reason", "routing-keys", "time"]
    assert death["time"] == first["time"]
    assert props.headers["x-first-death-reason"] == "rejected"


def test_deaths_are_listed_most_recent_first(ch, uid):
    a, b, t = f"{uid}.a", f"{uid}.b", f"{uid}.t"
    ch.queue_declare(t)
    ch.queue_declare(b, arguments=dl_args("", t, **{"x-message-ttl": 50}))
    ch.queue_declare(a, arguments=dl_args("", b))
    ch.basic_publish("", a, b"m", pika.BasicProperties(expiration="10000"))
    reject_next(ch, a)
    _, props, _ = wait_get(ch, t)
    deaths = props.headers["x-death"]
    assert [(d["queue"], d["reason"]) for d in deaths] == [(b, "expired"), (a, "rejected")]
    # A new entry added to an existing list is sorted by key; the older one keeps its order.
    assert list(deaths[0]) == ["count", "exchange", "queue", "reason", "routing-keys", "time"]
    assert list(deaths[1]) == ["count", "reason", "queue", "time", "exchange", "routing-keys",
                               "original-expiration"]
    assert "original-expiration" not in deaths[0]
    assert (props.headers["x-first-death-queue"], props.headers["x-first-death-reason"]) == (a, "rejected")


def test_a_repeated_death_moves_its_entry_to_the_front(ch, uid):
    """p expires into q, q rejects back into p, p expires into q again."""
    p, q = f"{uid}.p", f"{uid}.q"
    ch.queue_declare(p, arguments=dl_args("", q, **{"x-message-ttl": 50}))
    ch.queue_declare(q, arguments=dl_args("", p))
    ch.basic_publish("", p, b"m")
    method, _, _ = wait_get_unacked(ch, q)
    ch.basic_reject(method.delivery_tag, requeue=False)
    method, props, _ = wait_get_unacked(ch, q)
    ch.basic_ack(method.delivery_tag)
    deaths = props.headers["x-death"]
    assert [(d["queue"], d["reason"], d["count"]) for d in deaths] == [(p, "expired", 2), (q, "rejected", 1)]


def wait_get_unacked(ch, queue, deadline=DEADLINE):
    return poll_get(ch, queue, deadline, auto_ack=False)


# ---------------------------------------------------------------------------
# Cycles and missing exchanges


def test_ttl_cycle_to_itself_is_dropped(ch, uid):
    q = f"{uid}.self"
    ch.queue_declare(q, arguments=dl_args("", q, **{"x-message-ttl": 50}))
    ch.basic_publish("", q, b"m")
    time.sleep(0.6)
    assert ch.basic_get(q, auto_ack=True)[0] is None
    assert ch.queue_declare(q, passive=True).method.message_count == 0


def test_rejection_cycle_to_itself_is_allowed(ch, uid):
    q = f"{uid}.self"
    ch.queue_declare(q, arguments=dl_args("", q))
    ch.basic_publish("", q, b"m")
    for _ in range(3):
        reject_next(ch, q)
        time.sleep(0.05)
    _, props, body = wait_get(ch, q)
    assert body == b"m"
    assert props.headers["x-death"][0]["count"] == 3


def test_missing_dead_letter_exchange_drops_the_message(ch, uid):
    src = f"{uid}.src"
    ch.queue_declare(src, arguments=dl_args(f"{uid}.missing"))
    ch.basic_publish("", src, b"m")
    reject_next(ch, src)
    time.sleep(0.2)
    assert ch.basic_get(src, auto_ack=True)[0] is None
    assert ch.is_open


def test_purge_does_not_dead_letter(ch, uid):
    src, dead = f"{uid}.src", f"{uid}.dead"
    ch.queue_declare(dead)
    ch.queue_declare(src, arguments=dl_args("", dead))
    ch.basic_publish("", src, b"m")
    time.sleep(0.1)
    ch.queue_purge(src)
    time.sleep(0.2)
    assert ch.basic_get(dead, auto_ack=True)[0] is None


# ---------------------------------------------------------------------------
# Declaration


@pytest.mark.parametrize("args, text", [
    ({"x-dead-letter-routing-key": "k"},
     "PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue '{q}' in vhost '/': "
     "routing_key_but_no_dlx_defined"),
    ({"x-dead-letter-exchange": 5},
     "PRECONDITION_FAILED - invalid type 'signedint' for arg 'x-dead-letter-exchange' in queue '{q}' in vhost '/'"),
    ({"x-dead-letter-exchange": True},
     "PRECONDITION_FAILED - invalid type 'bool' for arg 'x-dead-letter-exchange' in queue '{q}' in vhost '/'"),
    ({"x-dead-letter-exchange": "d", "x-dead-letter-routing-key": 2**40},
     "PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue '{q}' in vhost '/': "
     "{unacceptable_type,long}"),
])
def test_bad_dead_letter_arguments_are_refused(conn, uid, args, text):
    ch = conn.channel()
    q = f"{uid}.bad"
    with pytest.raises(pex.ChannelClosedByBroker) as ei:
        ch.queue_declare(q, arguments=args)
    assert (ei.value.reply_code, ei.value.reply_text) == (406, text.replace("{q}", q))


def test_redeclare_with_another_dead_letter_exchange_is_refused(conn, uid):
    ch = conn.channel()
    q = f"{uid}.q"
    ch.queue_declare(q, arguments=dl_args("a"))
    ch.queue_declare(q, arguments=dl_args("a"))
    with pytest.raises(pex.ChannelClosedByBroker) as ei:
        ch.queue_declare(q, arguments=dl_args("b"))
    assert ei.value.reply_code == 406
    assert "inequivalent arg 'x-dead-letter-exchange'" in ei.value.reply_text


# ---------------------------------------------------------------------------
# Exact wire format (raw client: field types and key order)


class _TypedReader(amqp_raw.Reader):
    """Reads field values as (type letter, value), tables as lists of (key, value)."""

    def table(self):
        n = self.long()
        sub = _TypedReader(self._take(n))
        out = []
        while sub.pos < len(sub.data):
            key = sub.shortstr()
            out.append((key, sub.value()))
        return out

    def value(self):
        t = chr(self.octet())
        if t == "A":
            sub = _TypedReader(self._take(self.long()))
            items = []
            while sub.pos < len(sub.data):
                items.append(sub.value())
            return (t, items)
        if t == "F":
            return (t, self.table())
        self.pos -= 1
        return (t, amqp_raw.Reader.value(self))


def typed_headers(frame_payload):
    r = _TypedReader(frame_payload[12:])
    flags = r.short()
    for i, (name, kind) in enumerate(amqp_raw.BASIC_PROPERTIES):
        if flags & (1 << (15 - i)):
            v = getattr(r, kind)()
            if name == "headers":
                return v
    return None


def test_x_death_field_types_on_the_wire(broker, uid):
    src, dead = f"{uid}.src", f"{uid}.dead"
    with amqp_raw.connect(broker.host, broker.port) as c:
        c.open_channel(1)
        c.rpc(1, "queue.declare", "queue.declare-ok", queue=dead)
        c.rpc(1, "queue.declare", "queue.declare-ok", queue=src, arguments=dl_args("", dead))
        c.publish(1, "", src, b"x", {"headers": {"z": 1, "CC": ["c1"]}, "expiration": "9000"})
        c.send_method(1, "basic.get", queue=src, no_ack=False)
        got = c.expect("basic.get-ok", 1)
        c.read_content()
        c.send_method(1, "basic.reject", delivery_tag=got.args["delivery_tag"], requeue=False)
        deadline = time.monotonic() + DEADLINE
        while True:
            c.send_method(1, "basic.get", queue=dead, no_ack=True)
            f = c.next_event(2)
            if f[0].name == "basic.get-ok" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert f[0].name == "basic.get-ok"
        header = [x for x in c.received if x.type == amqp_raw.FRAME_HEADER][-1]
        headers = typed_headers(header.payload)
        assert [k for k, _ in headers] == ["x-death", "x-first-death-exchange", "x-first-death-queue",
                                           "x-first-death-reason", "z"]
        assert dict(headers)["z"] == ("I", 1)
        assert dict(headers)["x-first-death-reason"] == ("S", "rejected")
        kind, deaths = dict(headers)["x-death"]
        assert kind == "A" and len(deaths) == 1 and deaths[0][0] == "F"
        entry = deaths[0][1]
        assert [(k, v[0]) for k, v in entry] == [("count", "l"), ("reason", "S"), ("queue", "S"), ("time", "T"),
                                                 ("exchange", "S"), ("routing-keys", "A"),
                                                 ("original-expiration", "S")]
        e = dict(entry)
        assert e["count"] == ("l", 1)
        assert e["routing-keys"] == ("A", [("S", src), ("S", "c1")])
        assert e["original-expiration"] == ("S", "9000")
        assert abs(e["time"][1] - time.time()) < 60


# ---------------------------------------------------------------------------
# kombu


def test_kombu_consumer_sees_the_dead_letter_headers(broker, uid):
    src, dead = f"{uid}.src", f"{uid}.dead"
    with kombu.Connection(f"amqp://guest:guest@{broker.host}:{broker.port}//") as conn:
        channel = conn.channel()
        dead_q = kombu.Queue(dead, exchange=kombu.Exchange("", type="direct"), routing_key=dead, channel=channel)
        dead_q.declare()
        src_q = kombu.Queue(src, exchange=kombu.Exchange("", type="direct"), routing_key=src, channel=channel,
                            queue_arguments=dl_args("", dead))
        src_q.declare()
        producer = kombu.Producer(channel)
        producer.publish({"n": 1}, exchange="", routing_key=src, serializer="json")
        message = None
        end = time.monotonic() + DEADLINE
        while message is None and time.monotonic() < end:
            message = src_q.get(no_ack=False)
        assert message is not None
        message.reject(requeue=False)
        got = None
        end = time.monotonic() + DEADLINE
        while got is None and time.monotonic() < end:
            got = dead_q.get(no_ack=True)
        assert got is not None
        assert got.decode() == {"n": 1}
        assert got.headers["x-first-death-reason"] == "rejected"
        assert got.headers["x-death"][0]["queue"] == src
        assert got.delivery_info["routing_key"] == dead


# ---------------------------------------------------------------------------
# Persistence (Warren only: restarts the broker)


@pytest.mark.warren_only
def test_persistent_dead_letter_in_a_durable_queue_survives_a_restart(restartable_broker):
    b = restartable_broker
    c = pika.BlockingConnection(params(b))
    ch = c.channel()
    ch.queue_declare("dead", durable=True)
    ch.queue_declare("src", durable=True, arguments=dl_args("", "dead"))
    ch.confirm_delivery()
    ch.basic_publish("", "src", b"persistent", pika.BasicProperties(delivery_mode=2))
    ch.basic_publish("", "src", b"transient")
    for _ in range(2):
        reject_next(ch, "src")
    assert ch.queue_declare("dead", passive=True).method.message_count == 2
    c.close()
    b.restart()
    c = pika.BlockingConnection(params(b))
    ch = c.channel()
    assert ch.queue_declare("src", passive=True).method.message_count == 0
    method, props, body = ch.basic_get("dead", auto_ack=True)
    assert body == b"persistent"
    assert props.headers["x-death"][0]["reason"] == "rejected"
    assert ch.basic_get("dead", auto_ack=True)[0] is None
    c.close()
