"""A hostile client must not harm the broker.

Many short connections send random frame streams, from a fixed seed so that a failure can be
replayed: methods of every class with random arguments (odd names, field tables with x-arguments of
the wrong type, delivery tags that were never given), publishes with random properties, content
frames out of place, and frames with flipped, cut or extended bytes. Each connection reads what
comes back for a moment and goes. Afterwards the broker process is still running, a well-behaved
client is served as usual, and no reply along the way was 541 INTERNAL_ERROR (which would mean an
input reached a state the broker did not expect).
"""

import os
import random
import socket
import struct
import time

import pika
import pytest

import amqp_raw as A
from conftest import start_warren, stop_warren

pytestmark = pytest.mark.warren_only

INTERNAL_ERROR_CLOSES = (
    struct.pack(">HHH", 10, 50, A.INTERNAL_ERROR),  # connection.close 541
    struct.pack(">HHH", 20, 40, A.INTERNAL_ERROR),  # channel.close 541
)
NAMES = ["q", "fuzzq", "", "amq.direct", "amq.topic", "x", "amq.rabbitmq.reply-to", "amq.gen-1", "\u00e9" * 3]
ARGUMENT_KEYS = [
    "x-message-ttl", "x-expires", "x-max-length", "x-max-length-bytes", "x-dead-letter-exchange",
    "x-dead-letter-routing-key", "x-max-priority", "x-queue-type", "x-overflow", "x-single-active-consumer",
    "x-queue-mode", "x-delivery-limit", "x-stream-max-segment-size-bytes", "x-max-age", "x-priority",
    "x-match", "alternate-exchange", "x-stream-offset", "x-consumer-timeout",
]
# Methods a client sends, outside class connection (the handshake is done properly first).
CLIENT_METHODS = [k for k, v in A.SPEC.items() if k[0] != 10 and (not v[0].endswith("-ok") or v[0] == "channel.close-ok")]


class Fuzzer:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def text(self, limit: int = 255) -> str:
        return "".join(self.rng.choice(NAMES) for _ in range(self.rng.randint(0, 3)))[:limit]

    def value(self, depth: int = 0):
        choices = [
            lambda: True,
            lambda: self.rng.randint(-2**31, 2**31 - 1),
            lambda: self.rng.randint(-2**63, 2**63 - 1),
            lambda: "s" * self.rng.randint(0, 10),
            lambda: b"\x00\xff",
            lambda: 1.5,
            lambda: None,
            lambda: [self.value(depth + 1) for _ in range(self.rng.randint(0, 3))],
            lambda: {self.text(8): self.value(depth + 1) for _ in range(self.rng.randint(0, 3))},
        ]
        return self.rng.choice(choices if depth < 2 else choices[:7])()

    def table(self):
        return {
            (self.rng.choice(ARGUMENT_KEYS) if self.rng.random() < 0.7 else self.text(10)): self.value()
            for _ in range(self.rng.randint(0, 4))
        }

    def arguments(self, kinds):
        r = self.rng
        makers = {
            "octet": lambda: r.choice([0, 1, 2, 255, r.randint(0, 255)]),
            "short": lambda: r.choice([0, 1, 60, 65535, r.randint(0, 65535)]),
            "long": lambda: r.choice([0, 1, 4096, 2**32 - 1, r.randint(0, 2**32 - 1)]),
            "longlong": lambda: r.choice([0, 1, 2, 2**63, 2**64 - 1, r.randint(0, 2**64 - 1)]),
            "shortstr": self.text,
            "longstr": lambda: os.urandom(r.randint(0, 20)),
            "table": self.table,
            "bit": lambda: r.random() < 0.5,
        }
        return {name: makers[kind]() for name, kind in kinds}

    def properties(self):
        return {
            name: self.arguments([(name, kind)])[name]
            for name, kind in A.BASIC_PROPERTIES
            if self.rng.random() < 0.2
        }

    def mutated(self, data: bytes) -> bytes:
        b = bytearray(data)
        for _ in range(self.rng.randint(1, 3)):
            op = self.rng.randint(0, 3)
            if op == 0 and b:
                b[self.rng.randrange(len(b))] = self.rng.randint(0, 255)
            elif op == 1 and b:
                del b[self.rng.randrange(len(b)):]
            elif op == 2:
                b += os.urandom(self.rng.randint(1, 8))
            elif b:
                i = self.rng.randrange(len(b))
                b[i:i] = os.urandom(self.rng.randint(1, 4))
        return bytes(b)

    def publish(self) -> bytes:
        body = os.urandom(self.rng.randint(0, 40))
        return (
            A.method_frame(1, "basic.publish", exchange=self.rng.choice(NAMES), routing_key=self.rng.choice(NAMES),
                           mandatory=self.rng.random() < 0.3)
            + A.header_frame(1, len(body), self.properties())
            + A.body_frame(1, body)
        )

    def method(self) -> bytes:
        ids = self.rng.choice(CLIENT_METHODS)
        kinds = A.SPEC[ids][1]
        args = self.arguments(kinds)
        for key in ("queue", "exchange"):
            if key in args and self.rng.random() < 0.7:
                args[key] = self.rng.choice(NAMES)
        if "delivery_tag" in args and self.rng.random() < 0.7:
            args["delivery_tag"] = self.rng.randint(0, 5)
        channel = 1 if self.rng.random() < 0.9 else self.rng.choice([2, 3])
        return A.frame_bytes(A.FRAME_METHOD, channel, struct.pack(">HH", *ids) + A.encode_args(kinds, args))

    def broken(self) -> bytes:
        r = self.rng.random()
        channel = self.rng.choice([0, 1, 2, 65535])
        if r < 0.4:
            ids = self.rng.choice(list(A.SPEC))
            kinds = A.SPEC[ids][1]
            payload = self.mutated(struct.pack(">HH", *ids) + A.encode_args(kinds, self.arguments(kinds)))
            return A.frame_bytes(A.FRAME_METHOD, channel, payload)
        if r < 0.6:
            size = self.rng.choice([0, 3, 2**63, 2**64 - 1, self.rng.randint(0, 200000)])
            payload = struct.pack(">HHQ", self.rng.choice([60, 10, 0]), 0, size)
            return A.frame_bytes(A.FRAME_HEADER, channel, self.mutated(payload + A.encode_properties(self.properties())))
        if r < 0.8:
            return A.frame_bytes(A.FRAME_BODY, channel, os.urandom(self.rng.randint(0, 50)))
        return self.mutated(A.frame_bytes(self.rng.randint(0, 9), channel, os.urandom(self.rng.randint(0, 30))))

    def stream(self) -> bytes:
        well_formed = self.rng.random() < 0.7
        parts = []
        for _ in range(self.rng.randint(1, 60)):
            if well_formed:
                parts.append(self.publish() if self.rng.random() < 0.25 else self.method())
            else:
                parts.append(self.broken() if self.rng.random() < 0.5 else self.method())
        return b"".join(parts)


def attack(broker, fuzzer: Fuzzer) -> bytes:
    """One connection: handshake, maybe a channel, the random stream; returns what came back."""
    received = b""
    try:
        c = A.RawConnection(broker.host, broker.port, timeout=2)
    except OSError:
        return received
    try:
        c.handshake(capabilities=fuzzer.rng.choice([None, {}, {"publisher_confirms": True}]))
        if fuzzer.rng.random() < 0.9:
            c.open_channel(1)
        c.sock.settimeout(0.05)
        c.sock.sendall(fuzzer.stream())
        deadline = time.monotonic() + 0.1
        while time.monotonic() < deadline:
            chunk = c.sock.recv(65536)
            if not chunk:
                break
            received += chunk
    except (A.ConnectionClosed, OSError, AssertionError):
        pass
    finally:
        c.sock.close()
    return received


def assert_served(broker):
    with A.connect(broker.host, broker.port) as c:
        c.open_channel(1)
        c.rpc(1, "queue.declare", "queue.declare-ok", queue="after-the-fuzz", auto_delete=True)
        c.publish(1, "", "after-the-fuzz", b"still here")
        c.send_method(1, "basic.get", queue="after-the-fuzz", no_ack=True)
        c.expect("basic.get-ok", 1)
        _, body = c.read_content()
        assert body == b"still here"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_frame_streams_never_harm_the_broker(fresh_broker, seed):
    fuzzer = Fuzzer(seed)
    internal_errors = []
    for n in range(150):
        reply = attack(fresh_broker, fuzzer)
        if any(marker in reply for marker in INTERNAL_ERROR_CLOSES):
            internal_errors.append(n)
        if n % 50 == 49:
            assert fresh_broker.proc.poll() is None, fresh_broker.log()[-3000:]
            assert_served(fresh_broker)
    assert fresh_broker.proc.poll() is None, fresh_broker.log()[-3000:]
    assert internal_errors == [], f"541 INTERNAL_ERROR after connections {internal_errors} (seed {seed})"
    assert_served(fresh_broker)


@pytest.mark.parametrize("announced", [2**40, 2**64 - 1])
def test_a_body_announced_beyond_max_message_size_closes_only_the_channel(broker, uid, announced):
    """A header announcing a body past max_message_size (128 MiB by default), then a small frame:
    the channel is closed as RabbitMQ closes it for a message that large, and nothing is reserved
    for the announced size (a terabyte used to make the broker abort)."""
    with A.connect(broker.host, broker.port) as c:
        c.open_channel(1)
        c.rpc(1, "queue.declare", "queue.declare-ok", queue=uid, auto_delete=True)
        c.send(A.method_frame(1, "basic.publish", routing_key=uid) + A.header_frame(1, announced)
               + A.body_frame(1, b"0123456789"))
        close = c.expect("channel.close", 1)
        assert close.args["reply_code"] == A.PRECONDITION_FAILED
        assert close.args["reply_text"] == (
            f"PRECONDITION_FAILED - message size {announced} is larger than configured max size 134217728")
        assert (close.args["class_id"], close.args["method_id"]) == (60, 40)
        # The rest of that body is dropped; after close-ok the connection carries on.
        c.send(A.body_frame(1, b"more of it") + A.method_frame(1, "channel.close-ok"))
        c.open_channel(1)
        c.publish(1, "", uid, b"fine")
        c.send_method(1, "basic.get", queue=uid, no_ack=True)
        c.expect("basic.get-ok", 1)
        assert c.read_content()[1] == b"fine"
    assert broker.proc is None or broker.proc.poll() is None


def test_max_message_size_from_the_configuration(tmp_path, uid):
    conf = tmp_path / "warren.conf"
    conf.write_text("max_message_size = 1000\n")
    b = start_warren(["--config", str(conf), "--bind", "127.0.0.1"])
    try:
        connection = pika.BlockingConnection(pika.URLParameters(b.url()))
        ch = connection.channel()
        ch.queue_declare(uid)
        ch.basic_publish("", uid, b"x" * 1000)
        ch.basic_publish("", uid, b"x" * 1001)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
            ch.queue_declare(uid, passive=True)
        assert closed.value.reply_code == 406
        assert closed.value.reply_text == "PRECONDITION_FAILED - message size 1001 is larger than configured max size 1000"
        ch = connection.channel()
        assert ch.queue_declare(uid, passive=True).method.message_count == 1
        connection.close()
    finally:
        stop_warren(b)
