"""Alternate exchanges (the `alternate-exchange` argument of exchange.declare) as clients see them.

Checked against RabbitMQ 3.10 (AMQP_EXTERNAL_PORT=5673): an exchange that routes a message
nowhere hands it to its alternate (and that one to its own), the message keeps the exchange and
routing key it was published with, a mandatory publish is returned only when the alternates
find no queue either, loops end, and the declare checks (type, equivalence) with their texts.
"""

import time

import kombu
import pika
import pika.exceptions as pex
import pytest

import amqp_raw


from pika_helpers import params, poll_get  # noqa: E402


@pytest.fixture
def ch(conn):
    return conn.channel()


def ae(name):
    return {"alternate-exchange": name}


def wait_get(ch, queue):
    return poll_get(ch, queue, deadline=3.0)


def test_unroutable_message_goes_to_the_alternate_exchange(ch, uid):
    main, alt = f"{uid}.main", f"{uid}.ae"
    ch.exchange_declare(alt, "fanout")
    ch.exchange_declare(main, "direct", arguments=ae(alt))
    ch.queue_declare(f"{uid}.routed")
    ch.queue_declare(f"{uid}.caught")
    ch.queue_bind(f"{uid}.routed", main, "good")
    ch.queue_bind(f"{uid}.caught", alt)
    ch.basic_publish(main, "good", b"routed")
    ch.basic_publish(main, "bad", b"unroutable", pika.BasicProperties(headers={"a": 1}))
    method, props, body = wait_get(ch, f"{uid}.caught")
    assert body == b"unroutable"
    assert method.exchange == main  # the exchange it was published to, not the alternate
    assert method.routing_key == "bad"
    assert props.headers == {"a": 1}
    assert ch.basic_get(f"{uid}.caught", auto_ack=True)[0] is None
    assert wait_get(ch, f"{uid}.routed")[2] == b"routed"


def test_chain_of_alternates_is_followed(ch, uid):
    ch.exchange_declare(f"{uid}.ae2", "fanout")
    ch.exchange_declare(f"{uid}.ae1", "direct", arguments=ae(f"{uid}.ae2"))
    ch.exchange_declare(f"{uid}.main", "topic", arguments=ae(f"{uid}.ae1"))
    ch.queue_declare(f"{uid}.last")
    ch.queue_bind(f"{uid}.last", f"{uid}.ae2")
    ch.basic_publish(f"{uid}.main", "x.y", b"m")
    method, _, body = wait_get(ch, f"{uid}.last")
    assert (body, method.exchange, method.routing_key) == (b"m", f"{uid}.main", "x.y")


def test_mandatory_is_returned_only_when_the_alternates_find_no_queue(ch, uid):
    main, alt = f"{uid}.main", f"{uid}.ae"
    ch.exchange_declare(alt, "direct")
    ch.exchange_declare(main, "direct", arguments=ae(alt))
    ch.queue_declare(f"{uid}.q")
    ch.queue_bind(f"{uid}.q", alt, "good")
    ch.confirm_delivery()
    ch.basic_publish(main, "good", b"caught", mandatory=True)
    with pytest.raises(pex.UnroutableError):
        ch.basic_publish(main, "bad", b"lost", mandatory=True)
    assert wait_get(ch, f"{uid}.q")[2] == b"caught"


def test_loops_and_missing_alternates_end_in_a_return(broker, uid):
    with amqp_raw.connect(broker.host, broker.port) as c:
        c.open_channel(1)
        for name, alt in ((f"{uid}.l1", f"{uid}.l2"), (f"{uid}.l2", f"{uid}.l1"),
                          (f"{uid}.self", f"{uid}.self"), (f"{uid}.m", f"{uid}.missing")):
            c.rpc(1, "exchange.declare", "exchange.declare-ok", exchange=name, type="direct", arguments=ae(alt))
        for name in ("l1", "self", "m"):
            c.publish(1, f"{uid}.{name}", "k", name.encode(), mandatory=True)
        returns = [(f.name, f.args["reply_code"], f.args["exchange"], body) for f, _, body in c.drain(quiet=0.5)]
        assert returns == [("basic.return", 312, f"{uid}.{n}", n.encode()) for n in ("l1", "self", "m")]


def test_an_exchange_bound_to_another_uses_the_others_alternate(ch, uid):
    """The alternate of the exchange that routes nowhere is used, not that of the one published to."""
    ch.exchange_declare(f"{uid}.ae-outer", "fanout")
    ch.exchange_declare(f"{uid}.ae-inner", "fanout")
    ch.exchange_declare(f"{uid}.outer", "fanout", arguments=ae(f"{uid}.ae-outer"))
    ch.exchange_declare(f"{uid}.inner", "direct", arguments=ae(f"{uid}.ae-inner"))
    ch.exchange_bind(f"{uid}.inner", f"{uid}.outer")
    for name in ("qo", "qi"):
        ch.queue_declare(f"{uid}.{name}")
    ch.queue_bind(f"{uid}.qo", f"{uid}.ae-outer")
    ch.queue_bind(f"{uid}.qi", f"{uid}.ae-inner")
    ch.basic_publish(f"{uid}.outer", "k", b"m")
    assert wait_get(ch, f"{uid}.qi")[2] == b"m"
    assert ch.basic_get(f"{uid}.qo", auto_ack=True)[0] is None


def test_dead_letters_follow_the_alternate_of_the_dead_letter_exchange(ch, uid):
    ch.exchange_declare(f"{uid}.ae", "fanout")
    ch.exchange_declare(f"{uid}.dlx", "direct", arguments=ae(f"{uid}.ae"))
    ch.queue_declare(f"{uid}.caught")
    ch.queue_bind(f"{uid}.caught", f"{uid}.ae")
    ch.queue_declare(f"{uid}.src", arguments={"x-dead-letter-exchange": f"{uid}.dlx"})
    ch.basic_publish("", f"{uid}.src", b"m")
    method, _, _ = ch.basic_get(f"{uid}.src", auto_ack=False)
    ch.basic_reject(method.delivery_tag, requeue=False)
    method, props, body = wait_get(ch, f"{uid}.caught")
    assert body == b"m"
    assert method.exchange == f"{uid}.dlx"
    assert props.headers["x-death"][0]["reason"] == "rejected"


def closed(conn, fn):
    ch = conn.channel()
    with pytest.raises(pex.ChannelClosedByBroker) as ei:
        fn(ch)
    return ei.value.reply_code, ei.value.reply_text


def test_declare_checks_the_argument(conn, uid):
    e = f"{uid}.e"
    assert closed(conn, lambda ch: ch.exchange_declare(f"{uid}.bad", "direct", arguments=ae(3))) == (
        406, f"PRECONDITION_FAILED - invalid type 'signedint' for arg 'alternate-exchange' in exchange "
             f"'{uid}.bad' in vhost '/'")
    ch = conn.channel()
    ch.exchange_declare(e, "direct", arguments=ae("x"))
    ch.exchange_declare(e, "direct", arguments=ae("x"))
    ch.exchange_declare(f"{uid}.n", "direct")
    prefix = "PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange"
    assert closed(conn, lambda ch: ch.exchange_declare(e, "direct", arguments=ae("y"))) == (
        406, f"{prefix} '{e}' in vhost '/': received 'y' but current is 'x'")
    assert closed(conn, lambda ch: ch.exchange_declare(e, "direct")) == (
        406, f"{prefix} '{e}' in vhost '/': received none but current is the value 'x' of type 'longstr'")
    assert closed(conn, lambda ch: ch.exchange_declare(f"{uid}.n", "direct", arguments=ae("x"))) == (
        406, f"{prefix} '{uid}.n' in vhost '/': received the value 'x' of type 'longstr' but current is none")
    ch = conn.channel()
    ch.exchange_declare(e, "direct", passive=True)


def test_kombu_exchange_with_an_alternate(broker, uid):
    with kombu.Connection(f"amqp://guest:guest@{broker.host}:{broker.port}//") as conn:
        channel = conn.channel()
        alt = kombu.Exchange(f"{uid}.ae", type="fanout", channel=channel)
        alt.declare()
        main = kombu.Exchange(f"{uid}.main", type="direct", channel=channel, arguments=ae(f"{uid}.ae"))
        main.declare()
        q = kombu.Queue(f"{uid}.caught", exchange=alt, routing_key="", channel=channel)
        q.declare()
        kombu.Producer(channel).publish({"x": 1}, exchange=main, routing_key="nobody", serializer="json")
        got = None
        end = time.monotonic() + 3
        while got is None and time.monotonic() < end:
            got = q.get(no_ack=True)
        assert got is not None and got.decode() == {"x": 1}
        assert got.delivery_info["exchange"] == f"{uid}.main"
