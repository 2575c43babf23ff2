"""Interop: aio-pika (asyncio, on aiormq/pamqp) — robust connections, async iterators,
publisher confirms (on by default), QoS, transactions, the RPC pattern and direct reply-to.
"""

import asyncio
import datetime
from decimal import Decimal

import aio_pika
import aiormq.exceptions
import pytest
from aio_pika import DeliveryMode, ExchangeType, Message
from aio_pika.patterns import RPC

TIMEOUT = 5.0


@pytest.fixture
async def conn(broker):
    c = await aio_pika.connect_robust(broker.url(), timeout=TIMEOUT)
    yield c
    await c.close()


@pytest.fixture
async def cleanup(broker):
    """Queue and exchange names to delete (on a fresh connection) after the test."""
    names = {"queues": [], "exchanges": []}
    yield names
    c = await aio_pika.connect(broker.url(), timeout=TIMEOUT)
    try:
        for q in names["queues"]:
            ch = await c.channel()
            try:
                await ch.queue_delete(q)
            except aiormq.exceptions.AMQPError:
                pass
        for x in names["exchanges"]:
            ch = await c.channel()
            try:
                await ch.exchange_delete(x)
            except aiormq.exceptions.AMQPError:
                pass
    finally:
        await c.close()


async def collect(queue, n, timeout=TIMEOUT, **iter_kwargs):
    """Consume exactly n messages with the async iterator, acking each; return them."""
    out = []

    async def run():
        async with queue.iterator(**iter_kwargs) as it:
            async for message in it:
                async with message.process():
                    out.append(message)
                if len(out) == n:
                    return

    await asyncio.wait_for(run(), timeout)
    return out


async def get_one(queue, timeout=TIMEOUT, **kwargs):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        m = await queue.get(fail=False, **kwargs)
        if m is not None:
            return m
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("no message")
        await asyncio.sleep(0.02)


async def test_connect_robust_server_properties(conn):
    assert isinstance(conn, aio_pika.RobustConnection)
    assert not conn.is_closed
    underlay = conn.transport.connection
    caps = underlay.server_capabilities  # aiormq indexes server_properties["capabilities"]
    assert caps["publisher_confirms"] is True  # without it aio-pika's default channel() refuses
    assert caps["basic.nack"] is True
    ch = await conn.channel()
    assert ch.publisher_confirms is True
    assert not ch.is_closed


async def test_direct_publish_consume_iterator_with_properties(conn, cleanup, uid):
    ch = await conn.channel()
    ex = await ch.declare_exchange(f"{uid}-direct", ExchangeType.DIRECT)
    q = await ch.declare_queue(f"{uid}-q")
    cleanup["queues"].append(q.name)
    cleanup["exchanges"].append(ex.name)
    await q.bind(ex, routing_key="work")

    ts = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    headers = {
        "str": "grüße",
        "int": 12,
        "big": 2**40,
        "neg": -3,
        "float": 2.5,
        "bool": True,
        "none": None,
        "list": [1, "a", [2, 3], {"k": "v"}],
        "table": {"inner": {"deep": [True, False]}},
        "bytes": bytearray(b"\x00\xff"),  # pamqp sends bytearray as field type 'x'; bytes is refused
        "decimal": Decimal("3.14"),
        "ts": ts,
    }
    for i in range(5):
        confirmation = await ex.publish(
            Message(
                f"body-{i}".encode(),
                content_type="text/plain",
                content_encoding="utf-8",
                headers={**headers, "i": i},
                delivery_mode=DeliveryMode.PERSISTENT,
                priority=3,
                correlation_id=f"corr-{i}",
                reply_to="answers",
                expiration=datetime.timedelta(seconds=60),
                message_id=f"mid-{i}",
                timestamp=ts,
                type="job",
                user_id="guest",
                app_id="aio-pika-test",
            ),
            routing_key="work",
        )
        assert isinstance(confirmation, aiormq.spec.Basic.Ack)
    await ex.publish(Message(b"unrouted"), routing_key="nobody-binds-this")

    msgs = await collect(q, 5)
    assert [m.body for m in msgs] == [f"body-{i}".encode() for i in range(5)]
    m = msgs[3]
    assert m.content_type == "text/plain"
    assert m.content_encoding == "utf-8"
    assert m.delivery_mode == DeliveryMode.PERSISTENT
    assert m.priority == 3
    assert m.correlation_id == "corr-3"
    assert m.reply_to == "answers"
    assert m.expiration == 60.0  # aio-pika exposes the ms string as seconds
    assert m.message_id == "mid-3"
    assert m.timestamp == ts
    assert m.type == "job"
    assert m.user_id == "guest"
    assert m.app_id == "aio-pika-test"
    assert m.exchange == ex.name
    assert m.routing_key == "work"
    assert m.redelivered is False
    h = m.headers
    assert h["i"] == 3
    for k in ("str", "int", "big", "neg", "float", "bool", "none", "list", "table", "bytes", "decimal"):
        assert h[k] == headers[k], k
    assert h["ts"].replace(tzinfo=datetime.timezone.utc) == ts
    assert (await q.declare()).message_count == 0  # all acked, the unrouted one dropped


async def test_topic_fanout_and_headers_exchanges(conn, cleanup, uid):
    ch = await conn.channel()
    topic = await ch.declare_exchange(f"{uid}-topic", ExchangeType.TOPIC, auto_delete=True)
    fan = await ch.declare_exchange(f"{uid}-fan", ExchangeType.FANOUT, auto_delete=True)
    hdr = await ch.declare_exchange(f"{uid}-hdr", ExchangeType.HEADERS, auto_delete=True)
    qs = {}
    for name in ("t", "f1", "f2", "all", "any"):
        qs[name] = await ch.declare_queue(f"{uid}-{name}", auto_delete=True)
    await qs["t"].bind(topic, "audit.*.error")
    await qs["f1"].bind(fan)
    await qs["f2"].bind(fan)
    await qs["all"].bind(hdr, arguments={"x-match": "all", "format": "pdf", "type": "report"})
    await qs["any"].bind(hdr, arguments={"x-match": "any", "format": "pdf", "type": "report"})

    for rk in ("audit.db.error", "audit.db.info", "audit.error", "audit.a.b.error"):
        await topic.publish(Message(rk.encode()), routing_key=rk)
    await fan.publish(Message(b"to-all"), routing_key="")
    await hdr.publish(Message(b"pdf-report", headers={"format": "pdf", "type": "report"}), routing_key="")
    await hdr.publish(Message(b"pdf-only", headers={"format": "pdf"}), routing_key="")
    await hdr.publish(Message(b"none", headers={"format": "zip"}), routing_key="")

    async def drain(q):
        out = []
        while (m := await q.get(no_ack=True, fail=False)) is not None:
            out.append(m.body)
        return out

    # confirms are on: every publish above is routed once it returned
    assert await drain(qs["t"]) == [b"audit.db.error"]
    assert await drain(qs["f1"]) == [b"to-all"]
    assert await drain(qs["f2"]) == [b"to-all"]
    assert await drain(qs["all"]) == [b"pdf-report"]
    assert await drain(qs["any"]) == [b"pdf-report", b"pdf-only"]
    for q in qs.values():
        await q.delete()
    await topic.delete()
    await fan.delete()
    await hdr.delete()


async def test_ack_nack_reject(conn, cleanup, uid):
    ch = await conn.channel()
    q = await ch.declare_queue(f"{uid}-q")
    cleanup["queues"].append(q.name)
    for body in (b"a", b"b", b"c"):
        await ch.default_exchange.publish(Message(body), routing_key=q.name)

    a = await get_one(q)
    assert (a.body, a.redelivered) == (b"a", False)
    await a.nack(requeue=True)
    a2 = await get_one(q)
    assert (a2.body, a2.redelivered) == (b"a", True)
    await a2.reject(requeue=False)  # dropped
    b = await get_one(q)
    assert b.body == b"b"
    await b.reject(requeue=True)
    b2 = await get_one(q)
    assert (b2.body, b2.redelivered) == (b"b", True)
    await b2.ack()
    c = await get_one(q)
    assert c.body == b"c"
    await c.nack(requeue=False)
    assert await q.get(fail=False) is None
    assert (await q.declare()).message_count == 0


async def test_process_context_requeues_on_exception(conn, cleanup, uid):
    ch = await conn.channel()
    q = await ch.declare_queue(f"{uid}-q")
    cleanup["queues"].append(q.name)
    await ch.default_exchange.publish(Message(b"job"), routing_key=q.name)
    m = await get_one(q)
    with pytest.raises(ZeroDivisionError):
        async with m.process(requeue=True):
            1 / 0
    again = await get_one(q)
    assert again.body == b"job" and again.redelivered is True
    async with again.process():
        pass
    assert (await q.declare()).message_count == 0


async def test_qos_prefetch_limits_unacked_deliveries(conn, cleanup, uid):
    ch = await conn.channel()
    await ch.set_qos(prefetch_count=2)
    q = await ch.declare_queue(f"{uid}-q")
    cleanup["queues"].append(q.name)
    for i in range(5):
        await ch.default_exchange.publish(Message(str(i).encode()), routing_key=q.name)
    got = []
    first_two = asyncio.Event()
    third = asyncio.Event()

    async def on_message(message):
        got.append(message)
        if len(got) == 2:
            first_two.set()
        if len(got) == 3:
            third.set()

    tag = await q.consume(on_message)
    await asyncio.wait_for(first_two.wait(), TIMEOUT)
    await asyncio.sleep(0.4)
    assert [m.body for m in got] == [b"0", b"1"], "more unacked deliveries than prefetch_count"
    await got[0].ack()
    await asyncio.wait_for(third.wait(), TIMEOUT)
    await asyncio.sleep(0.3)
    assert len(got) == 3
    await q.cancel(tag)
    for m in got[1:]:
        await m.ack()
    assert (await q.declare()).message_count == 2


async def test_publisher_confirms_and_mandatory_return(conn, uid):
    ch = await conn.channel(on_return_raises=True)
    ex = await ch.get_exchange("amq.direct")  # passive exchange.declare
    with pytest.raises(aio_pika.exceptions.DeliveryError) as ei:
        await ex.publish(Message(b"lost"), routing_key=f"{uid}-nobody", mandatory=True)
    assert ei.value.message.body == b"lost"
    assert ei.value.frame.reply_code == 312
    assert ei.value.frame.reply_text == "NO_ROUTE"
    # aio-pika publishes with mandatory=True unless told otherwise
    with pytest.raises(aio_pika.exceptions.DeliveryError):
        await ex.publish(Message(b"lost-by-default"), routing_key=f"{uid}-nobody")
    # not mandatory: silently dropped, and acked
    assert isinstance(await ex.publish(Message(b"dropped"), routing_key=f"{uid}-nobody", mandatory=False),
                      aiormq.spec.Basic.Ack)

    # without on_return_raises the returned message comes back from publish() and the
    # channel's return callbacks see it
    ch2 = await conn.channel()
    returned = []
    ch2.return_callbacks.add(lambda channel, message: returned.append(message.body))
    ex2 = await ch2.get_exchange("amq.direct")
    result = await ex2.publish(Message(b"lost-2"), routing_key=f"{uid}-nobody", mandatory=True)
    assert not isinstance(result, aiormq.spec.Basic.Ack)
    await asyncio.sleep(0.05)
    assert returned == [b"lost-2"]


async def test_many_confirms_in_flight(conn, cleanup, uid):
    ch = await conn.channel()
    q = await ch.declare_queue(f"{uid}-q")
    cleanup["queues"].append(q.name)
    results = await asyncio.gather(*[
        ch.default_exchange.publish(Message(str(i).encode()), routing_key=q.name) for i in range(200)
    ])
    assert all(isinstance(r, aiormq.spec.Basic.Ack) for r in results)
    assert (await q.declare()).message_count == 200


async def test_transactions(conn, cleanup, uid):
    ch = await conn.channel(publisher_confirms=False)
    observer = await conn.channel()
    q = await ch.declare_queue(f"{uid}-q")
    cleanup["queues"].append(q.name)
    oq = await observer.get_queue(q.name)

    tx = ch.transaction()
    await tx.select()
    for i in range(3):
        await ch.default_exchange.publish(Message(f"t{i}".encode()), routing_key=q.name)
    await asyncio.sleep(0.1)
    assert (await oq.declare()).message_count == 0
    await tx.commit()
    assert (await oq.declare()).message_count == 3
    await ch.default_exchange.publish(Message(b"rolled-back"), routing_key=q.name)
    await tx.rollback()
    assert (await oq.declare()).message_count == 3

    async with ch.transaction():  # select on enter, commit on clean exit
        await ch.default_exchange.publish(Message(b"t3"), routing_key=q.name)
    assert (await oq.declare()).message_count == 4
    bodies = [(await get_one(oq, no_ack=True)).body for _ in range(4)]
    assert bodies == [b"t0", b"t1", b"t2", b"t3"]


async def test_rpc_pattern_call_result_and_remote_exception(conn, uid):
    server_ch = await conn.channel()
    client_ch = await conn.channel()
    server = await RPC.create(server_ch)
    client = await RPC.create(client_ch)
    method = f"{uid}.multiply"
    fail_method = f"{uid}.fail"

    async def multiply(*, x, y):
        return {"product": x * y, "args": [x, y]}

    async def fail(*, why):
        raise ValueError(why)

    await server.register(method, multiply, auto_delete=True)
    await server.register(fail_method, fail, auto_delete=True)
    try:
        assert await asyncio.wait_for(client.call(method, kwargs={"x": 6, "y": 7}), TIMEOUT) == {
            "product": 42, "args": [6, 7]}
        results = await asyncio.wait_for(
            asyncio.gather(*[client.call(method, kwargs={"x": i, "y": 2}) for i in range(10)]), TIMEOUT)
        assert [r["product"] for r in results] == [i * 2 for i in range(10)]
        with pytest.raises(ValueError, match="broken on purpose"):
            await asyncio.wait_for(client.call(fail_method, kwargs={"why": "broken on purpose"}), TIMEOUT)
        # a call nobody serves comes back via mandatory basic.return
        with pytest.raises(aio_pika.exceptions.MessageProcessError, match="returned"):
            await asyncio.wait_for(client.call(f"{uid}.nobody", kwargs={}), TIMEOUT)
    finally:
        await server.unregister(multiply)
        await server.unregister(fail)
        await client.close()
        await server.close()


async def test_direct_reply_to_round_trip(conn, cleanup, uid):
    """RabbitMQ's direct reply-to: consume amq.rabbitmq.reply-to (no-ack) and publish with it as reply_to."""
    server_ch = await conn.channel()
    requests = await server_ch.declare_queue(f"{uid}-requests", auto_delete=True)

    async def serve(message):
        async with message.process():
            assert message.reply_to.startswith("amq.rabbitmq.reply-to.")
            await server_ch.default_exchange.publish(
                Message(message.body.upper(), correlation_id=message.correlation_id),
                routing_key=message.reply_to,
            )

    await requests.consume(serve)

    client_ch = await conn.channel()
    reply_queue = await client_ch.get_queue("amq.rabbitmq.reply-to")  # passive declare is allowed
    replies = asyncio.Queue()

    async def on_reply(message):
        await replies.put(message)

    await reply_queue.consume(on_reply, no_ack=True)
    for i in range(3):
        await client_ch.default_exchange.publish(
            Message(f"ping-{i}".encode(), reply_to="amq.rabbitmq.reply-to", correlation_id=str(i)),
            routing_key=requests.name,
        )
    got = [await asyncio.wait_for(replies.get(), TIMEOUT) for _ in range(3)]
    assert sorted((m.correlation_id, m.body) for m in got) == [
        ("0", b"PING-0"), ("1", b"PING-1"), ("2", b"PING-2")]
    await requests.delete(if_unused=False)


async def test_channel_errors_map_to_aiormq_exceptions(conn, cleanup, uid):
    ch = await conn.channel()
    with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity) as ei:
        await ch.declare_queue(f"{uid}-missing", passive=True)
    assert "NOT_FOUND" in str(ei.value)

    ch = await conn.channel()
    x = await ch.declare_exchange(f"{uid}-x", ExchangeType.DIRECT, auto_delete=False)
    cleanup["exchanges"].append(x.name)
    with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
        await ch.declare_exchange(f"{uid}-x", ExchangeType.TOPIC, auto_delete=False)

    ch = await conn.channel()
    q = await ch.declare_queue(f"{uid}-q")
    cleanup["queues"].append(q.name)
    await ch.default_exchange.publish(Message(b"keep"), routing_key=q.name)
    with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
        await q.delete(if_empty=True)

    ch = await conn.channel()
    await ch.declare_queue(f"{uid}-excl", exclusive=True)
    other = await aio_pika.connect(conn.url, timeout=TIMEOUT)
    try:
        och = await other.channel()
        with pytest.raises(aiormq.exceptions.ChannelLockedResource):
            await och.declare_queue(f"{uid}-excl", passive=True)
    finally:
        await other.close()

    # the connection is still fine after all those channel closes
    ch = await conn.channel()
    assert (await ch.declare_queue(q.name, passive=True)).declaration_result.message_count == 1


async def test_server_named_and_robust_client_named_queues(broker, conn):
    # plain connection: declare_queue(None) sends an empty name, the server picks one
    plain = await aio_pika.connect(broker.url(), timeout=TIMEOUT)
    try:
        ch = await plain.channel()
        q = await ch.declare_queue(None, exclusive=True)
        assert q.name and q.declaration_result.queue == q.name
        await ch.default_exchange.publish(Message(b"to-server-named"), routing_key=q.name)
        assert (await get_one(q, no_ack=True)).body == b"to-server-named"
    finally:
        await plain.close()
    # robust connection: aio-pika names the queue itself "amq_<hex>" so it can redeclare it
    # after a reconnect ("amq_" is not the reserved "amq." prefix)
    ch = await conn.channel()
    rq = await ch.declare_queue(None, exclusive=True)
    assert rq.name.startswith("amq_")
    await ch.default_exchange.publish(Message(b"to-amq_"), routing_key=rq.name)
    assert (await get_one(rq, no_ack=True)).body == b"to-amq_"


async def test_purge_and_delete_counts(conn, uid):
    ch = await conn.channel()
    q = await ch.declare_queue(f"{uid}-q")
    for i in range(4):
        await ch.default_exchange.publish(Message(b"x"), routing_key=q.name)
    purge_ok = await q.purge()
    assert purge_ok.message_count == 4
    await ch.default_exchange.publish(Message(b"y"), routing_key=q.name)
    delete_ok = await q.delete(if_unused=False, if_empty=False)
    assert delete_ok.message_count == 1
