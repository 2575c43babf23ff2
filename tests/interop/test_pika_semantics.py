"""AMQP 0-9-1 semantics as a pika (BlockingConnection) user sees them.

Every expectation here was checked against RabbitMQ 3.10 (run with AMQP_EXTERNAL_PORT=5673):
reply codes and texts, whether an error closes the channel or the whole connection, prefetch
and requeue ordering, direct reply-to. A few cases that pika cannot send (duplicate consumer
tag on one channel, exact publisher-confirm delivery tags) use the raw client in amqp_raw.py.
"""

import datetime
import decimal
import threading
import time

import pika
import pika.exceptions as pex
import pytest

import amqp_raw

Q_TIMEOUT = 3.0  # seconds to wait for a delivery that must come


def params(broker, **kw):
    return pika.ConnectionParameters(
        host=broker.host, port=broker.port, credentials=pika.PlainCredentials("guest", "guest"),
        connection_attempts=1, socket_timeout=5, blocked_connection_timeout=10, **kw)


@pytest.fixture
def connect(broker):
    """connect(**params) -> a new BlockingConnection, closed at the end of the test."""
    conns = []

    def make(**kw):
        c = pika.BlockingConnection(params(broker, **kw))
        conns.append(c)
        return c

    yield make
    for c in conns:
        if c.is_open:
            try:
                c.close()
            except Exception:
                pass


@pytest.fixture
def conn(connect):
    return connect()


@pytest.fixture
def ch(conn):
    return conn.channel()


def channel_closed(fn, *args, **kw):
    """Runs fn, which must make the broker close the channel; returns (code, text)."""
    with pytest.raises(pex.ChannelClosedByBroker) as ei:
        fn(*args, **kw)
    return ei.value.reply_code, ei.value.reply_text


def connection_closed(fn, *args, **kw):
    with pytest.raises(pex.ConnectionClosedByBroker) as ei:
        fn(*args, **kw)
    return ei.value.reply_code, ei.value.reply_text


def get_bodies(ch, queue, limit=1000):
    """Drains a queue with basic.get (auto-ack) and returns the bodies in order."""
    out = []
    for _ in range(limit):
        method, _props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            break
        out.append(body)
    return out


def collect(conn, deliveries, count, timeout=Q_TIMEOUT):
    """Processes I/O until `deliveries` (filled by a callback) has `count` items or timeout."""
    deadline = time.monotonic() + timeout
    while len(deliveries) < count and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    return deliveries


def settle(conn, seconds=0.3):
    """Processes I/O for a while, to see that nothing (more) arrives."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)


def q_exists(connect, name):
    c = connect()
    try:
        c.channel().queue_declare(name, passive=True)
        return True
    except pex.ChannelClosedByBroker as e:
        assert e.reply_code == 404
        return False
    finally:
        if c.is_open:
            c.close()


def fill(ch, queue, n, prefix="m"):
    ch.confirm_delivery()
    for i in range(n):
        ch.basic_publish("", queue, f"{prefix}{i}".encode())


def confirm_channel(conn):
    c = conn.channel()
    c.confirm_delivery()
    return c


# ---------------------------------------------------------------------------
# Exchanges


def test_direct_exchange_routes_by_exact_key(ch, uid):
    ex = uid + "-x"
    ch.exchange_declare(ex, "direct", auto_delete=True)
    for name, key in [("a", "k1"), ("b", "k2"), ("c", "k1")]:
        ch.queue_declare(f"{uid}-{name}", exclusive=True)
        ch.queue_bind(f"{uid}-{name}", ex, key)
    ch.confirm_delivery()
    for key in ["k1", "k2", "k3", "K1", "k1.x"]:
        ch.basic_publish(ex, key, key.encode())
    assert get_bodies(ch, uid + "-a") == [b"k1"]
    assert get_bodies(ch, uid + "-b") == [b"k2"]
    assert get_bodies(ch, uid + "-c") == [b"k1"]


def test_same_queue_bound_twice_gets_one_copy(ch, uid):
    ex = uid + "-x"
    ch.exchange_declare(ex, "direct", auto_delete=True)
    q = ch.queue_declare(uid, exclusive=True).method.queue
    ch.queue_bind(q, ex, "k")
    ch.queue_bind(q, ex, "k")  # same binding again: no-op
    ex2 = uid + "-t"
    ch.exchange_declare(ex2, "topic", auto_delete=True)
    ch.queue_bind(q, ex2, "a.*")
    ch.queue_bind(q, ex2, "*.b")
    ch.confirm_delivery()
    ch.basic_publish(ex, "k", b"direct")
    ch.basic_publish(ex2, "a.b", b"topic")  # matches both bindings
    assert get_bodies(ch, q) == [b"direct", b"topic"]


def test_fanout_exchange_ignores_routing_key(ch, uid):
    ex = uid + "-x"
    ch.exchange_declare(ex, "fanout", auto_delete=True)
    for name, key in [("a", "k1"), ("b", ""), ("c", "whatever")]:
        ch.queue_declare(f"{uid}-{name}", exclusive=True)
        ch.queue_bind(f"{uid}-{name}", ex, key)
    ch.confirm_delivery()
    ch.basic_publish(ex, "zzz", b"one")
    ch.basic_publish(ex, "", b"two")
    for name in "abc":
        assert get_bodies(ch, f"{uid}-{name}") == [b"one", b"two"]


# (pattern, routing key, matches) -- RabbitMQ 3.10 topic semantics. A key of "" has zero
# words; "a." has two words, the second empty.
TOPIC_CASES = [
    ("a.b.c", "a.b.c", True),
    ("a.b.c", "a.b", False),
    ("a.b.c", "a.b.c.d", False),
    ("A.b.c", "a.b.c", False),
    ("a.*.c", "a.b.c", True),
    ("a.*.c", "a.c", False),
    ("a.*.c", "a.b.b.c", False),
    ("a.*.c", "a..c", True),
    ("*", "a", True),
    ("*", "", False),
    ("*", "a.b", False),
    ("*", ".", False),
    ("*.*", ".", True),
    ("*.*", "a.b", True),
    ("*.*", "a", False),
    ("a.*", "a.", True),
    ("a.*", "a", False),
    ("*.b.*", "a.b", False),
    ("#", "", True),
    ("#", "a", True),
    ("#", "a.b.c", True),
    ("#", ".", True),
    ("#.c", "c", True),
    ("#.c", "a.b.c", True),
    ("#.c", "a.b.c.d", False),
    ("#.c", "ac", False),
    ("a.#", "a", True),
    ("a.#", "a.b.c", True),
    ("a.#", "b.a", False),
    ("a.#", "ab", False),
    ("a.#.b", "a.b", True),
    ("a.#.b", "a.x.b", True),
    ("a.#.b", "a.x.y.b", True),
    ("a.#.b", "a.x.y.c", False),
    ("a.#.b", "a.b.c", False),
    ("a.#.#.b", "a.b", True),
    ("#.b.#", "b", True),
    ("#.b.#", "x.b.y", True),
    ("#.b.#", "xb", False),
    ("#.#", "", True),
    ("#.#", "a.b", True),
    ("*.#", "", False),
    ("*.#", "a", True),
    ("*.#", "a.b.c", True),
    ("#.*", "a.b", True),
    ("#.*", "", False),
    ("#.*.#", "a", True),
    ("", "", True),
    ("", "a", False),
    ("a..b", "a..b", True),
    ("a..b", "a.b", False),
    ("..", "..", True),
    ("..", "", False),
]


def test_topic_exchange_matching_table(ch, uid):
    ex = uid + "-x"
    ch.exchange_declare(ex, "topic", auto_delete=True)
    patterns = sorted({p for p, _, _ in TOPIC_CASES})
    keys = sorted({k for _, k, _ in TOPIC_CASES})
    queues = {}
    for i, p in enumerate(patterns):
        q = f"{uid}-{i}"
        ch.queue_declare(q, exclusive=True)
        ch.queue_bind(q, ex, p)
        queues[p] = q
    ch.confirm_delivery()
    for k in keys:
        ch.basic_publish(ex, k, k.encode() or b"<empty>")
    got = {p: {b.decode() for b in get_bodies(ch, q)} for p, q in queues.items()}
    wrong = [(p, k, want) for p, k, want in TOPIC_CASES if ((k or "<empty>") in got[p]) != want]
    assert wrong == [], "pattern/key/expected that the broker got wrong"


def test_topic_unbind_stops_routing(ch, uid):
    ex = uid + "-x"
    ch.exchange_declare(ex, "topic", auto_delete=True)
    q = ch.queue_declare(uid, exclusive=True).method.queue
    ch.queue_bind(q, ex, "a.#")
    ch.queue_bind(q, ex, "#.z")
    ch.confirm_delivery()
    ch.basic_publish(ex, "a.b", b"1")
    ch.queue_unbind(q, ex, "a.#")
    ch.basic_publish(ex, "a.b", b"2")
    ch.basic_publish(ex, "a.z", b"3")
    assert get_bodies(ch, q) == [b"1", b"3"]


def _headers_route(ch, uid, bindings, messages):
    """bindings: {name: args}; messages: {body: headers}. Returns {name: [bodies]}."""
    ex = uid + "-h"
    ch.exchange_declare(ex, "headers", auto_delete=True)
    for name, args in bindings.items():
        q = f"{uid}-{name}"
        ch.queue_declare(q, exclusive=True)
        ch.queue_bind(q, ex, "", arguments=args)
    ch.confirm_delivery()
    for body, headers in messages.items():
        ch.basic_publish(ex, "ignored", body.encode(), pika.BasicProperties(headers=headers))
    return {name: sorted(b.decode() for b in get_bodies(ch, f"{uid}-{name}")) for name in bindings}


def test_headers_exchange_all_and_any(ch, uid):
    got = _headers_route(
        ch, uid,
        {
            "all": {"x-match": "all", "a": 1, "b": "x"},
            "any": {"x-match": "any", "a": 1, "b": "x"},
            "default": {"a": 1, "b": "x"},  # no x-match: all
            "empty-all": {"x-match": "all"},  # no keys: matches everything
            "empty-any": {"x-match": "any"},  # no keys: matches nothing
        },
        {
            "both": {"a": 1, "b": "x"},
            "both+extra": {"a": 1, "b": "x", "c": 3},
            "only-a": {"a": 1},
            "only-b": {"b": "x"},
            "a-wrong-b": {"a": 1, "b": "y"},
            "none": {"c": 1},
            "no-headers": None,
        },
    )
    assert got["all"] == ["both", "both+extra"]
    assert got["default"] == ["both", "both+extra"]
    assert got["any"] == ["a-wrong-b", "both", "both+extra", "only-a", "only-b"]
    assert got["empty-all"] == ["a-wrong-b", "both", "both+extra", "no-headers", "none", "only-a", "only-b"]
    assert got["empty-any"] == []


def test_headers_exchange_x_keys_ignored_by_all_any_but_not_with_x(ch, uid):
    got = _headers_route(
        ch, uid,
        {
            "all": {"x-match": "all", "x-k": "v", "a": 1},
            "any": {"x-match": "any", "x-k": "v"},
            "all-with-x": {"x-match": "all-with-x", "x-k": "v", "a": 1},
            "any-with-x": {"x-match": "any-with-x", "x-k": "v"},
        },
        {
            "a-only": {"a": 1},
            "a-and-xk": {"a": 1, "x-k": "v"},
            "xk-only": {"x-k": "v"},
            "a-and-wrong-xk": {"a": 1, "x-k": "w"},
        },
    )
    # all/any ignore every x- key (binding side and message side).
    assert got["all"] == ["a-and-wrong-xk", "a-and-xk", "a-only"]
    assert got["any"] == []
    assert got["all-with-x"] == ["a-and-xk"]
    assert got["any-with-x"] == ["a-and-xk", "xk-only"]


def test_headers_exchange_void_matches_presence_and_types_must_agree(ch, uid):
    got = _headers_route(
        ch, uid,
        {
            "void": {"x-match": "all", "a": None},
            "int": {"x-match": "all", "n": 1},
            "str": {"x-match": "all", "n": "1"},
            "bool": {"x-match": "all", "n": True},
        },
        {
            "a-str": {"a": "anything"},
            "a-int": {"a": 7},
            "a-void": {"a": None},
            "n-int": {"n": 1},
            "n-str": {"n": "1"},
            "n-bool": {"n": True},
            "n-int2": {"n": 2},
            "nothing": {},
        },
    )
    assert got["void"] == ["a-int", "a-str", "a-void"]
    assert got["int"] == ["n-int"]
    assert got["str"] == ["n-str"]
    assert got["bool"] == ["n-bool"]


def test_headers_exchange_compares_values_not_field_types(broker, uid):
    """RabbitMQ compares header values by value: numbers of any width (b/s/u/I/l/f/d and even a
    timestamp T) are equal when numerically equal, longstr S equals byte array x with the same
    octets; booleans never equal numbers; arrays and tables compare element types too."""
    T = amqp_raw.Typed
    ex = uid + "-h"
    bindings = {"int5": T("l", 5), "dbl5": T("d", 5.0), "str": "abc", "true": True, "int1": T("l", 1),
                "arr": [T("l", 1), T("l", 2)], "tbl": {"a": T("l", 1)}}
    messages = {"b5": T("b", 5), "s5": T("s", 5), "u5": T("u", 5), "I5": T("I", 5), "l5": T("l", 5),
                "f5": T("f", 5.0), "d5": T("d", 5.0), "d5.5": T("d", 5.5), "T5": T("T", 5),
                "S5": T("S", "5"), "Sabc": T("S", "abc"), "xabc": T("x", b"abc"), "t": T("t", True),
                "b1": T("b", 1), "V": T("V", None), "arr-l": [T("l", 1), T("l", 2)],
                "arr-b": [T("b", 1), T("b", 2)], "tbl-l": {"a": T("l", 1)}, "tbl-b": {"a": T("b", 1)}}
    got = {}
    with amqp_raw.connect(broker.host, broker.port) as raw:  # raw, to choose every field type
        raw.open_channel(1)
        raw.rpc(1, "exchange.declare", "exchange.declare-ok", exchange=ex, type="headers", auto_delete=True)
        for name, value in bindings.items():
            raw.rpc(1, "queue.declare", "queue.declare-ok", queue=f"{uid}-{name}", exclusive=True)
            raw.rpc(1, "queue.bind", "queue.bind-ok", queue=f"{uid}-{name}", exchange=ex,
                    arguments={"x-match": "all", "n": value})
        raw.rpc(1, "confirm.select", "confirm.select-ok")
        for body, value in messages.items():
            raw.publish(1, ex, "", body.encode(), {"headers": {"n": value}})
            raw.expect("basic.ack", 1)
        for name in bindings:
            got[name] = []
            while True:
                raw.send_method(1, "basic.get", queue=f"{uid}-{name}", no_ack=True)
                f = raw.read_frame()
                if f.is_method("basic.get-empty"):
                    break
                assert f.is_method("basic.get-ok"), f
                got[name].append(raw.read_content()[1].decode())
            got[name].sort()
    assert got == {
        "int5": ["I5", "T5", "b5", "d5", "f5", "l5", "s5", "u5"],
        "dbl5": ["I5", "T5", "b5", "d5", "f5", "l5", "s5", "u5"],
        "str": ["Sabc", "xabc"],
        "true": ["t"],
        "int1": ["b1"],
        "arr": ["arr-l"],
        "tbl": ["tbl-l"],
    }


def test_default_exchange_routes_to_queue_by_name(ch, uid):
    q = ch.queue_declare(uid, exclusive=True).method.queue
    ch.confirm_delivery()
    ch.basic_publish("", q, b"hi")
    method, _props, body = ch.basic_get(q, auto_ack=True)
    assert body == b"hi"
    assert method.exchange == ""
    assert method.routing_key == q


def test_default_exchange_cannot_be_bound_declared_or_deleted(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, auto_delete=False).method.queue
    try:
        assert channel_closed(ch.queue_bind, q, "", "k") == (
            403, "ACCESS_REFUSED - operation not permitted on the default exchange")
        assert channel_closed(conn.channel().exchange_declare, "", "direct") == (
            403, "ACCESS_REFUSED - operation not permitted on the default exchange")
        assert channel_closed(conn.channel().exchange_declare, "", "direct", passive=True) == (
            403, "ACCESS_REFUSED - operation not permitted on the default exchange")
        assert channel_closed(conn.channel().exchange_delete, "") == (
            403, "ACCESS_REFUSED - operation not permitted on the default exchange")
        assert conn.is_open
    finally:
        conn.channel().queue_delete(q)


@pytest.mark.parametrize("name,kind", [("amq.direct", "direct"), ("amq.fanout", "fanout"),
                                       ("amq.topic", "topic"), ("amq.headers", "headers"),
                                       ("amq.match", "headers")])
def test_predeclared_exchanges_exist_with_their_type(conn, name, kind):
    ch = conn.channel()
    ch.exchange_declare(name, kind, passive=True)
    ch.exchange_declare(name, "fanout" if kind != "fanout" else "direct", passive=True)  # passive ignores type
    ch.exchange_declare(name, kind, durable=True)  # active redeclare with the same properties is ok
    code, text = channel_closed(conn.channel().exchange_declare, name,
                                "fanout" if kind != "fanout" else "direct", durable=True)
    assert code == 406
    assert text.startswith(f"PRECONDITION_FAILED - inequivalent arg 'type' for exchange '{name}' in vhost '/'")


def test_predeclared_amq_exchange_cannot_be_deleted(conn):
    assert channel_closed(conn.channel().exchange_delete, "amq.direct") == (
        403, "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed")
    conn.channel().exchange_declare("amq.direct", "direct", passive=True)


def test_declaring_amq_prefixed_exchange_is_refused(conn, uid):
    assert channel_closed(conn.channel().exchange_declare, "amq." + uid, "direct") == (
        403, f"ACCESS_REFUSED - exchange name 'amq.{uid}' contains reserved prefix 'amq.*'")
    assert channel_closed(conn.channel().exchange_declare, "amq.default", "direct") == (
        403, "ACCESS_REFUSED - exchange name 'amq.default' contains reserved prefix 'amq.*'")


def test_amq_default_is_not_an_alias_of_the_default_exchange(conn, uid):
    assert channel_closed(conn.channel().exchange_declare, "amq.default", "direct", passive=True) == (
        404, "NOT_FOUND - no exchange 'amq.default' in vhost '/'")
    ch = conn.channel()
    ch.queue_declare(uid, exclusive=True)
    ch.confirm_delivery()
    assert channel_closed(ch.basic_publish, "amq.default", uid, b"x") == (
        404, "NOT_FOUND - no exchange 'amq.default' in vhost '/'")


def test_passive_declare_of_missing_exchange_closes_channel_404(conn, uid):
    ch = conn.channel()
    assert channel_closed(ch.exchange_declare, uid, "direct", passive=True) == (
        404, f"NOT_FOUND - no exchange '{uid}' in vhost '/'")
    assert ch.is_closed and conn.is_open


def test_exchange_redeclare_with_other_type_or_flags_is_406(conn, uid):
    ch = conn.channel()
    ch.exchange_declare(uid, "direct", durable=False, auto_delete=False)
    try:
        assert channel_closed(conn.channel().exchange_declare, uid, "fanout") == (
            406, f"PRECONDITION_FAILED - inequivalent arg 'type' for exchange '{uid}' in vhost '/': "
                 "received 'fanout' but current is 'direct'")
        assert channel_closed(conn.channel().exchange_declare, uid, "direct", durable=True) == (
            406, f"PRECONDITION_FAILED - inequivalent arg 'durable' for exchange '{uid}' in vhost '/': "
                 "received 'true' but current is 'false'")
        assert channel_closed(conn.channel().exchange_declare, uid, "direct", auto_delete=True) == (
            406, f"PRECONDITION_FAILED - inequivalent arg 'auto_delete' for exchange '{uid}' in vhost '/': "
                 "received 'true' but current is 'false'")
        # the same declaration again is fine
        conn.channel().exchange_declare(uid, "direct", durable=False, auto_delete=False)
    finally:
        conn.channel().exchange_delete(uid)


def test_unknown_exchange_type_closes_connection_503(conn, uid):
    assert connection_closed(conn.channel().exchange_declare, uid, "nonsense") == (
        503, "COMMAND_INVALID - unknown exchange type 'nonsense'")


def test_exchange_delete_if_unused_on_bound_exchange_is_406(conn, uid):
    ch = conn.channel()
    ch.exchange_declare(uid, "direct")
    q = ch.queue_declare(uid + "-q", exclusive=True).method.queue
    ch.queue_bind(q, uid, "k")
    try:
        assert channel_closed(conn.channel().exchange_delete, uid, if_unused=True) == (
            406, f"PRECONDITION_FAILED - exchange '{uid}' in vhost '/' in use")
        c2 = conn.channel()
        c2.exchange_declare(uid, "direct", passive=True)  # still there
        c2.queue_unbind(q, uid, "k")
        c2.exchange_delete(uid, if_unused=True)  # unused now
        assert channel_closed(conn.channel().exchange_declare, uid, "direct", passive=True)[0] == 404
    finally:
        conn.channel().exchange_delete(uid)


def test_deleting_missing_exchange_or_queue_succeeds(ch, uid):
    ch.exchange_delete(uid + "-nope")
    ok = ch.queue_delete(uid + "-nope")
    assert ok.method.message_count == 0
    assert ch.is_open


def test_auto_delete_exchange_goes_when_last_binding_goes(conn, uid):
    ch = conn.channel()
    ch.exchange_declare(uid, "fanout", auto_delete=True)
    ch.exchange_declare(uid, "fanout", passive=True)  # never bound: stays
    q = ch.queue_declare(uid + "-q", exclusive=True).method.queue
    ch.queue_bind(q, uid)
    ch.queue_unbind(q, uid)
    assert channel_closed(conn.channel().exchange_declare, uid, "fanout", passive=True)[0] == 404


def test_exchange_to_exchange_binding_and_unbind(ch, uid):
    src, dst = uid + "-src", uid + "-dst"
    ch.exchange_declare(src, "direct")
    ch.exchange_declare(dst, "fanout", auto_delete=True)
    q = ch.queue_declare(uid, exclusive=True).method.queue
    ch.queue_bind(q, dst)
    ch.exchange_bind(destination=dst, source=src, routing_key="k")
    ch.confirm_delivery()
    ch.basic_publish(src, "k", b"via-e2e")
    ch.basic_publish(src, "other", b"not-routed")
    ch.basic_publish(dst, "any", b"direct-to-dst")
    assert get_bodies(ch, q) == [b"via-e2e", b"direct-to-dst"]
    ch.exchange_unbind(destination=dst, source=src, routing_key="k")
    ch.basic_publish(src, "k", b"after-unbind")
    assert get_bodies(ch, q) == []
    ch.exchange_delete(src)


def test_exchange_binding_cycle_delivers_once(ch, uid):
    a, b = uid + "-a", uid + "-b"
    ch.exchange_declare(a, "fanout", auto_delete=True)
    ch.exchange_declare(b, "fanout", auto_delete=True)
    ch.exchange_bind(destination=b, source=a)
    ch.exchange_bind(destination=a, source=b)
    q = ch.queue_declare(uid, exclusive=True).method.queue
    ch.queue_bind(q, a)
    ch.queue_bind(q, b)
    ch.confirm_delivery()
    ch.basic_publish(a, "", b"once")
    assert get_bodies(ch, q) == [b"once"]
    ch.exchange_delete(a)  # the two keep each other alive
    ch.exchange_delete(b)


def test_publish_to_internal_exchange_is_403(conn, uid):
    ch = conn.channel()
    ch.exchange_declare(uid, "fanout", internal=True)
    try:
        c = conn.channel()
        c.confirm_delivery()
        assert channel_closed(c.basic_publish, uid, "", b"x") == (
            403, f"ACCESS_REFUSED - cannot publish to internal exchange '{uid}' in vhost '/'")
        # but an internal exchange receives from another exchange
        c = conn.channel()
        c.exchange_declare(uid + "-front", "direct", auto_delete=True)
        c.exchange_bind(destination=uid, source=uid + "-front", routing_key="k")
        q = c.queue_declare(uid + "-q", exclusive=True).method.queue
        c.queue_bind(q, uid)
        c.confirm_delivery()
        c.basic_publish(uid + "-front", "k", b"through")
        assert get_bodies(c, q) == [b"through"]
    finally:
        conn.channel().exchange_delete(uid)


def test_publish_to_missing_exchange_is_404(conn, uid):
    ch = confirm_channel(conn)
    assert channel_closed(ch.basic_publish, uid, "k", b"x") == (
        404, f"NOT_FOUND - no exchange '{uid}' in vhost '/'")
    assert conn.is_open


# ---------------------------------------------------------------------------
# Queues


def test_server_named_queue_gets_amq_gen_name(ch):
    a = ch.queue_declare("", exclusive=True).method.queue
    b = ch.queue_declare("", exclusive=True).method.queue
    assert a.startswith("amq.gen-") and b.startswith("amq.gen-")
    assert a != b
    assert len(a) > len("amq.gen-") + 8
    ch.confirm_delivery()
    ch.basic_publish("", a, b"to-generated")
    assert get_bodies(ch, a) == [b"to-generated"]


def test_declaring_amq_prefixed_queue_is_refused(conn, uid):
    assert channel_closed(conn.channel().queue_declare, "amq." + uid) == (
        403, f"ACCESS_REFUSED - queue name 'amq.{uid}' contains reserved prefix 'amq.*'")
    assert channel_closed(conn.channel().queue_declare, "amq." + uid, passive=True) == (
        404, f"NOT_FOUND - no queue 'amq.{uid}' in vhost '/'")


def test_passive_declare_of_missing_queue_is_404(conn, uid):
    ch = conn.channel()
    assert channel_closed(ch.queue_declare, uid, passive=True) == (
        404, f"NOT_FOUND - no queue '{uid}' in vhost '/'")
    assert ch.is_closed and conn.is_open


def test_declare_ok_reports_ready_messages_and_consumers(connect, uid):
    c1 = connect()
    ch = c1.channel()
    q = ch.queue_declare(uid, exclusive=True).method.queue
    fill(ch, q, 5)
    ok = ch.queue_declare(q, passive=True).method
    assert (ok.queue, ok.message_count, ok.consumer_count) == (q, 5, 0)
    cons = c1.channel()
    cons.basic_qos(prefetch_count=2)
    cons.basic_consume(q, lambda *a: None)
    cons.basic_consume(q, lambda *a: None)
    settle(c1, 0.3)
    # 2 consumers x prefetch 2 hold 4 unacked; only ready messages are counted
    ok = ch.queue_declare(q, passive=True).method
    assert (ok.message_count, ok.consumer_count) == (1, 2)
    ok = ch.queue_declare(q, exclusive=True).method  # active redeclare reports the same
    assert (ok.message_count, ok.consumer_count) == (1, 2)


def test_queue_redeclare_with_different_flags_is_406(conn, uid):
    ch = conn.channel()
    ch.queue_declare(uid, durable=False, auto_delete=False, arguments={"x-max-length": 5})
    try:
        assert channel_closed(conn.channel().queue_declare, uid, durable=True,
                              arguments={"x-max-length": 5}) == (
            406, f"PRECONDITION_FAILED - inequivalent arg 'durable' for queue '{uid}' in vhost '/': "
                 "received 'true' but current is 'false'")
        assert channel_closed(conn.channel().queue_declare, uid, auto_delete=True,
                              arguments={"x-max-length": 5}) == (
            406, f"PRECONDITION_FAILED - inequivalent arg 'auto_delete' for queue '{uid}' in vhost '/': "
                 "received 'true' but current is 'false'")
        assert channel_closed(conn.channel().queue_declare, uid, arguments={"x-max-length": 6}) == (
            406, f"PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue '{uid}' in vhost '/': "
                 "received '6' but current is '5'")
        conn.channel().queue_declare(uid, arguments={"x-max-length": 5})  # identical: ok
    finally:
        conn.channel().queue_delete(uid)


def test_redeclaring_non_exclusive_queue_as_exclusive_is_405(conn, uid):
    conn.channel().queue_declare(uid, auto_delete=True)
    try:
        code, text = channel_closed(conn.channel().queue_declare, uid, exclusive=True, auto_delete=True)
        assert code == 405
        assert text.startswith(f"RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{uid}' in vhost '/'")
    finally:
        conn.channel().queue_delete(uid)


LOCKED = ("RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{q}' in vhost '/'. "
          "It could be originally declared on another connection or the exclusive property value "
          "does not match that of the original declaration.")


def test_exclusive_queue_is_locked_for_other_connections(connect, uid):
    owner = connect()
    q = owner.channel().queue_declare(uid, exclusive=True).method.queue
    other = connect()
    want = (405, amqp_raw.reply_text(LOCKED.format(q=q)))  # cut to fit a shortstr
    assert len(want[1]) == 255 and want[1].endswith("...")
    assert channel_closed(other.channel().queue_declare, q, exclusive=True) == want
    assert channel_closed(other.channel().queue_declare, q) == want
    assert channel_closed(other.channel().queue_declare, q, passive=True) == want
    assert channel_closed(other.channel().basic_consume, q, lambda *a: None) == want
    assert channel_closed(other.channel().basic_get, q) == want
    assert channel_closed(other.channel().queue_purge, q) == want
    assert channel_closed(other.channel().queue_delete, q) == want
    assert channel_closed(other.channel().queue_bind, q, "amq.fanout") == want
    # the owner can still use it; publishing to it from elsewhere is allowed
    pub = confirm_channel(other)
    pub.basic_publish("", q, b"from-other")
    assert get_bodies(owner.channel(), q) == [b"from-other"]


def test_exclusive_queue_deleted_when_its_connection_closes(connect, uid):
    owner = connect()
    q = owner.channel().queue_declare(uid, exclusive=True).method.queue
    owner.close()
    assert q_exists(connect, q) is False


def test_exclusive_queue_survives_its_channel_closing(connect, uid):
    owner = connect()
    ch = owner.channel()
    q = ch.queue_declare(uid, exclusive=True).method.queue
    ch.close()
    owner.channel().queue_declare(q, passive=True)


def test_auto_delete_queue_deleted_after_last_consumer_cancels(connect, uid):
    c = connect()
    ch = c.channel()
    q = ch.queue_declare(uid, auto_delete=True).method.queue
    assert q_exists(connect, q)  # never consumed: stays
    t1 = ch.basic_consume(q, lambda *a: None)
    t2 = ch.basic_consume(q, lambda *a: None)
    ch.basic_cancel(t1)
    assert q_exists(connect, q)  # one consumer left
    ch.basic_cancel(t2)
    assert not q_exists(connect, q)


def test_auto_delete_queue_deleted_when_consumer_connection_closes(connect, uid):
    c = connect()
    ch = c.channel()
    q = ch.queue_declare(uid, auto_delete=True).method.queue
    ch.basic_consume(q, lambda *a: None)
    c.close()
    assert not q_exists(connect, q)


def test_purge_returns_ready_message_count(ch, uid):
    q = ch.queue_declare(uid, exclusive=True).method.queue
    fill(ch, q, 7)
    assert ch.queue_purge(q).method.message_count == 7
    assert ch.queue_purge(q).method.message_count == 0
    assert ch.queue_declare(q, passive=True).method.message_count == 0


def test_purge_leaves_unacked_messages(ch, uid):
    q = ch.queue_declare(uid, exclusive=True).method.queue
    fill(ch, q, 3)
    method, _, _ = ch.basic_get(q)  # unacked
    assert ch.queue_purge(q).method.message_count == 2
    ch.basic_reject(method.delivery_tag, requeue=True)
    assert get_bodies(ch, q) == [b"m0"]


def test_purge_of_missing_queue_is_404(conn, uid):
    assert channel_closed(conn.channel().queue_purge, uid) == (404, f"NOT_FOUND - no queue '{uid}' in vhost '/'")


def test_queue_delete_returns_message_count(ch, uid):
    q = ch.queue_declare(uid).method.queue
    fill(ch, q, 4)
    assert ch.queue_delete(q).method.message_count == 4
    assert ch.queue_delete(q).method.message_count == 0  # already gone: still ok


def test_queue_delete_if_unused_with_consumer_is_406(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, exclusive=True).method.queue
    ch.basic_consume(q, lambda *a: None)
    assert channel_closed(conn.channel().queue_delete, q, if_unused=True) == (
        406, f"PRECONDITION_FAILED - queue '{q}' in vhost '/' in use")
    conn.channel().queue_declare(q, passive=True)


def test_queue_delete_if_empty_with_messages_is_406(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid).method.queue
    try:
        fill(ch, q, 1)
        assert channel_closed(conn.channel().queue_delete, q, if_empty=True) == (
            406, f"PRECONDITION_FAILED - queue '{q}' in vhost '/' not empty")
        c = conn.channel()
        c.queue_purge(q)
        assert c.queue_delete(q, if_empty=True).method.message_count == 0
    finally:
        conn.channel().queue_delete(q)


def test_queue_unbind_stops_routing_and_missing_binding_unbind_is_ok(ch, uid):
    ex = uid + "-x"
    ch.exchange_declare(ex, "direct", auto_delete=True)
    q = ch.queue_declare(uid, exclusive=True).method.queue
    ch.queue_bind(q, ex, "a")
    ch.queue_bind(q, ex, "b")
    ch.confirm_delivery()
    ch.queue_unbind(q, ex, "a")
    ch.queue_unbind(q, ex, "never-bound")  # no error
    ch.basic_publish(ex, "a", b"a")
    ch.basic_publish(ex, "b", b"b")
    assert get_bodies(ch, q) == [b"b"]


def test_bind_to_missing_queue_or_exchange_is_404(conn, uid):
    ch = conn.channel()
    ch.queue_declare(uid, exclusive=True)
    assert channel_closed(conn.channel().queue_bind, uid + "-nq", "amq.direct", "k") == (
        404, f"NOT_FOUND - no queue '{uid}-nq' in vhost '/'")
    assert channel_closed(conn.channel().queue_bind, uid, uid + "-nx", "k") == (
        404, f"NOT_FOUND - no exchange '{uid}-nx' in vhost '/'")


# ---------------------------------------------------------------------------
# Publishing


def test_mandatory_unroutable_message_is_returned_312(ch, uid):
    ex = uid + "-x"
    ch.exchange_declare(ex, "direct", auto_delete=True)
    returned = []
    ch.add_on_return_callback(lambda c, method, props, body: returned.append((method, props, body)))
    ch.basic_publish(ex, "nowhere", b"lost", pika.BasicProperties(message_id="m1"), mandatory=True)
    ch.basic_publish(ex, "nowhere", b"dropped-silently")  # not mandatory: no return
    collect(ch.connection, returned, 1)
    settle(ch.connection, 0.2)
    ch.exchange_delete(ex)  # never bound, so auto-delete never triggers
    assert len(returned) == 1
    method, props, body = returned[0]
    assert (method.reply_code, method.reply_text, method.exchange, method.routing_key) == (
        312, "NO_ROUTE", ex, "nowhere")
    assert body == b"lost" and props.message_id == "m1"


def test_mandatory_unroutable_with_confirms_raises_unroutable(ch, uid):
    ch.confirm_delivery()
    with pytest.raises(pex.UnroutableError) as ei:
        ch.basic_publish("", uid + "-no-such-queue", b"x", mandatory=True)
    (msg,) = ei.value.messages
    assert msg.method.reply_code == 312 and msg.body == b"x"
    q = ch.queue_declare(uid, exclusive=True).method.queue
    ch.basic_publish("", q, b"routed", mandatory=True)  # routable: no exception
    assert get_bodies(ch, q) == [b"routed"]


@pytest.mark.parametrize("size", [0, 131064, 131065, 300 * 1024, 1024 * 1024])
def test_body_of_any_size_arrives_intact(ch, uid, size):
    q = ch.queue_declare(uid, exclusive=True).method.queue
    body = bytes((i * 7 + 3) % 256 for i in range(size))
    ch.confirm_delivery()
    ch.basic_publish("", q, body)
    method, _props, got = ch.basic_get(q, auto_ack=True)
    assert len(got) == size
    assert got == body


def test_every_basic_property_round_trips(ch, uid):
    q = ch.queue_declare(uid, exclusive=True).method.queue
    when = datetime.datetime(2021, 3, 4, 5, 6, 7, tzinfo=datetime.timezone.utc)
    headers = {
        "str": "hello ü",
        "bytes": b"\x00\x01\xff",
        "int-small": 7,
        "int-neg": -3,
        "int-large": 2**40 + 1,
        "bool-t": True,
        "bool-f": False,
        "decimal": decimal.Decimal("3.14"),
        "timestamp": when,
        "nested": {"a": 1, "b": {"c": "d"}},
        "list": [1, "two", b"three", [4], {"five": 5}, None, True],
        "void": None,
        "empty-str": "",
    }
    props = pika.BasicProperties(
        content_type="application/json", content_encoding="gzip", headers=headers, delivery_mode=2,
        priority=5, correlation_id="corr-1", reply_to="reply-q", expiration="60000",
        message_id="msg-1", timestamp=1700000000, type="my.type", user_id="guest", app_id="app-9",
    )
    ch.confirm_delivery()
    ch.basic_publish("", q, b"{}", props)
    method, got, body = ch.basic_get(q, auto_ack=True)
    assert body == b"{}"
    for attr in ["content_type", "content_encoding", "delivery_mode", "priority", "correlation_id",
                 "reply_to", "expiration", "message_id", "timestamp", "type", "user_id", "app_id"]:
        assert getattr(got, attr) == getattr(props, attr), attr
    h = got.headers
    assert h["str"] == "hello ü"
    assert h["bytes"] == b"\x00\x01\xff"
    assert h["int-small"] == 7 and h["int-neg"] == -3 and h["int-large"] == 2**40 + 1
    assert h["bool-t"] is True and h["bool-f"] is False
    assert h["decimal"] == decimal.Decimal("3.14")
    assert h["timestamp"] == when
    assert h["nested"] == {"a": 1, "b": {"c": "d"}}
    assert h["list"] == [1, "two", b"three", [4], {"five": 5}, None, True]
    assert h["void"] is None
    assert h["empty-str"] == ""
    assert set(h) == set(headers)


def test_absent_properties_stay_absent(ch, uid):
    q = ch.queue_declare(uid, exclusive=True).method.queue
    ch.confirm_delivery()
    ch.basic_publish("", q, b"bare")
    _m, props, _b = ch.basic_get(q, auto_ack=True)
    for attr in ["content_type", "content_encoding", "headers", "delivery_mode", "priority",
                 "correlation_id", "reply_to", "expiration", "message_id", "timestamp", "type",
                 "user_id", "app_id", "cluster_id"]:
        assert getattr(props, attr) is None, attr


def test_user_id_must_equal_login_user(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, exclusive=True).method.queue
    ch.confirm_delivery()
    ch.basic_publish("", q, b"ok", pika.BasicProperties(user_id="guest"))
    assert channel_closed(ch.basic_publish, "", q, b"bad", pika.BasicProperties(user_id="mallory")) == (
        406, "PRECONDITION_FAILED - user_id property set to 'mallory' but authenticated user was 'guest'")
    assert get_bodies(conn.channel(), q) == [b"ok"]


# ---------------------------------------------------------------------------
# Consuming


def test_basic_get_reports_remaining_count_and_get_empty(ch, uid):
    q = ch.queue_declare(uid, exclusive=True).method.queue
    fill(ch, q, 3)
    counts = []
    for i in range(3):
        method, _p, body = ch.basic_get(q, auto_ack=True)
        assert body == f"m{i}".encode()
        assert method.redelivered is False
        counts.append(method.message_count)
    assert counts == [2, 1, 0]
    assert ch.basic_get(q) == (None, None, None)


def test_get_empty_sent_as_basic_get_empty(broker, uid):
    with amqp_raw.connect(broker.host, broker.port) as raw:
        raw.open_channel(1)
        raw.rpc(1, "queue.declare", "queue.declare-ok", queue=uid, exclusive=True)
        f = raw.rpc(1, "basic.get", "basic.get-empty", queue=uid)
        assert f.args == {"cluster_id": ""}


def test_delivery_tags_count_up_per_channel_from_1(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, exclusive=True).method.queue
    fill(ch, q, 4)
    other = conn.channel()
    tags = [ch.basic_get(q)[0].delivery_tag, ch.basic_get(q)[0].delivery_tag]
    tags.append(other.basic_get(q)[0].delivery_tag)
    tags.append(ch.basic_get(q)[0].delivery_tag)
    assert tags == [1, 2, 1, 3]


def test_consume_with_server_generated_tag(broker, uid):
    # pika always picks its own tag, so ask with an empty tag over the raw client
    with amqp_raw.connect(broker.host, broker.port) as raw:
        raw.open_channel(1)
        raw.rpc(1, "queue.declare", "queue.declare-ok", queue=uid, exclusive=True)
        tag = raw.rpc(1, "basic.consume", "basic.consume-ok", queue=uid, consumer_tag="", no_ack=True
                      ).args["consumer_tag"]
        tag2 = raw.rpc(1, "basic.consume", "basic.consume-ok", queue=uid, consumer_tag="", no_ack=True
                       ).args["consumer_tag"]
        assert tag.startswith("amq.ctag-") and tag2.startswith("amq.ctag-") and tag != tag2
        assert len(tag) > len("amq.ctag-") + 8
        raw.publish(1, "", uid, b"hello")
        frame, _props, body = raw.next_event()
        assert frame.name == "basic.deliver" and body == b"hello"
        assert frame.args["consumer_tag"] in (tag, tag2)
        assert (frame.args["exchange"], frame.args["routing_key"], frame.args["redelivered"]) == ("", uid, False)


def test_consume_with_given_tag(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, exclusive=True).method.queue
    got = []
    tag = ch.basic_consume(q, lambda c, m, p, b: got.append(m), auto_ack=True, consumer_tag="my-tag")
    assert tag == "my-tag"
    fill(conn.channel(), q, 1)
    collect(conn, got, 1)
    assert got[0].consumer_tag == "my-tag"


def test_duplicate_consumer_tag_on_channel_closes_connection_530(broker, uid):
    with amqp_raw.connect(broker.host, broker.port) as raw:
        raw.open_channel(1)
        raw.open_channel(2)
        raw.rpc(1, "queue.declare", "queue.declare-ok", queue=uid, exclusive=True)
        raw.rpc(1, "basic.consume", "basic.consume-ok", queue=uid, consumer_tag="T")
        # the same tag on another channel is fine
        assert raw.rpc(2, "basic.consume", "basic.consume-ok", queue=uid, consumer_tag="T").args == {
            "consumer_tag": "T"}
        raw.send_method(1, "basic.consume", queue=uid, consumer_tag="T")
        close = raw.wait_close()
    assert close == amqp_raw.Close("connection", 0, 530, "NOT_ALLOWED - attempt to reuse consumer tag 'T'", 60, 20)


def test_exclusive_consumer_blocks_other_consumers_403(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, exclusive=True).method.queue
    ch.basic_consume(q, lambda *a: None, exclusive=True)
    want = (403, f"ACCESS_REFUSED - queue '{q}' in vhost '/' in exclusive use")
    assert channel_closed(conn.channel().basic_consume, q, lambda *a: None) == want
    assert channel_closed(conn.channel().basic_consume, q, lambda *a: None, exclusive=True) == want


def test_exclusive_consume_on_queue_with_consumers_is_403(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, exclusive=True).method.queue
    ch.basic_consume(q, lambda *a: None)
    assert channel_closed(conn.channel().basic_consume, q, lambda *a: None, exclusive=True) == (
        403, f"ACCESS_REFUSED - queue '{q}' in vhost '/' in exclusive use")


def test_cancel_stops_deliveries(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, auto_delete=False).method.queue
    try:
        got = []
        tag = ch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
        fill(conn.channel(), q, 1, "before")
        collect(conn, got, 1)
        ch.basic_cancel(tag)
        fill(conn.channel(), q, 1, "after")
        settle(conn, 0.3)
        assert got == [b"before0"]
        assert ch.queue_declare(q, passive=True).method.message_count == 1
    finally:
        conn.channel().queue_delete(q)


def test_cancel_of_unknown_tag_is_ok(broker):
    with amqp_raw.connect(broker.host, broker.port) as raw:
        raw.open_channel(1)
        assert raw.rpc(1, "basic.cancel", "basic.cancel-ok", consumer_tag="nope").args == {"consumer_tag": "nope"}


def test_server_cancels_consumer_when_queue_is_deleted(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, auto_delete=False).method.queue
    cancels = []
    ch.add_on_cancel_callback(lambda frame: cancels.append(frame.method))
    tag = ch.basic_consume(q, lambda *a: None)
    conn.channel().queue_delete(q)
    collect(conn, cancels, 1)
    assert len(cancels) == 1
    assert cancels[0].consumer_tag == tag
    assert ch.is_open


def test_ack_multiple_acks_everything_up_to_tag(ch, uid):
    q = ch.queue_declare(uid, exclusive=True).method.queue
    fill(ch, q, 5)
    tags = [ch.basic_get(q)[0].delivery_tag for _ in range(5)]
    ch.basic_ack(tags[2], multiple=True)  # m0..m2 done
    ch.basic_ack(tags[4])  # m4 done
    ch.basic_recover(requeue=True)  # m3 back
    assert get_bodies(ch, q) == [b"m3"]


def test_ack_zero_multiple_acks_all_outstanding(ch, uid):
    q = ch.queue_declare(uid, exclusive=True).method.queue
    fill(ch, q, 3)
    for _ in range(3):
        ch.basic_get(q)
    ch.basic_ack(0, multiple=True)
    ch.basic_recover(requeue=True)
    assert get_bodies(ch, q) == []


def test_nack_with_requeue_preserves_order(ch, uid):
    q = ch.queue_declare(uid, exclusive=True).method.queue
    fill(ch, q, 5)
    got = [ch.basic_get(q) for _ in range(3)]  # m0 m1 m2 unacked, m3 m4 ready
    ch.basic_nack(got[-1][0].delivery_tag, multiple=True, requeue=True)
    out = []
    for _ in range(5):
        m, _p, b = ch.basic_get(q, auto_ack=True)
        out.append((b, m.redelivered))
    assert out == [(b"m0", True), (b"m1", True), (b"m2", True), (b"m3", False), (b"m4", False)]


def test_individual_rejects_requeue_to_original_positions(ch, uid):
    q = ch.queue_declare(uid, exclusive=True).method.queue
    fill(ch, q, 5)
    tags = [ch.basic_get(q)[0].delivery_tag for _ in range(4)]  # m0..m3
    for i in (2, 0, 3):  # reject out of order
        ch.basic_reject(tags[i], requeue=True)
    ch.basic_ack(tags[1])
    assert get_bodies(ch, q) == [b"m0", b"m2", b"m3", b"m4"]


def test_reject_and_nack_without_requeue_drop_message(ch, uid):
    q = ch.queue_declare(uid, exclusive=True).method.queue
    fill(ch, q, 3)
    t = [ch.basic_get(q)[0].delivery_tag for _ in range(2)]
    ch.basic_reject(t[0], requeue=False)
    ch.basic_nack(t[1], requeue=False)
    ch.basic_recover(requeue=True)
    assert get_bodies(ch, q) == [b"m2"]


def test_recover_requeue_redelivers_unacked_in_order(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, exclusive=True).method.queue
    fill(conn.channel(), q, 3)
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append((b, m.redelivered, m.delivery_tag)))
    collect(conn, got, 3)
    ch.basic_recover(requeue=True)
    collect(conn, got, 6)
    assert [(b, r) for b, r, _ in got] == [
        (b"m0", False), (b"m1", False), (b"m2", False), (b"m0", True), (b"m1", True), (b"m2", True)]
    assert [t for _, _, t in got] == [1, 2, 3, 4, 5, 6]


def test_recover_without_requeue_is_not_implemented_540(broker):
    with amqp_raw.connect(broker.host, broker.port) as raw:
        raw.open_channel(1)
        raw.send_method(1, "basic.recover", requeue=False)
        assert raw.wait_close() == amqp_raw.Close("connection", 0, 540, "NOT_IMPLEMENTED - requeue=false", 60, 110)


def test_unacked_messages_requeued_when_channel_closes(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, auto_delete=False).method.queue
    try:
        fill(ch, q, 2)
        c2 = conn.channel()
        c2.basic_get(q)
        c2.basic_get(q)
        assert ch.queue_declare(q, passive=True).method.message_count == 0
        c2.close()
        out = [(b, m.redelivered) for m, _p, b in (ch.basic_get(q, auto_ack=True) for _ in range(2))]
        assert out == [(b"m0", True), (b"m1", True)]
    finally:
        conn.channel().queue_delete(q)


def test_ack_of_unknown_delivery_tag_is_406(conn):
    ch = conn.channel()
    ch.basic_ack(99)
    assert channel_closed(ch.queue_declare, "", exclusive=True) == (
        406, "PRECONDITION_FAILED - unknown delivery tag 99")
    assert conn.is_open


@pytest.mark.parametrize("op", ["nack", "reject"])
def test_nack_reject_of_unknown_delivery_tag_is_406(conn, op):
    ch = conn.channel()
    getattr(ch, "basic_" + op)(7)
    assert channel_closed(ch.queue_declare, "", exclusive=True) == (
        406, "PRECONDITION_FAILED - unknown delivery tag 7")


def test_double_ack_is_406(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, exclusive=True).method.queue
    fill(ch, q, 1)
    tag = ch.basic_get(q)[0].delivery_tag
    ch.basic_ack(tag)
    ch.basic_ack(tag)
    assert channel_closed(ch.queue_declare, "", exclusive=True) == (
        406, f"PRECONDITION_FAILED - unknown delivery tag {tag}")


def test_ack_of_auto_acked_delivery_is_406(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, exclusive=True).method.queue
    fill(ch, q, 1)
    tag = ch.basic_get(q, auto_ack=True)[0].delivery_tag
    ch.basic_ack(tag)
    assert channel_closed(ch.queue_declare, "", exclusive=True) == (
        406, f"PRECONDITION_FAILED - unknown delivery tag {tag}")


def _consume_counting(conn, ch, queue, tag):
    got = []
    ch.basic_consume(queue, lambda c, m, p, b: got.append(m), consumer_tag=tag)
    return got


def test_prefetch_per_consumer_limits_each_consumer(conn, uid):
    ch = conn.channel()
    qa = ch.queue_declare(uid + "-a", exclusive=True).method.queue
    qb = ch.queue_declare(uid + "-b", exclusive=True).method.queue
    fill(conn.channel(), qa, 10)
    fill(conn.channel(), qb, 10)
    ch.basic_qos(prefetch_count=3)  # global=False: each new consumer may hold 3
    a = _consume_counting(conn, ch, qa, "A")
    b = _consume_counting(conn, ch, qb, "B")
    collect(conn, a, 3)
    collect(conn, b, 3)
    settle(conn)
    assert (len(a), len(b)) == (3, 3)
    ch.basic_ack(a[0].delivery_tag)
    collect(conn, a, 4)
    settle(conn)
    assert (len(a), len(b)) == (4, 3)  # exactly one more, only for A
    for m in b:
        ch.basic_ack(m.delivery_tag)
    collect(conn, b, 6)
    settle(conn)
    assert (len(a), len(b)) == (4, 6)


def test_prefetch_global_is_shared_by_channel_consumers(conn, uid):
    ch = conn.channel()
    qa = ch.queue_declare(uid + "-a", exclusive=True).method.queue
    qb = ch.queue_declare(uid + "-b", exclusive=True).method.queue
    fill(conn.channel(), qa, 10)
    fill(conn.channel(), qb, 10)
    ch.basic_qos(prefetch_count=3, global_qos=True)
    a = _consume_counting(conn, ch, qa, "A")
    b = _consume_counting(conn, ch, qb, "B")
    settle(conn, 0.5)
    assert (len(a), len(b)) == (3, 0)  # the first consumer fills the channel's window
    ch.basic_ack(a[0].delivery_tag)
    settle(conn)
    assert len(a) + len(b) == 4


def test_prefetch_per_consumer_then_global_both_apply(conn, uid):
    ch = conn.channel()
    qa = ch.queue_declare(uid + "-a", exclusive=True).method.queue
    qb = ch.queue_declare(uid + "-b", exclusive=True).method.queue
    fill(conn.channel(), qa, 10)
    fill(conn.channel(), qb, 10)
    ch.basic_qos(prefetch_count=2)
    ch.basic_qos(prefetch_count=3, global_qos=True)
    a = _consume_counting(conn, ch, qa, "A")
    b = _consume_counting(conn, ch, qb, "B")
    settle(conn, 0.5)
    assert (len(a), len(b)) == (2, 1)


def test_prefetch_per_consumer_after_global_removes_channel_limit(conn, uid):
    """RabbitMQ: basic.qos(global=false) resets the channel-wide limit to unlimited."""
    ch = conn.channel()
    qa = ch.queue_declare(uid + "-a", exclusive=True).method.queue
    qb = ch.queue_declare(uid + "-b", exclusive=True).method.queue
    fill(conn.channel(), qa, 10)
    fill(conn.channel(), qb, 10)
    ch.basic_qos(prefetch_count=3, global_qos=True)
    ch.basic_qos(prefetch_count=2)
    a = _consume_counting(conn, ch, qa, "A")
    b = _consume_counting(conn, ch, qb, "B")
    settle(conn, 0.5)
    assert (len(a), len(b)) == (2, 2)


def test_prefetch_change_does_not_affect_existing_consumer(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, exclusive=True).method.queue
    fill(conn.channel(), q, 10)
    ch.basic_qos(prefetch_count=2)
    a = _consume_counting(conn, ch, q, "A")
    settle(conn)
    assert len(a) == 2
    ch.basic_qos(prefetch_count=5)
    settle(conn)
    assert len(a) == 2
    ch.basic_ack(a[0].delivery_tag)
    settle(conn)
    assert len(a) == 3


def test_consumer_created_before_qos_is_unlimited(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, exclusive=True).method.queue
    fill(conn.channel(), q, 10)
    a = _consume_counting(conn, ch, q, "A")
    ch.basic_qos(prefetch_count=1)
    collect(conn, a, 10)
    assert len(a) == 10


def test_basic_get_and_no_ack_consumers_ignore_prefetch(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, exclusive=True).method.queue
    fill(conn.channel(), q, 10)
    ch.basic_qos(prefetch_count=1, global_qos=True)
    assert ch.basic_get(q)[2] == b"m0"
    assert ch.basic_get(q)[2] == b"m1"  # unacked gets don't count against prefetch
    got = []
    ch.basic_qos(prefetch_count=1)
    ch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
    collect(conn, got, 8)
    assert len(got) == 8


def test_prefetch_size_is_not_implemented_540(conn):
    assert connection_closed(conn.channel().basic_qos, prefetch_size=1000) == (
        540, "NOT_IMPLEMENTED - prefetch_size!=0 (1000)")


def test_round_robin_between_two_consumers(connect, uid):
    c = connect()
    ch = c.channel()
    q = ch.queue_declare(uid, exclusive=True).method.queue
    got = []
    ch.basic_consume(q, lambda c_, m, p, b: got.append(("A", b)), auto_ack=True)
    ch.basic_consume(q, lambda c_, m, p, b: got.append(("B", b)), auto_ack=True)
    fill(c.channel(), q, 10)
    collect(c, got, 10)
    assert got == [("A" if i % 2 == 0 else "B", f"m{i}".encode()) for i in range(10)]


def test_message_is_never_delivered_to_two_consumers(connect, uid):
    n = 200
    setup = connect()
    q = setup.channel().queue_declare(uid, auto_delete=False).method.queue
    fill(setup.channel(), q, n)
    seen = {}
    lock = threading.Lock()
    stop = threading.Event()

    def worker(name):
        c = pika.BlockingConnection(setup._impl.params)
        try:
            ch = c.channel()
            ch.basic_qos(prefetch_count=5)

            def on(chan, m, p, b):
                with lock:
                    seen.setdefault(b, []).append((name, m.redelivered))
                chan.basic_ack(m.delivery_tag)

            ch.basic_consume(q, on)
            deadline = time.monotonic() + 8
            while not stop.is_set() and time.monotonic() < deadline:
                c.process_data_events(time_limit=0.05)
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        with lock:
            if len(seen) == n:
                break
        time.sleep(0.05)
    time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()
    setup.channel().queue_delete(q)
    assert len(seen) == n
    assert all(len(v) == 1 and v[0][1] is False for v in seen.values())
    assert len({w for v in seen.values() for w, _ in v}) == 3  # everyone got some


# ---------------------------------------------------------------------------
# Publisher confirms and transactions


def test_publisher_confirms_blocking_publish_returns_after_ack(ch, uid):
    q = ch.queue_declare(uid, exclusive=True).method.queue
    ch.confirm_delivery()
    for i in range(20):
        ch.basic_publish("", q, str(i).encode())
    assert ch.queue_declare(q, passive=True).method.message_count == 20


def test_publisher_confirm_delivery_tags_count_from_1(broker, uid):
    n = 50
    with amqp_raw.connect(broker.host, broker.port) as raw:
        raw.open_channel(1)
        raw.rpc(1, "queue.declare", "queue.declare-ok", queue=uid, exclusive=True)
        raw.rpc(1, "confirm.select", "confirm.select-ok")
        for i in range(n):
            raw.publish(1, "", uid, b"x")
        raw.publish(1, "", uid + "-unroutable", b"y")  # unroutable, not mandatory: acked too
        confirmed = set()
        deadline = time.monotonic() + Q_TIMEOUT
        while len(confirmed) < n + 1 and time.monotonic() < deadline:
            e = raw.next_event(1.0)
            assert e is not None, "missing confirms"
            f = e[0]
            assert f.name == "basic.ack", f
            tag = f.args["delivery_tag"]
            if f.args["multiple"]:
                confirmed |= {t for t in range(1, tag + 1)}
            else:
                assert tag not in confirmed
                confirmed.add(tag)
        assert confirmed == set(range(1, n + 2))


def test_confirm_select_on_tx_channel_is_406(conn):
    ch = conn.channel()
    ch.tx_select()
    assert channel_closed(ch.confirm_delivery) == (406, "PRECONDITION_FAILED - cannot switch from tx to confirm mode")


def test_tx_select_on_confirm_channel_is_406(conn):
    ch = conn.channel()
    ch.confirm_delivery()
    assert channel_closed(ch.tx_select) == (406, "PRECONDITION_FAILED - cannot switch from confirm to tx mode")


def test_tx_publish_then_rollback_delivers_nothing(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, exclusive=True).method.queue
    ch.tx_select()
    ch.basic_publish("", q, b"a")
    ch.basic_publish("", q, b"b")
    observer = conn.channel()
    assert observer.queue_declare(q, passive=True).method.message_count == 0
    ch.tx_rollback()
    assert observer.queue_declare(q, passive=True).method.message_count == 0
    ch.basic_publish("", q, b"c")
    ch.tx_commit()
    assert get_bodies(observer, q) == [b"c"]


def test_tx_publish_then_commit_delivers(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, exclusive=True).method.queue
    ch.tx_select()
    for b in (b"1", b"2", b"3"):
        ch.basic_publish("", q, b)
    observer = conn.channel()
    assert observer.queue_declare(q, passive=True).method.message_count == 0
    ch.tx_commit()
    assert get_bodies(observer, q) == [b"1", b"2", b"3"]


def test_tx_acks_take_effect_only_at_commit(connect, uid):
    c = connect()
    setup = c.channel()
    q = setup.queue_declare(uid, auto_delete=False).method.queue
    try:
        fill(setup, q, 2)
        ch = c.channel()
        ch.tx_select()
        t0 = ch.basic_get(q)[0].delivery_tag
        t1 = ch.basic_get(q)[0].delivery_tag
        ch.basic_ack(t0)
        ch.tx_rollback()  # the ack is discarded; both stay unacked
        ch.basic_ack(t1)
        ch.tx_commit()  # m1 acked
        ch.close()  # m0 goes back
        out = [(b, m.redelivered) for m, _p, b in [setup.basic_get(q, auto_ack=True)]]
        assert out == [(b"m0", True)]
        assert setup.basic_get(q) == (None, None, None)
    finally:
        c.channel().queue_delete(q)


@pytest.mark.parametrize("op", ["tx_commit", "tx_rollback"])
def test_tx_commit_or_rollback_without_select_is_406(conn, op):
    ch = conn.channel()
    assert channel_closed(getattr(ch, op)) == (406, "PRECONDITION_FAILED - channel is not transactional")


# ---------------------------------------------------------------------------
# channel.flow


def test_channel_flow_active_true_is_acknowledged(ch):
    assert ch.flow(True) is True


def test_channel_flow_active_false_is_not_implemented_540(conn):
    ch = conn.channel()
    assert connection_closed(ch.flow, False) == (540, "NOT_IMPLEMENTED - active=false")


# ---------------------------------------------------------------------------
# Direct reply-to


def test_direct_reply_to_round_trip(connect, uid):
    server_conn = connect()
    server = server_conn.channel()
    rpc_q = server.queue_declare(uid, exclusive=True).method.queue

    client_conn = connect()
    client = client_conn.channel()
    replies = []
    ctag = client.basic_consume("amq.rabbitmq.reply-to", lambda c, m, p, b: replies.append((m, p, b)),
                                auto_ack=True)
    client.basic_publish("", rpc_q, b"ping",
                         pika.BasicProperties(reply_to="amq.rabbitmq.reply-to", correlation_id="c-1"))

    method, props, body = None, None, None
    deadline = time.monotonic() + Q_TIMEOUT
    while method is None and time.monotonic() < deadline:
        method, props, body = server.basic_get(rpc_q, auto_ack=True)
    assert body == b"ping"
    reply_to = props.reply_to
    assert reply_to.startswith("amq.rabbitmq.reply-to.") and len(reply_to) > len("amq.rabbitmq.reply-to.")
    assert props.correlation_id == "c-1"

    server.basic_publish("", reply_to, b"pong", pika.BasicProperties(correlation_id="c-1"))
    collect(client_conn, replies, 1)
    m, p, b = replies[0]
    assert b == b"pong" and p.correlation_id == "c-1"
    assert (m.consumer_tag, m.exchange, m.routing_key, m.redelivered) == (ctag, "", reply_to, False)


def test_direct_reply_to_publish_without_consumer_is_406(conn, uid):
    ch = conn.channel()
    q = ch.queue_declare(uid, exclusive=True).method.queue
    ch.confirm_delivery()
    assert channel_closed(ch.basic_publish, "", q, b"x",
                          pika.BasicProperties(reply_to="amq.rabbitmq.reply-to")) == (
        406, "PRECONDITION_FAILED - fast reply consumer does not exist")
    assert conn.channel().queue_declare(q, passive=True).method.message_count == 0


def test_direct_reply_to_consume_with_acks_is_406(conn):
    ch = conn.channel()
    assert channel_closed(ch.basic_consume, "amq.rabbitmq.reply-to", lambda *a: None, auto_ack=False) == (
        406, "PRECONDITION_FAILED - reply consumer cannot acknowledge")


def test_direct_reply_to_second_consumer_on_channel_is_406(conn):
    ch = conn.channel()
    ch.basic_consume("amq.rabbitmq.reply-to", lambda *a: None, auto_ack=True)
    assert channel_closed(ch.basic_consume, "amq.rabbitmq.reply-to", lambda *a: None, auto_ack=True) == (
        406, "PRECONDITION_FAILED - reply consumer already set")


def test_direct_reply_to_pseudo_queue_passive_declare(conn):
    ok = conn.channel().queue_declare("amq.rabbitmq.reply-to", passive=True).method
    assert (ok.queue, ok.message_count, ok.consumer_count) == ("amq.rabbitmq.reply-to", 0, 1)


def test_direct_reply_to_unknown_name_is_unroutable(ch):
    ch.confirm_delivery()
    with pytest.raises(pex.UnroutableError) as ei:
        ch.basic_publish("", "amq.rabbitmq.reply-to.bogus", b"x", mandatory=True)
    assert ei.value.messages[0].method.reply_code == 312


# ---------------------------------------------------------------------------
# Channels


def test_opening_more_channels_than_channel_max_closes_connection_530(connect):
    c = connect(channel_max=3)
    for _ in range(3):
        c.channel()
    with pytest.raises(pex.ConnectionClosedByBroker) as ei:
        c.channel(channel_number=4)
    assert (ei.value.reply_code, ei.value.reply_text) == (
        530, "NOT_ALLOWED - number of channels opened (3) has reached the negotiated channel_max (3)")


def test_channel_numbers_can_be_reused_after_close(conn, uid):
    ch = conn.channel(channel_number=5)
    ch.close()
    ch = conn.channel(channel_number=5)
    assert ch.queue_declare(uid, exclusive=True).method.queue == uid


def test_work_continues_on_new_channel_after_channel_error(conn, uid):
    ch = conn.channel()
    ch.queue_declare(uid, auto_delete=True)
    ch.basic_consume(uid, lambda *a: None)  # keep it alive
    assert channel_closed(conn.channel().queue_declare, uid, durable=True, auto_delete=True)[0] == 406
    c2 = conn.channel()
    ok = c2.queue_declare(uid, auto_delete=True).method
    assert (ok.queue, ok.consumer_count) == (uid, 1)
    c2.confirm_delivery()
    c2.basic_publish("", "", b"")  # default exchange, empty key: dropped, but channel fine
    assert c2.is_open and ch.is_open and conn.is_open


def test_channel_error_does_not_affect_other_channels(conn, uid):
    good = conn.channel()
    q = good.queue_declare(uid, exclusive=True).method.queue
    got = []
    good.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
    bad = conn.channel()
    channel_closed(bad.queue_declare, uid + "-missing", passive=True)
    fill(conn.channel(), q, 2)
    collect(conn, got, 2)
    assert got == [b"m0", b"m1"]


def test_hundred_channels_on_one_connection_each_work(conn, uid):
    chans = [conn.channel() for _ in range(100)]
    assert len({c.channel_number for c in chans}) == 100
    for i, c in enumerate(chans):
        c.queue_declare(f"{uid}-{i}", exclusive=True)
        c.basic_publish("", f"{uid}-{i}", f"body-{i}".encode())
    for i, c in enumerate(chans):
        m, _p, b = c.basic_get(f"{uid}-{i}", auto_ack=True)
        assert b == f"body-{i}".encode()
        assert m.delivery_tag == 1
    for i, c in enumerate(chans):
        c.queue_delete(f"{uid}-{i}")
        c.close()
