"""Wire-level behaviour, with the raw client in amqp_raw.py: handshake, framing, error replies.

Every expectation was checked against RabbitMQ 3.10 (AMQP_EXTERNAL_PORT=5673). Where RabbitMQ
just drops the socket because its connection process crashed (unknown class/method ids, an
unknown SASL mechanism, unacceptable tune-ok values), the tests also accept a connection.close
with a fitting code before the socket closes, since that is what a client can reasonably see
from a broker that does not crash.
"""

import struct
import threading
import time

import pytest

import amqp_raw
from amqp_raw import (
    Close,
    FRAME_BODY,
    FRAME_HEARTBEAT,
    HEARTBEAT_FRAME,
    PROTOCOL_HEADER,
    RawConnection,
    body_frame,
    frame_bytes,
    header_frame,
    method_frame,
    method_payload,
)


@pytest.fixture
def raw(broker):
    """raw(**handshake_args) -> a RawConnection after the handshake, closed at the end."""
    conns = []

    def make(**kw):
        c = amqp_raw.connect(broker.host, broker.port, **kw)
        conns.append(c)
        return c

    yield make
    for c in conns:
        try:
            c.sock.close()
        except OSError:
            pass


@pytest.fixture
def sock_conn(broker):
    """sock_conn() -> a RawConnection that has sent nothing yet."""
    conns = []

    def make():
        c = RawConnection(broker.host, broker.port)
        conns.append(c)
        return c

    yield make
    for c in conns:
        c.sock.close()


def conn_close(code, text, class_id=0, method_id=0):
    return Close("connection", 0, code, text, class_id, method_id)


def assert_closed_after(c: RawConnection, timeout=3.0):
    """After close-ok the broker closes the socket."""
    assert c.wait_eof(timeout), "broker did not close the socket after connection.close/close-ok"


def expect_connection_error(c: RawConnection, code, text_prefix, class_id=0, method_id=0, check_eof=True):
    """The broker sends connection.close(code...) on channel 0; after our close-ok it closes the
    socket (RabbitMQ does at once, except for frames it could not parse, where it stops reading
    and closes 3 s later: check_eof=False there keeps the suite fast)."""
    close = c.wait_close()
    assert close is not None, "socket closed without connection.close"
    assert (close.scope, close.reply_code, close.class_id, close.method_id) == (
        "connection", code, class_id, method_id), close
    assert close.reply_text.startswith(text_prefix), close.reply_text
    if check_eof:
        assert_closed_after(c)
    return close


def dropped_or_closed(c: RawConnection, allowed_codes, timeout=5.0):
    """The broker ends the connection: either it just closes the socket (what RabbitMQ does in
    these cases) or it first sends connection.close with one of allowed_codes."""
    close = c.wait_close(timeout)
    if close is not None:
        assert close.scope == "connection" and close.reply_code in allowed_codes, close
    assert c.wait_eof(timeout), "connection still open"
    return close


# ---------------------------------------------------------------------------
# Protocol header and handshake


@pytest.mark.parametrize("header", [
    b"AMQP\x00\x00\x08\x00",  # AMQP 0-8 in the 0-9-1 layout
    b"AMQP\x00\x00\x09\x02",  # unknown revision
    b"AMQP\x00\x00\x0a\x00",  # 0-10
    b"AMQP\x00\x01\x00\x00",  # AMQP 1.0
    b"AMQP\x03\x01\x00\x00",  # AMQP 1.0 SASL
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
], ids=["0-8", "0-9-2", "0-10", "1.0", "1.0-sasl", "http"])
def test_wrong_protocol_header_gets_supported_header_then_close(sock_conn, header):
    c = sock_conn()
    c.send(header)
    data = c.read_all_until_eof(5)
    assert data == b"AMQP\x00\x00\x09\x01"
    assert c.eof


def test_protocol_header_sent_byte_by_byte_is_accepted(sock_conn):
    c = sock_conn()
    for b in PROTOCOL_HEADER:
        c.send(bytes([b]))
        time.sleep(0.005)
    assert c.expect("connection.start").args["version_major"] == 0


def test_connection_start_contents(sock_conn):
    c = sock_conn()
    c.send(PROTOCOL_HEADER)
    f = c.expect("connection.start")
    assert f.channel == 0
    a = f.args
    assert (a["version_major"], a["version_minor"]) == (0, 9)
    mechanisms = a["mechanisms"].decode().split()
    assert "PLAIN" in mechanisms and "AMQPLAIN" in mechanisms
    assert "en_US" in a["locales"].decode().split()
    props = a["server_properties"]
    for key in ("product", "version", "platform"):
        assert isinstance(props[key], str) and props[key], key
    caps = props["capabilities"]
    for cap in ("publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_cancel_notify",
                "connection.blocked", "authentication_failure_close", "per_consumer_qos", "direct_reply_to"):
        assert caps.get(cap) is True, cap


def test_tune_proposes_rabbitmq_defaults(raw):
    c = raw()
    assert c.tune == {"channel_max": 2047, "frame_max": 131072, "heartbeat": 60}


def test_plain_login_opens_connection(raw):
    c = raw(mechanism="PLAIN")
    assert c.open_channel(1).args == {"channel_id": b""}


def test_amqplain_login_opens_connection(raw):
    c = raw(mechanism="AMQPLAIN")
    assert c.open_channel(1).channel == 1
    ok = c.rpc(1, "queue.declare", "queue.declare-ok", exclusive=True)
    assert ok.args["queue"].startswith("amq.gen-")


@pytest.mark.parametrize("mechanism", ["PLAIN", "AMQPLAIN"])
@pytest.mark.parametrize("user,password", [("guest", "wrong"), ("nobody", "guest")])
def test_bad_credentials_with_capability_get_403_close(sock_conn, mechanism, user, password):
    c = sock_conn()
    with pytest.raises(AssertionError, match="got Frame"):
        c.handshake(user=user, password=password, mechanism=mechanism,
                    capabilities={"authentication_failure_close": True})
    f = c.received[-1]
    assert f.is_method("connection.close")
    assert f.args == {
        "reply_code": 403,
        "reply_text": f"ACCESS_REFUSED - Login was refused using authentication mechanism {mechanism}. "
                      "For details see the broker logfile.",
        "class_id": 0, "method_id": 0}
    c.send_method(0, "connection.close-ok")
    assert_closed_after(c)


def test_bad_credentials_without_capability_just_close_socket(sock_conn):
    c = sock_conn()
    with pytest.raises(amqp_raw.ConnectionClosed):
        c.handshake(password="wrong", capabilities={})
    assert [f.name for f in c.received] == ["connection.start"]
    assert c.eof


def test_unknown_sasl_mechanism_ends_connection(sock_conn):
    c = sock_conn()
    c.send(PROTOCOL_HEADER)
    c.expect("connection.start")
    c.send_method(0, "connection.start-ok", client_properties={"capabilities": {"authentication_failure_close": True}},
                  mechanism="CRAM-MD5", response=b"x", locale="en_US")
    dropped_or_closed(c, {403, 503, 504, 530, 540})
    assert not any(f.name == "connection.tune" for f in c.received)


def test_unknown_vhost_is_530(sock_conn):
    c = sock_conn()
    with pytest.raises(AssertionError, match="got Frame"):
        c.handshake(vhost="/no-such-vhost")
    assert c.received[-1].args == {"reply_code": 530, "reply_text": "NOT_ALLOWED - vhost /no-such-vhost not found",
                                   "class_id": 10, "method_id": 40}


@pytest.mark.parametrize("tune", [{"frame_max": 1000}, {"frame_max": 200000}],
                         ids=["frame_max-below-4096", "frame_max-above-server"])
def test_unacceptable_tune_ok_ends_connection(sock_conn, tune):
    c = sock_conn()
    with pytest.raises((amqp_raw.ConnectionClosed, AssertionError)):
        c.handshake(**tune)
    assert not any(f.name == "connection.open-ok" for f in c.received)
    close = next((f for f in c.received if f.is_method("connection.close")), None)
    if close is not None:
        assert close.args["reply_code"] in (501, 503, 530), close
    assert c.wait_eof(5)


def test_client_close_gets_close_ok(raw):
    c = raw()
    c.open_channel(1)
    c.send_method(0, "connection.close", reply_code=200, reply_text="bye")
    assert c.expect("connection.close-ok").channel == 0


def test_channel_close_gets_close_ok_and_number_is_reusable(raw):
    c = raw()
    c.open_channel(1)
    c.send_method(1, "channel.close", reply_code=200, reply_text="bye")
    c.expect("channel.close-ok", 1)
    assert c.open_channel(1).channel == 1


# ---------------------------------------------------------------------------
# Framing errors: all connection.close from channel 0, then the socket closes after close-ok


def _publish_frames(ch, size):
    return (method_frame(ch, "basic.publish", exchange="", routing_key="nowhere")
            + header_frame(ch, size))


def test_frame_larger_than_default_frame_max_is_501_and_socket_closes(raw):
    c = raw()
    c.open_channel(1)
    c.send(_publish_frames(1, 200000) + body_frame(1, b"x" * 200000))
    close = expect_connection_error(c, 501, "FRAME_ERROR", check_eof=False)
    assert "frame_too_large" in close.reply_text  # RabbitMQ: "...{frame_too_large,200000,131064}"
    assert c.wait_eof(5)


def test_frame_larger_than_negotiated_frame_max_is_501(raw):
    c = raw(frame_max=4096)
    c.open_channel(1)
    c.send(_publish_frames(1, 5000) + body_frame(1, b"x" * 5000))
    expect_connection_error(c, 501, "FRAME_ERROR", check_eof=False)


def _publish_and_get(c, queue, body):
    c.send(method_frame(1, "basic.publish", exchange="", routing_key=queue) + header_frame(1, len(body))
           + body_frame(1, body))
    c.send_method(1, "basic.get", queue=queue, no_ack=True)
    c.expect("basic.get-ok", 1)
    return c.read_content()[1]


def test_frame_max_limit_tolerates_payload_up_to_frame_max(raw, uid):
    """A frame of exactly frame_max octets (payload frame_max - 8) is what clients send; RabbitMQ
    also tolerates the common off-by-8 mistake (payload up to frame_max) and rejects beyond it."""
    c = raw(frame_max=4096)
    c.open_channel(1)
    c.rpc(1, "queue.declare", "queue.declare-ok", queue=uid, exclusive=True)
    assert _publish_and_get(c, uid, b"y" * (4096 - 8)) == b"y" * (4096 - 8)
    assert _publish_and_get(c, uid, b"z" * 4096) == b"z" * 4096
    body = b"w" * 4097
    c.send(method_frame(1, "basic.publish", exchange="", routing_key=uid) + header_frame(1, len(body))
           + body_frame(1, body))
    expect_connection_error(c, 501, "FRAME_ERROR", check_eof=False)


def test_bad_frame_end_octet_is_501(raw):
    c = raw()
    c.send(frame_bytes(1, 1, method_payload("channel.open"), end=0xAB))
    expect_connection_error(c, 501, "FRAME_ERROR", check_eof=False)


@pytest.mark.parametrize("frame_type,channel", [(7, 0), (9, 1), (0, 0), (255, 0)])
def test_unknown_frame_type_is_501(raw, frame_type, channel):
    c = raw()
    c.open_channel(1)
    c.send(frame_bytes(frame_type, channel, b"abc"))
    expect_connection_error(c, 501, "FRAME_ERROR")


def test_method_on_channel_that_is_not_open_is_504(raw):
    c = raw()
    c.send_method(3, "queue.declare", queue="")
    close = expect_connection_error(c, 504, "CHANNEL_ERROR", 50, 10)
    assert close.reply_text == "CHANNEL_ERROR - expected 'channel.open'"


def test_second_channel_open_on_open_channel_is_504(raw):
    c = raw()
    c.open_channel(1)
    c.send_method(1, "channel.open")
    close = expect_connection_error(c, 504, "CHANNEL_ERROR", 20, 10)
    assert close.reply_text == "CHANNEL_ERROR - second 'channel.open' seen"


def test_channel_method_on_channel_zero_is_504(raw):
    c = raw()
    c.send_method(0, "queue.declare", queue="")
    expect_connection_error(c, 504, "CHANNEL_ERROR", 50, 10)


def test_connection_method_on_nonzero_channel_is_503(raw):
    c = raw()
    c.open_channel(1)
    c.send_method(1, "connection.open", virtual_host="/")
    expect_connection_error(c, 503, "COMMAND_INVALID", 10, 40)


def test_channel_number_above_channel_max_is_still_opened(raw):
    """RabbitMQ only limits how many channels are open, not their numbers."""
    c = raw(channel_max=10)
    assert c.open_channel(11).channel == 11
    assert c.open_channel(65535).channel == 65535
    ok = c.rpc(65535, "queue.declare", "queue.declare-ok", exclusive=True)
    assert ok.args["queue"].startswith("amq.gen-")


def test_more_open_channels_than_channel_max_is_530(raw):
    c = raw(channel_max=3)
    for ch in (1, 2, 3):
        c.open_channel(ch)
    c.send_method(4, "channel.open")
    close = expect_connection_error(c, 530, "NOT_ALLOWED")
    assert close.reply_text == "NOT_ALLOWED - number of channels opened (3) has reached the negotiated channel_max (3)"


def test_closed_channels_do_not_count_against_channel_max(raw):
    c = raw(channel_max=2)
    for _ in range(5):
        c.open_channel(1)
        c.open_channel(2)
        c.rpc(1, "channel.close", "channel.close-ok", reply_code=200)
        c.rpc(2, "channel.close", "channel.close-ok", reply_code=200)
    assert c.open_channel(7).channel == 7


@pytest.mark.parametrize("what", ["body", "header"])
def test_content_frame_without_publish_is_505(raw, what):
    c = raw()
    c.open_channel(1)
    c.send(body_frame(1, b"hello") if what == "body" else header_frame(1, 5))
    close = expect_connection_error(c, 505, "UNEXPECTED_FRAME")
    assert close.reply_text == "UNEXPECTED_FRAME - expected method frame, got non method frame instead"


def test_method_where_content_header_expected_is_505(raw):
    c = raw()
    c.open_channel(1)
    c.send(method_frame(1, "basic.publish", exchange="", routing_key="x")
           + method_frame(1, "basic.qos", prefetch_count=1))
    close = expect_connection_error(c, 505, "UNEXPECTED_FRAME", 60, 40)
    assert close.reply_text == ("UNEXPECTED_FRAME - expected content header for class 60, "
                                "got non content header frame instead")


def test_method_where_content_body_expected_is_505(raw):
    c = raw()
    c.open_channel(1)
    c.send(_publish_frames(1, 5) + method_frame(1, "basic.qos", prefetch_count=1))
    close = expect_connection_error(c, 505, "UNEXPECTED_FRAME", 60, 40)
    assert close.reply_text == "UNEXPECTED_FRAME - expected content body, got non content body frame instead"


def test_content_header_of_wrong_class_is_505(raw):
    c = raw()
    c.open_channel(1)
    c.send(method_frame(1, "basic.publish", exchange="", routing_key="x") + header_frame(1, 1, class_id=50))
    close = expect_connection_error(c, 505, "UNEXPECTED_FRAME", 60, 40)
    assert close.reply_text == "UNEXPECTED_FRAME - expected content header for class 60, got one for class 50 instead"


def test_heartbeat_frame_on_nonzero_channel_is_505(raw):
    c = raw()
    c.open_channel(1)
    c.send(frame_bytes(FRAME_HEARTBEAT, 1, b""))
    expect_connection_error(c, 505, "UNEXPECTED_FRAME")


def test_content_header_on_channel_zero_is_505(raw):
    c = raw()
    c.send(header_frame(0, 5))
    expect_connection_error(c, 505, "UNEXPECTED_FRAME")


@pytest.mark.parametrize("class_id,method_id", [(60, 999), (999, 10), (0, 0)])
def test_unknown_class_or_method_ends_connection(raw, class_id, method_id):
    """RabbitMQ drops the socket without a close frame; a 540/503 connection.close is accepted too."""
    c = raw()
    c.open_channel(1)
    c.send(frame_bytes(1, 1, struct.pack(">HH", class_id, method_id) + b"\x00\x00\x00\x00"))
    dropped_or_closed(c, {503, 540})


@pytest.mark.parametrize("name,payload", [
    ("queue.declare", struct.pack(">HH", 50, 10) + b"\x00\x00\x20ab"),  # shortstr longer than the frame
    ("basic.ack", struct.pack(">HH", 60, 80) + b"\x00\x00"),  # longlong cut short
    ("basic.qos", method_payload("basic.qos", prefetch_count=1) + b"junk"),  # trailing octets
    ("exchange.declare", struct.pack(">HH", 40, 10) + b"\x00\x00\x01x\x06direct\x00\x00\x00\x00\x10"),  # bad table
], ids=["shortstr-overrun", "longlong-cut", "trailing-octets", "table-overrun"])
def test_malformed_method_arguments_are_501(raw, name, payload):
    c = raw()
    c.open_channel(1)
    c.send(frame_bytes(1, 1, payload))
    class_id, method_id = amqp_raw.NAMES[name]
    close = expect_connection_error(c, 501, "FRAME_ERROR", class_id, method_id)
    assert close.reply_text.startswith("FRAME_ERROR - cannot decode ")


def test_publish_immediate_is_not_implemented_540(raw):
    c = raw()
    c.open_channel(1)
    c.send(method_frame(1, "basic.publish", exchange="", routing_key="q", immediate=True)
           + header_frame(1, 1) + body_frame(1, b"x"))
    close = expect_connection_error(c, 540, "NOT_IMPLEMENTED", 60, 40)
    assert close.reply_text == "NOT_IMPLEMENTED - immediate=true"


def test_unsolicited_flow_ok_is_503(raw):
    c = raw()
    c.open_channel(1)
    c.send_method(1, "channel.flow-ok", active=True)
    expect_connection_error(c, 503, "COMMAND_INVALID", 20, 21)


def test_frames_after_connection_close_are_ignored_until_close_ok(raw):
    c = raw()
    c.open_channel(1)
    c.send(frame_bytes(7, 0, b""))
    f = c.read_frame()
    assert f.is_method("connection.close") and f.args["reply_code"] == 501
    c.send_method(1, "queue.declare", queue="", exclusive=True)
    assert c.read_frame(0.5) is None and not c.eof  # ignored, still waiting for close-ok
    c.send_method(0, "connection.close-ok")
    assert_closed_after(c)


def test_channel_error_then_methods_ignored_until_close_ok(raw, uid):
    c = raw()
    c.open_channel(1)
    c.send_method(1, "queue.declare", queue=uid, passive=True)
    f = c.read_frame()
    assert f.is_method("channel.close") and f.channel == 1
    assert f.args == {"reply_code": 404, "reply_text": f"NOT_FOUND - no queue '{uid}' in vhost '/'",
                      "class_id": 50, "method_id": 10}
    c.send_method(1, "queue.declare", queue="", exclusive=True)  # ignored: channel is closing
    assert c.read_frame(0.5) is None
    c.send_method(1, "channel.close-ok")
    assert c.open_channel(1).channel == 1
    assert c.rpc(1, "queue.declare", "queue.declare-ok", exclusive=True).args["queue"].startswith("amq.gen-")


@pytest.mark.parametrize("announced", [True, False], ids=["announced", "not-announced"])
def test_consumer_cancel_notify_only_sent_to_clients_that_announce_it(raw, uid, announced):
    c = raw(capabilities={"consumer_cancel_notify": True} if announced else {})
    c.open_channel(1)
    c.open_channel(2)
    c.rpc(1, "queue.declare", "queue.declare-ok", queue=uid)
    c.rpc(1, "basic.consume", "basic.consume-ok", queue=uid, consumer_tag="ct")
    c.send_method(2, "queue.delete", queue=uid)
    frames = []
    while True:
        f = c.read_frame(0.5)
        if f is None:
            break
        frames.append((f.channel, f.name, f.args))
    assert (2, "queue.delete-ok", {"message_count": 0}) in frames
    cancels = [f for f in frames if f[1] == "basic.cancel"]
    if announced:
        assert cancels == [(1, "basic.cancel", {"consumer_tag": "ct", "nowait": True})]
    else:
        assert cancels == []


# ---------------------------------------------------------------------------
# Content encoding


def test_properties_are_delivered_byte_for_byte(raw, uid):
    T = amqp_raw.Typed
    import decimal

    c = raw()
    c.open_channel(1)
    c.rpc(1, "queue.declare", "queue.declare-ok", queue=uid, exclusive=True)
    headers = {"t": T("t", True), "b": T("b", -5), "B": T("B", 200), "s": T("s", -300), "u": T("u", 60000),
               "I": T("I", -70000), "i": T("i", 4000000000), "l": T("l", -2**40), "f": T("f", 1.5),
               "d": T("d", 2.25), "D": decimal.Decimal("3.14"), "S": "str", "x": b"\x00\xff",
               "A": [1, "a", [T("b", 1)], {"k": None}], "T": T("T", 1700000000), "F": {"k": {"n": None}},
               "V": None}
    props = {"content_type": "text/plain", "content_encoding": "utf-8", "headers": headers, "delivery_mode": 2,
             "priority": 9, "correlation_id": "c", "reply_to": "r", "expiration": "100000", "message_id": "m",
             "timestamp": 5, "type": "t", "user_id": "guest", "app_id": "a", "cluster_id": "cid"}
    c.publish(1, "", uid, b"body", props)
    c.send_method(1, "basic.get", queue=uid, no_ack=True)
    c.expect("basic.get-ok", 1)
    hdr = c.read_frame()
    assert hdr.type == amqp_raw.FRAME_HEADER and hdr.channel == 1
    assert hdr.payload == header_frame(1, 4, props)[7:-1]
    body = c.read_frame()
    assert (body.type, body.payload) == (FRAME_BODY, b"body")


def test_frames_split_and_coalesced_on_the_wire_are_reassembled(raw, uid):
    c = raw()
    c.open_channel(1)
    c.rpc(1, "queue.declare", "queue.declare-ok", queue=uid, exclusive=True)
    body = bytes(range(256)) * 40
    data = (method_frame(1, "basic.publish", exchange="", routing_key=uid) + header_frame(1, len(body))
            + body_frame(1, body[:5000]) + body_frame(1, body[5000:]))
    for i in range(0, len(data), 7):  # many small writes
        c.send(data[i:i + 7])
    # then three publishes in a single write
    c.send(b"".join(method_frame(1, "basic.publish", exchange="", routing_key=uid) + header_frame(1, 1)
                    + body_frame(1, bytes([65 + i])) for i in range(3)))
    got = []
    for _ in range(4):
        c.send_method(1, "basic.get", queue=uid, no_ack=True)
        c.expect("basic.get-ok", 1)
        got.append(c.read_content()[1])
    assert got == [body, b"A", b"B", b"C"]


def test_empty_body_has_no_body_frame(raw, uid):
    c = raw()
    c.open_channel(1)
    c.rpc(1, "queue.declare", "queue.declare-ok", queue=uid, exclusive=True)
    c.send(method_frame(1, "basic.publish", exchange="", routing_key=uid) + header_frame(1, 0))
    c.send_method(1, "basic.get", queue=uid, no_ack=True)
    c.expect("basic.get-ok", 1)
    hdr = c.read_frame()
    assert hdr.type == amqp_raw.FRAME_HEADER and struct.unpack(">Q", hdr.payload[4:12])[0] == 0
    c.send_method(1, "basic.get", queue=uid, no_ack=True)
    assert c.read_frame().is_method("basic.get-empty")  # no body frame came in between


def test_deliveries_are_split_at_negotiated_frame_max(raw, uid):
    c = raw(frame_max=4096)
    c.open_channel(1)
    c.rpc(1, "queue.declare", "queue.declare-ok", queue=uid, exclusive=True)
    body = b"z" * 10000
    c.publish(1, "", uid, body)
    c.send_method(1, "basic.get", queue=uid, no_ack=True)
    c.expect("basic.get-ok", 1)
    c.read_frame()  # header
    sizes = []
    while sum(sizes) < len(body):
        f = c.read_frame()
        assert f.type == FRAME_BODY
        sizes.append(len(f.payload))
    assert max(sizes) <= 4096 - 8
    assert sum(sizes) == len(body)


# ---------------------------------------------------------------------------
# Heartbeats


def test_broker_sends_heartbeats_and_drops_silent_peer(raw):
    c = raw(heartbeat=1)
    t0 = time.monotonic()
    beats = 0
    while True:
        f = c.read_frame(6)
        if f is None:
            break
        assert f.type == FRAME_HEARTBEAT and f.channel == 0 and f.payload == b"", f
        beats += 1
    elapsed = time.monotonic() - t0
    assert c.eof, "broker did not drop a peer that sent nothing for several heartbeat intervals"
    assert 1.5 <= elapsed <= 4.5, elapsed
    assert beats >= 2


def test_peer_sending_heartbeats_or_traffic_is_kept_alive(raw):
    c = raw(heartbeat=1)
    c.open_channel(1)
    t0 = time.monotonic()
    beats = 0
    while time.monotonic() - t0 < 4.0:
        if time.monotonic() - t0 < 2.0:
            c.send(HEARTBEAT_FRAME)
        else:  # any frame counts as a sign of life
            c.send_method(1, "basic.qos", prefetch_count=1)
        while True:
            f = c.read_frame(0.3)
            if f is None:
                break
            if f.type == FRAME_HEARTBEAT:
                beats += 1
    assert not c.eof
    assert beats >= 3
    assert c.rpc(1, "queue.declare", "queue.declare-ok", exclusive=True).args["queue"].startswith("amq.gen-")


def test_heartbeat_zero_disables_heartbeats(raw):
    c = raw(heartbeat=0)
    assert c.read_frame(1.5) is None
    assert not c.eof
    c.open_channel(1)


# ---------------------------------------------------------------------------
# Isolation


def test_bad_frame_on_one_connection_does_not_disturb_another(broker, raw, uid):
    good = raw()
    good.open_channel(1)
    good.rpc(1, "queue.declare", "queue.declare-ok", queue=uid, exclusive=True)
    good.rpc(1, "basic.consume", "basic.consume-ok", queue=uid, consumer_tag="c", no_ack=True)
    received = []
    for i in range(10):
        good.publish(1, "", uid, f"before-{i}".encode())
    bad_results = []

    def break_things():
        for junk in (frame_bytes(7, 0, b"x"), b"\x01\x00\x01\x00\x00\x00\x05garbage\xff"):
            b = amqp_raw.connect(broker.host, broker.port)
            b.open_channel(1)
            b.send(junk)
            bad_results.append(b.wait_close())
            b.sock.close()

    t = threading.Thread(target=break_things)
    t.start()
    for i in range(10):
        good.publish(1, "", uid, f"during-{i}".encode())
        time.sleep(0.02)
    t.join()
    for i in range(10):
        good.publish(1, "", uid, f"after-{i}".encode())
    deadline = time.monotonic() + 5
    while len(received) < 30 and time.monotonic() < deadline:
        e = good.next_event(1.0)
        if e is None:
            break
        assert e[0].name == "basic.deliver", e[0]
        received.append(e[2].decode())
    assert [r.reply_code for r in bad_results] == [501, 501]
    assert received == ([f"before-{i}" for i in range(10)] + [f"during-{i}" for i in range(10)]
                        + [f"after-{i}" for i in range(10)])
    assert not good.eof
