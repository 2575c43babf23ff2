"""A tiny raw AMQP 0-9-1 client over a plain socket, for protocol-error tests.

It knows just enough of the protocol to do the handshake, open channels, publish, consume,
send arbitrary (also deliberately broken) bytes, and read back what the broker says, in
particular the reply code, text, class id and method id of connection.close / channel.close.

Nothing here depends on any AMQP library; every byte is encoded and decoded in this file.
"""

from __future__ import annotations

import datetime
import decimal
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_END = 0xCE

FRAME_METHOD = 1
FRAME_HEADER = 2
FRAME_BODY = 3
FRAME_HEARTBEAT = 8

# Reply codes (AMQP 0-9-1 spec).
REPLY_SUCCESS = 200
CONTENT_TOO_LARGE = 311
NO_ROUTE = 312
NO_CONSUMERS = 313
CONNECTION_FORCED = 320
INVALID_PATH = 402
ACCESS_REFUSED = 403
NOT_FOUND = 404
RESOURCE_LOCKED = 405
PRECONDITION_FAILED = 406
FRAME_ERROR = 501
SYNTAX_ERROR = 502
COMMAND_INVALID = 503
CHANNEL_ERROR = 504
UNEXPECTED_FRAME = 505
RESOURCE_ERROR = 506
NOT_ALLOWED = 530
NOT_IMPLEMENTED = 540
INTERNAL_ERROR = 541


def reply_text(text: str) -> str:
    """A reply-text as RabbitMQ sends it: texts over 255 octets are cut to 252 plus "..."."""
    b = text.encode()
    if len(b) <= 255:
        return text
    return b[:252].decode("utf-8", "ignore") + "..."


# ---------------------------------------------------------------------------
# Field encoding


class Writer:
    def __init__(self):
        self.parts: List[bytes] = []
        self._bits: List[bool] = []

    def _flush_bits(self):
        if self._bits:
            byte = 0
            for i, b in enumerate(self._bits):
                if b:
                    byte |= 1 << i
            self.parts.append(bytes([byte]))
            self._bits = []

    def bit(self, v: bool):
        if len(self._bits) == 8:
            self._flush_bits()
        self._bits.append(bool(v))
        return self

    def octet(self, v: int):
        self._flush_bits()
        self.parts.append(struct.pack(">B", v))
        return self

    def short(self, v: int):
        self._flush_bits()
        self.parts.append(struct.pack(">H", v))
        return self

    def long(self, v: int):
        self._flush_bits()
        self.parts.append(struct.pack(">I", v))
        return self

    def longlong(self, v: int):
        self._flush_bits()
        self.parts.append(struct.pack(">Q", v))
        return self

    def shortstr(self, v):
        self._flush_bits()
        b = v.encode() if isinstance(v, str) else bytes(v)
        if len(b) > 255:
            raise ValueError("shortstr longer than 255 octets")
        self.parts.append(struct.pack(">B", len(b)) + b)
        return self

    def longstr(self, v):
        self._flush_bits()
        b = v.encode() if isinstance(v, str) else bytes(v)
        self.parts.append(struct.pack(">I", len(b)) + b)
        return self

    def table(self, v: Optional[Dict[str, Any]]):
        self._flush_bits()
        self.parts.append(encode_table(v or {}))
        return self

    def raw(self, b: bytes):
        self._flush_bits()
        self.parts.append(b)
        return self

    def getvalue(self) -> bytes:
        self._flush_bits()
        return b"".join(self.parts)


@dataclass
class Typed:
    """A field value with an explicit type octet, e.g. Typed("b", 5) for a signed 8-bit int."""

    kind: str
    value: Any


_TYPED_FORMATS = {"b": ">b", "B": ">B", "s": ">h", "u": ">H", "I": ">i", "i": ">I", "l": ">q",
                  "f": ">f", "d": ">d", "T": ">Q"}


def encode_value(v: Any) -> bytes:
    """Encodes one field value with its type octet (RabbitMQ's field type set)."""
    if isinstance(v, Typed):
        if v.kind in _TYPED_FORMATS:
            return v.kind.encode() + struct.pack(_TYPED_FORMATS[v.kind], v.value)
        if v.kind == "t":
            return b"t" + bytes([1 if v.value else 0])
        if v.kind in ("S", "x"):
            b = v.value.encode() if isinstance(v.value, str) else bytes(v.value)
            return v.kind.encode() + struct.pack(">I", len(b)) + b
        if v.kind == "V":
            return b"V"
        raise ValueError(f"unknown field type {v.kind!r}")
    if v is None:
        return b"V"
    if isinstance(v, bool):
        return b"t" + bytes([1 if v else 0])
    if isinstance(v, int):
        if -(2**31) <= v < 2**31:
            return b"I" + struct.pack(">i", v)
        return b"l" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"d" + struct.pack(">d", v)
    if isinstance(v, decimal.Decimal):
        sign, digits, exp = v.as_tuple()
        places = max(0, -exp)
        value = int(v.scaleb(places))
        return b"D" + struct.pack(">Bi", places, value)
    if isinstance(v, datetime.datetime):
        return b"T" + struct.pack(">Q", int(v.timestamp()))
    if isinstance(v, str):
        b = v.encode()
        return b"S" + struct.pack(">I", len(b)) + b
    if isinstance(v, (bytes, bytearray)):
        return b"x" + struct.pack(">I", len(v)) + bytes(v)
    if isinstance(v, dict):
        return b"F" + encode_table(v)
    if isinstance(v, (list, tuple)):
        body = b"".join(encode_value(x) for x in v)
        return b"A" + struct.pack(">I", len(body)) + body
    raise TypeError(f"cannot encode {type(v)}")


def encode_table(t: Dict[str, Any]) -> bytes:
    body = b""
    for k, v in t.items():
        kb = k.encode()
        body += struct.pack(">B", len(kb)) + kb + encode_value(v)
    return struct.pack(">I", len(body)) + body


# ---------------------------------------------------------------------------
# Field decoding


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self._bits: Optional[int] = None
        self._bitpos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("truncated")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        self._bits = None
        return b

    def bit(self) -> bool:
        if self._bits is None or self._bitpos == 8:
            self._bits = self._take(1)[0]
            self._bitpos = 0
        v = bool(self._bits & (1 << self._bitpos))
        self._bitpos += 1
        return v

    def octet(self) -> int:
        return self._take(1)[0]

    def short(self) -> int:
        return struct.unpack(">H", self._take(2))[0]

    def long(self) -> int:
        return struct.unpack(">I", self._take(4))[0]

    def longlong(self) -> int:
        return struct.unpack(">Q", self._take(8))[0]

    def shortstr(self) -> str:
        n = self.octet()
        return self._take(n).decode("utf-8", "replace")

    def longstr(self) -> bytes:
        n = self.long()
        return self._take(n)

    def table(self) -> Dict[str, Any]:
        n = self.long()
        sub = Reader(self._take(n))
        out = {}
        while sub.pos < len(sub.data):
            k = sub.shortstr()
            out[k] = sub.value()
        return out

    def value(self) -> Any:
        t = chr(self.octet())
        if t == "t":
            return self.octet() != 0
        if t == "b":
            return struct.unpack(">b", self._take(1))[0]
        if t == "B":
            return self.octet()
        if t == "s":
            return struct.unpack(">h", self._take(2))[0]
        if t == "u":
            return self.short()
        if t == "I":
            return struct.unpack(">i", self._take(4))[0]
        if t == "i":
            return self.long()
        if t == "l":
            return struct.unpack(">q", self._take(8))[0]
        if t == "f":
            return struct.unpack(">f", self._take(4))[0]
        if t == "d":
            return struct.unpack(">d", self._take(8))[0]
        if t == "D":
            places = self.octet()
            raw = struct.unpack(">i", self._take(4))[0]
            return decimal.Decimal(raw).scaleb(-places)
        if t == "S":
            return self.longstr().decode("utf-8", "replace")
        if t == "x":
            return self.longstr()
        if t == "A":
            n = self.long()
            sub = Reader(self._take(n))
            items = []
            while sub.pos < len(sub.data):
                items.append(sub.value())
            return items
        if t == "T":
            return self.longlong()
        if t == "F":
            return self.table()
        if t == "V":
            return None
        raise ValueError(f"unknown field type {t!r}")


# ---------------------------------------------------------------------------
# Method signatures: (class, method) -> (name, [field kinds])

SPEC: Dict[Tuple[int, int], Tuple[str, List[Tuple[str, str]]]] = {
    (10, 10): ("connection.start", [("version_major", "octet"), ("version_minor", "octet"),
                                    ("server_properties", "table"), ("mechanisms", "longstr"),
                                    ("locales", "longstr")]),
    (10, 11): ("connection.start-ok", [("client_properties", "table"), ("mechanism", "shortstr"),
                                       ("response", "longstr"), ("locale", "shortstr")]),
    (10, 20): ("connection.secure", [("challenge", "longstr")]),
    (10, 21): ("connection.secure-ok", [("response", "longstr")]),
    (10, 30): ("connection.tune", [("channel_max", "short"), ("frame_max", "long"), ("heartbeat", "short")]),
    (10, 31): ("connection.tune-ok", [("channel_max", "short"), ("frame_max", "long"), ("heartbeat", "short")]),
    (10, 40): ("connection.open", [("virtual_host", "shortstr"), ("capabilities", "shortstr"), ("insist", "bit")]),
    (10, 41): ("connection.open-ok", [("known_hosts", "shortstr")]),
    (10, 50): ("connection.close", [("reply_code", "short"), ("reply_text", "shortstr"),
                                    ("class_id", "short"), ("method_id", "short")]),
    (10, 51): ("connection.close-ok", []),
    (10, 60): ("connection.blocked", [("reason", "shortstr")]),
    (10, 61): ("connection.unblocked", []),
    (20, 10): ("channel.open", [("out_of_band", "shortstr")]),
    (20, 11): ("channel.open-ok", [("channel_id", "longstr")]),
    (20, 20): ("channel.flow", [("active", "bit")]),
    (20, 21): ("channel.flow-ok", [("active", "bit")]),
    (20, 40): ("channel.close", [("reply_code", "short"), ("reply_text", "shortstr"),
                                 ("class_id", "short"), ("method_id", "short")]),
    (20, 41): ("channel.close-ok", []),
    (40, 10): ("exchange.declare", [("ticket", "short"), ("exchange", "shortstr"), ("type", "shortstr"),
                                    ("passive", "bit"), ("durable", "bit"), ("auto_delete", "bit"),
                                    ("internal", "bit"), ("nowait", "bit"), ("arguments", "table")]),
    (40, 11): ("exchange.declare-ok", []),
    (40, 20): ("exchange.delete", [("ticket", "short"), ("exchange", "shortstr"), ("if_unused", "bit"),
                                   ("nowait", "bit")]),
    (40, 21): ("exchange.delete-ok", []),
    (50, 10): ("queue.declare", [("ticket", "short"), ("queue", "shortstr"), ("passive", "bit"),
                                 ("durable", "bit"), ("exclusive", "bit"), ("auto_delete", "bit"),
                                 ("nowait", "bit"), ("arguments", "table")]),
    (50, 11): ("queue.declare-ok", [("queue", "shortstr"), ("message_count", "long"),
                                    ("consumer_count", "long")]),
    (50, 20): ("queue.bind", [("ticket", "short"), ("queue", "shortstr"), ("exchange", "shortstr"),
                              ("routing_key", "shortstr"), ("nowait", "bit"), ("arguments", "table")]),
    (50, 21): ("queue.bind-ok", []),
    (50, 30): ("queue.purge", [("ticket", "short"), ("queue", "shortstr"), ("nowait", "bit")]),
    (50, 31): ("queue.purge-ok", [("message_count", "long")]),
    (50, 40): ("queue.delete", [("ticket", "short"), ("queue", "shortstr"), ("if_unused", "bit"),
                                ("if_empty", "bit"), ("nowait", "bit")]),
    (50, 41): ("queue.delete-ok", [("message_count", "long")]),
    (60, 10): ("basic.qos", [("prefetch_size", "long"), ("prefetch_count", "short"), ("global", "bit")]),
    (60, 11): ("basic.qos-ok", []),
    (60, 20): ("basic.consume", [("ticket", "short"), ("queue", "shortstr"), ("consumer_tag", "shortstr"),
                                 ("no_local", "bit"), ("no_ack", "bit"), ("exclusive", "bit"),
                                 ("nowait", "bit"), ("arguments", "table")]),
    (60, 21): ("basic.consume-ok", [("consumer_tag", "shortstr")]),
    (60, 30): ("basic.cancel", [("consumer_tag", "shortstr"), ("nowait", "bit")]),
    (60, 31): ("basic.cancel-ok", [("consumer_tag", "shortstr")]),
    (60, 40): ("basic.publish", [("ticket", "short"), ("exchange", "shortstr"), ("routing_key", "shortstr"),
                                 ("mandatory", "bit"), ("immediate", "bit")]),
    (60, 50): ("basic.return", [("reply_code", "short"), ("reply_text", "shortstr"),
                                ("exchange", "shortstr"), ("routing_key", "shortstr")]),
    (60, 60): ("basic.deliver", [("consumer_tag", "shortstr"), ("delivery_tag", "longlong"),
                                 ("redelivered", "bit"), ("exchange", "shortstr"),
                                 ("routing_key", "shortstr")]),
    (60, 70): ("basic.get", [("ticket", "short"), ("queue", "shortstr"), ("no_ack", "bit")]),
    (60, 71): ("basic.get-ok", [("delivery_tag", "longlong"), ("redelivered", "bit"),
                                ("exchange", "shortstr"), ("routing_key", "shortstr"),
                                ("message_count", "long")]),
    (60, 72): ("basic.get-empty", [("cluster_id", "shortstr")]),
    (60, 80): ("basic.ack", [("delivery_tag", "longlong"), ("multiple", "bit")]),
    (60, 90): ("basic.reject", [("delivery_tag", "longlong"), ("requeue", "bit")]),
    (60, 110): ("basic.recover", [("requeue", "bit")]),
    (60, 111): ("basic.recover-ok", []),
    (60, 120): ("basic.nack", [("delivery_tag", "longlong"), ("multiple", "bit"), ("requeue", "bit")]),
    (85, 10): ("confirm.select", [("nowait", "bit")]),
    (85, 11): ("confirm.select-ok", []),
    (90, 10): ("tx.select", []),
    (90, 11): ("tx.select-ok", []),
    (90, 20): ("tx.commit", []),
    (90, 21): ("tx.commit-ok", []),
    (90, 30): ("tx.rollback", []),
    (90, 31): ("tx.rollback-ok", []),
}
NAMES = {v[0]: k for k, v in SPEC.items()}


def encode_args(kinds: List[Tuple[str, str]], values: Dict[str, Any]) -> bytes:
    w = Writer()
    for name, kind in kinds:
        default = {"octet": 0, "short": 0, "long": 0, "longlong": 0, "shortstr": "", "longstr": b"",
                   "table": {}, "bit": False}[kind]
        getattr(w, kind)(values.get(name, default))
    return w.getvalue()


def decode_args(kinds: List[Tuple[str, str]], data: bytes) -> Dict[str, Any]:
    r = Reader(data)
    return {name: getattr(r, kind)() for name, kind in kinds}


BASIC_PROPERTIES = [
    ("content_type", "shortstr"), ("content_encoding", "shortstr"), ("headers", "table"),
    ("delivery_mode", "octet"), ("priority", "octet"), ("correlation_id", "shortstr"),
    ("reply_to", "shortstr"), ("expiration", "shortstr"), ("message_id", "shortstr"),
    ("timestamp", "longlong"), ("type", "shortstr"), ("user_id", "shortstr"), ("app_id", "shortstr"),
    ("cluster_id", "shortstr"),
]


def encode_properties(props: Dict[str, Any]) -> bytes:
    flags = 0
    w = Writer()
    for i, (name, kind) in enumerate(BASIC_PROPERTIES):
        if props.get(name) is not None:
            flags |= 1 << (15 - i)
            getattr(w, kind)(props[name])
    return struct.pack(">H", flags) + w.getvalue()


def decode_properties(data: bytes) -> Dict[str, Any]:
    r = Reader(data)
    flags = r.short()
    out = {}
    for i, (name, kind) in enumerate(BASIC_PROPERTIES):
        if flags & (1 << (15 - i)):
            out[name] = getattr(r, kind)()
    return out


# ---------------------------------------------------------------------------
# Frames


@dataclass
class Frame:
    type: int
    channel: int
    payload: bytes

    # Filled in for method frames.
    class_id: int = 0
    method_id: int = 0
    name: str = ""
    args: Dict[str, Any] = field(default_factory=dict)

    def is_method(self, name: str) -> bool:
        return self.type == FRAME_METHOD and self.name == name

    def __repr__(self):
        if self.type == FRAME_METHOD:
            return f"Frame(ch={self.channel} {self.name or (self.class_id, self.method_id)} {self.args})"
        return f"Frame(type={self.type} ch={self.channel} {len(self.payload)} octets)"


@dataclass
class Close:
    """A connection.close or channel.close received from the broker."""

    scope: str  # "connection" or "channel"
    channel: int
    reply_code: int
    reply_text: str
    class_id: int
    method_id: int


def frame_bytes(frame_type: int, channel: int, payload: bytes, end: int = FRAME_END) -> bytes:
    return struct.pack(">BHI", frame_type, channel, len(payload)) + payload + bytes([end])


def method_payload(name_or_ids, **args) -> bytes:
    if isinstance(name_or_ids, str):
        class_id, method_id = NAMES[name_or_ids]
    else:
        class_id, method_id = name_or_ids
    kinds = SPEC.get((class_id, method_id), ("", []))[1]
    return struct.pack(">HH", class_id, method_id) + encode_args(kinds, args)


def method_frame(channel: int, name: str, **args) -> bytes:
    return frame_bytes(FRAME_METHOD, channel, method_payload(name, **args))


def header_frame(channel: int, body_size: int, properties: Optional[Dict[str, Any]] = None,
                 class_id: int = 60) -> bytes:
    payload = struct.pack(">HHQ", class_id, 0, body_size) + encode_properties(properties or {})
    return frame_bytes(FRAME_HEADER, channel, payload)


def body_frame(channel: int, body: bytes) -> bytes:
    return frame_bytes(FRAME_BODY, channel, body)


ASYNC_METHODS = {"basic.deliver", "basic.return", "basic.ack", "basic.nack", "basic.cancel",
                 "channel.flow", "connection.blocked", "connection.unblocked"}
CONTENT_METHODS = {"basic.deliver", "basic.return", "basic.get-ok"}

HEARTBEAT_FRAME = frame_bytes(FRAME_HEARTBEAT, 0, b"")


class ConnectionClosed(Exception):
    pass


class RawConnection:
    """One TCP connection speaking raw AMQP 0-9-1."""

    def __init__(self, host: str, port: int, timeout: float = 5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""
        self.eof = False
        self.start: Dict[str, Any] = {}
        self.tune: Dict[str, Any] = {}
        self.frame_max = 131072
        self.channel_max = 0
        self.heartbeat = 0
        self.received: List[Frame] = []  # every frame read so far
        # Asynchronous methods (deliver, return, ack, nack, cancel, flow...) that arrived while
        # expect() waited for something else: (frame, properties, body).
        self.events: List[Tuple[Frame, Dict[str, Any], bytes]] = []

    # -- bytes -------------------------------------------------------------

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _recv_more(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_exact(self, n: int, timeout: Optional[float] = None) -> Optional[bytes]:
        """n octets, or None on EOF / timeout (check self.eof to tell them apart)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self.buf) < n:
            if self.eof or not self._recv_more(deadline):
                return None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_all_until_eof(self, timeout: Optional[float] = None) -> bytes:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.eof and self._recv_more(deadline):
            pass
        out, self.buf = self.buf, b""
        return out

    def wait_eof(self, timeout: float) -> bool:
        """True once the broker has closed the socket (within timeout); data read is kept."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            if not self._recv_more(deadline) and not self.eof:
                return False
        return True

    # -- frames ------------------------------------------------------------

    def read_frame(self, timeout: Optional[float] = None) -> Optional[Frame]:
        """The next frame, or None on EOF/timeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        head = self.read_exact(7, max(0.0, deadline - time.monotonic()))
        if head is None:
            return None
        ftype, channel, size = struct.unpack(">BHI", head)
        rest = self.read_exact(size + 1, max(0.0, deadline - time.monotonic()) + 1.0)
        if rest is None:
            raise ConnectionClosed("truncated frame")
        if rest[-1] != FRAME_END:
            raise ValueError(f"bad frame end {rest[-1]:#x}")
        f = Frame(ftype, channel, rest[:-1])
        if ftype == FRAME_METHOD:
            f.class_id, f.method_id = struct.unpack(">HH", f.payload[:4])
            name, kinds = SPEC.get((f.class_id, f.method_id), ("", []))
            f.name = name
            if name:
                f.args = decode_args(kinds, f.payload[4:])
        self.received.append(f)
        return f

    def expect(self, name: str, channel: Optional[int] = None, timeout: Optional[float] = None,
               skip_heartbeats: bool = True) -> Frame:
        """Reads frames until method `name` arrives; fails on a close or anything unexpected."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self.read_frame(max(0.0, deadline - time.monotonic()))
            if f is None:
                raise ConnectionClosed(f"no {name}: {'EOF' if self.eof else 'timeout'}")
            if f.type == FRAME_HEARTBEAT and skip_heartbeats:
                continue
            if f.is_method(name) and (channel is None or f.channel == channel):
                return f
            if f.name in ASYNC_METHODS:
                self._stash(f)
                continue
            raise AssertionError(f"expected {name}, got {f!r}")

    def _stash(self, f: Frame):
        props: Dict[str, Any] = {}
        body = b""
        if f.name in CONTENT_METHODS:
            props, body = self.read_content()
        self.events.append((f, props, body))

    def next_event(self, timeout: Optional[float] = None) -> Optional[Tuple[Frame, Dict[str, Any], bytes]]:
        """The next asynchronous method (with its content for deliver/return/get-ok), or None.

        A connection.close / channel.close is returned as an event as well (not answered).
        """
        if self.events:
            return self.events.pop(0)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self.read_frame(max(0.0, deadline - time.monotonic()))
            if f is None:
                return None
            if f.type == FRAME_HEARTBEAT:
                continue
            props: Dict[str, Any] = {}
            body = b""
            if f.name in CONTENT_METHODS:
                props, body = self.read_content()
            return f, props, body

    def drain(self, quiet: float = 0.3) -> List[Tuple[Frame, Dict[str, Any], bytes]]:
        """Every event until none arrives for `quiet` seconds."""
        out = []
        while True:
            e = self.next_event(quiet)
            if e is None:
                return out
            out.append(e)

    def send_method(self, channel: int, name, **args):
        self.send(frame_bytes(FRAME_METHOD, channel, method_payload(name, **args)))

    def rpc(self, channel: int, name: str, reply: str, **args) -> Frame:
        self.send_method(channel, name, **args)
        return self.expect(reply, channel)

    # -- handshake ---------------------------------------------------------

    def handshake(self, user: str = "guest", password: str = "guest", vhost: str = "/",
                  mechanism: str = "PLAIN", heartbeat: Optional[int] = None,
                  frame_max: Optional[int] = None, channel_max: Optional[int] = None,
                  capabilities: Optional[Dict[str, Any]] = None, open_vhost: bool = True) -> "RawConnection":
        """Protocol header, start/start-ok, tune/tune-ok, open/open-ok.

        heartbeat / frame_max / channel_max default to the broker's proposal.
        """
        self.send(PROTOCOL_HEADER)
        start = self.expect("connection.start")
        self.start = start.args
        if mechanism == "PLAIN":
            response = b"\x00" + user.encode() + b"\x00" + password.encode()
        elif mechanism == "AMQPLAIN":
            # AMQPLAIN: a field table without its length prefix.
            response = encode_table({"LOGIN": user, "PASSWORD": password})[4:]
        else:
            raise ValueError(mechanism)
        caps = {"authentication_failure_close": True} if capabilities is None else capabilities
        self.send_method(0, "connection.start-ok",
                         client_properties={"product": "warren-raw-test", "capabilities": caps},
                         mechanism=mechanism, response=response, locale="en_US")
        tune = self.expect("connection.tune")
        self.tune = tune.args
        self.channel_max = tune.args["channel_max"] if channel_max is None else channel_max
        self.frame_max = tune.args["frame_max"] if frame_max is None else frame_max
        self.heartbeat = tune.args["heartbeat"] if heartbeat is None else heartbeat
        self.send_method(0, "connection.tune-ok", channel_max=self.channel_max,
                         frame_max=self.frame_max, heartbeat=self.heartbeat)
        if open_vhost:
            self.send_method(0, "connection.open", virtual_host=vhost)
            self.expect("connection.open-ok")
        return self

    def open_channel(self, channel: int = 1) -> Frame:
        return self.rpc(channel, "channel.open", "channel.open-ok")

    # -- content -----------------------------------------------------------

    def publish(self, channel: int, exchange: str, routing_key: str, body: bytes,
                properties: Optional[Dict[str, Any]] = None, mandatory: bool = False):
        data = method_frame(channel, "basic.publish", exchange=exchange, routing_key=routing_key,
                            mandatory=mandatory)
        data += header_frame(channel, len(body), properties)
        chunk = max(1, self.frame_max - 8)
        for i in range(0, len(body), chunk):
            data += body_frame(channel, body[i : i + chunk])
        self.send(data)

    def read_content(self, timeout: Optional[float] = None) -> Tuple[Dict[str, Any], bytes]:
        """After a deliver/get-ok/return method: the header's properties and the whole body."""
        f = self.read_frame(timeout)
        while f is not None and f.type == FRAME_HEARTBEAT:
            f = self.read_frame(timeout)
        assert f is not None and f.type == FRAME_HEADER, f
        _cls, _weight, size = struct.unpack(">HHQ", f.payload[:12])
        props = decode_properties(f.payload[12:])
        body = b""
        while len(body) < size:
            b = self.read_frame(timeout)
            assert b is not None, "EOF in body"
            if b.type == FRAME_HEARTBEAT:
                continue
            assert b.type == FRAME_BODY, b
            body += b.payload
        return props, body

    # -- closing -----------------------------------------------------------

    def wait_close(self, timeout: Optional[float] = None, reply_close_ok: bool = True) -> Optional[Close]:
        """Reads frames until the broker sends connection.close or channel.close.

        Answers with the matching close-ok (so the broker can finish cleanly) and returns what
        it said; returns None if the socket closed (or the timeout passed) without a close.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                f = self.read_frame(max(0.0, deadline - time.monotonic()))
            except ConnectionClosed:
                return None
            if f is None:
                return None
            if f.is_method("connection.close"):
                if reply_close_ok:
                    try:
                        self.send_method(0, "connection.close-ok")
                    except OSError:
                        pass
                a = f.args
                return Close("connection", f.channel, a["reply_code"], a["reply_text"], a["class_id"],
                             a["method_id"])
            if f.is_method("channel.close"):
                if reply_close_ok:
                    self.send_method(f.channel, "channel.close-ok")
                a = f.args
                return Close("channel", f.channel, a["reply_code"], a["reply_text"], a["class_id"],
                             a["method_id"])

    def close(self):
        """Polite connection.close, then drop the socket."""
        try:
            if not self.eof:
                self.send_method(0, "connection.close", reply_code=200, reply_text="bye")
                deadline = time.monotonic() + 2.0
                while time.monotonic() < deadline:
                    f = self.read_frame(max(0.0, deadline - time.monotonic()))
                    if f is None or f.is_method("connection.close-ok"):
                        break
        except (OSError, ValueError, ConnectionClosed):
            pass
        finally:
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(host: str, port: int, **handshake_args) -> RawConnection:
    """A connection that has completed the handshake (PLAIN guest/guest by default)."""
    c = RawConnection(host, port)
    try:
        return c.handshake(**handshake_args)
    except BaseException:
        c.sock.close()
        raise
