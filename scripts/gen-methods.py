#!/usr/bin/env python3
"""Generates the AMQP 0-9-1 method types of the AMQPProtocol target from the table below.

Writes:
  Sources/AMQPProtocol/Methods/<Class>Methods.swift   one struct per method of that class
  Sources/AMQPProtocol/Methods/AMQPMethod.swift       the AMQPMethod enum and its dispatch
  Tests/AMQPProtocolTests/Generated/MethodSamples.swift  two samples per method, every field set

Run from anywhere: python3 scripts/gen-methods.py (it runs `swift format -i` on its output).
The generated files are committed; edit this table, not them.

Table format: one class line "CLASS ID", then one line per method
"  ID name: field type[=default], ..." followed by an optional "    | doc" line. A field named
"reserved" is not stored: decode skips it and encode writes zero or an empty value.
Types: bit octet short long longlong shortstr longstr table. Consecutive bits share an octet,
least significant bit first. longstr fields are [UInt8] (they carry SASL data).
"""

import os
import re
import subprocess
import sys

SPEC = """
connection 10
  10 start: version-major octet=0, version-minor octet=9, server-properties table, mechanisms longstr, locales longstr
    | Starts connection negotiation: the server's protocol version, properties, SASL mechanisms and locales.
  11 start-ok: client-properties table, mechanism shortstr, response longstr, locale shortstr
    | Selects a SASL mechanism and locale, with the client's properties and initial response.
  20 secure: challenge longstr
    | A SASL challenge.
  21 secure-ok: response longstr
    | A SASL response.
  30 tune: channel-max short, frame-max long, heartbeat short
    | The server's proposed connection limits.
  31 tune-ok: channel-max short, frame-max long, heartbeat short
    | The limits the client chose.
  40 open: virtual-host shortstr, reserved shortstr, reserved bit
    | Opens the connection to a virtual host.
  41 open-ok: reserved shortstr
    | The virtual host is open.
  50 close: reply-code short, reply-text shortstr, class-id short, method-id short
    | Requests a connection close, with the reason and the method that caused it.
  51 close-ok:
    | Confirms a connection close.
  60 blocked: reason shortstr
    | The server stopped reading publishes (RabbitMQ extension).
  61 unblocked:
    | The server resumed reading publishes (RabbitMQ extension).
  70 update-secret: new-secret longstr, reason shortstr
    | Replaces the connection's credentials (RabbitMQ extension).
  71 update-secret-ok:
    | Confirms a credentials update.

channel 20
  10 open: reserved shortstr
    | Opens a channel.
  11 open-ok: reserved longstr
    | The channel is open.
  20 flow: active bit
    | Asks the peer to pause or resume sending content.
  21 flow-ok: active bit
    | Confirms a flow change.
  40 close: reply-code short, reply-text shortstr, class-id short, method-id short
    | Requests a channel close, with the reason and the method that caused it.
  41 close-ok:
    | Confirms a channel close.

exchange 40
  10 declare: reserved short, exchange shortstr, type shortstr, passive bit, durable bit, auto-delete bit, internal bit, no-wait bit, arguments table
    | Creates an exchange, or checks that it exists.
  11 declare-ok:
    | The exchange exists.
  20 delete: reserved short, exchange shortstr, if-unused bit, no-wait bit
    | Deletes an exchange.
  21 delete-ok:
    | The exchange was deleted.
  30 bind: reserved short, destination shortstr, source shortstr, routing-key shortstr, no-wait bit, arguments table
    | Binds an exchange to an exchange (RabbitMQ extension).
  31 bind-ok:
    | The exchange binding exists.
  40 unbind: reserved short, destination shortstr, source shortstr, routing-key shortstr, no-wait bit, arguments table
    | Removes an exchange-to-exchange binding (RabbitMQ extension).
  51 unbind-ok:
    | The exchange binding was removed.

queue 50
  10 declare: reserved short, queue shortstr, passive bit, durable bit, exclusive bit, auto-delete bit, no-wait bit, arguments table
    | Creates a queue, or checks that it exists.
  11 declare-ok: queue shortstr, message-count long, consumer-count long
    | The queue exists: its name and counts.
  20 bind: reserved short, queue shortstr, exchange shortstr, routing-key shortstr, no-wait bit, arguments table
    | Binds a queue to an exchange.
  21 bind-ok:
    | The queue binding exists.
  30 purge: reserved short, queue shortstr, no-wait bit
    | Removes all ready messages from a queue.
  31 purge-ok: message-count long
    | The queue was purged of this many messages.
  40 delete: reserved short, queue shortstr, if-unused bit, if-empty bit, no-wait bit
    | Deletes a queue.
  41 delete-ok: message-count long
    | The queue was deleted with this many messages.
  50 unbind: reserved short, queue shortstr, exchange shortstr, routing-key shortstr, arguments table
    | Removes a queue binding.
  51 unbind-ok:
    | The queue binding was removed.

basic 60
  10 qos: prefetch-size long, prefetch-count short, global bit
    | Sets the prefetch window.
  11 qos-ok:
    | The prefetch window was set.
  20 consume: reserved short, queue shortstr, consumer-tag shortstr, no-local bit, no-ack bit, exclusive bit, no-wait bit, arguments table
    | Starts a consumer.
  21 consume-ok: consumer-tag shortstr
    | The consumer started, under this tag.
  30 cancel: consumer-tag shortstr, no-wait bit
    | Ends a consumer (sent by either peer).
  31 cancel-ok: consumer-tag shortstr
    | The consumer ended.
  40 publish: reserved short, exchange shortstr, routing-key shortstr, mandatory bit, immediate bit
    | Publishes a message; content follows.
  50 return: reply-code short, reply-text shortstr, exchange shortstr, routing-key shortstr
    | Returns an unroutable mandatory message; content follows.
  60 deliver: consumer-tag shortstr, delivery-tag longlong, redelivered bit, exchange shortstr, routing-key shortstr
    | Delivers a message to a consumer; content follows.
  70 get: reserved short, queue shortstr, no-ack bit
    | Fetches one message.
  71 get-ok: delivery-tag longlong, redelivered bit, exchange shortstr, routing-key shortstr, message-count long
    | The fetched message; content follows.
  72 get-empty: reserved shortstr
    | The queue had no message to fetch.
  80 ack: delivery-tag longlong, multiple bit
    | Acknowledges one message, or all up to the tag (also a publisher confirm).
  90 reject: delivery-tag longlong, requeue bit
    | Rejects one message.
  100 recover-async: requeue bit
    | Redelivers unacknowledged messages (deprecated, no reply).
  110 recover: requeue bit
    | Redelivers unacknowledged messages.
  111 recover-ok:
    | The unacknowledged messages were recovered.
  120 nack: delivery-tag longlong, multiple bit, requeue bit
    | Rejects one message or all up to the tag (RabbitMQ extension; also a negative confirm).

confirm 85
  10 select: no-wait bit
    | Puts the channel in publisher-confirm mode (RabbitMQ extension).
  11 select-ok:
    | The channel is in confirm mode.

tx 90
  10 select:
    | Puts the channel in transaction mode.
  11 select-ok:
    | The channel is in transaction mode.
  20 commit:
    | Commits the current transaction.
  21 commit-ok:
    | The transaction was committed.
  30 rollback:
    | Abandons the current transaction.
  31 rollback-ok:
    | The transaction was abandoned.
"""

SWIFT_TYPES = {
    "bit": "Bool",
    "octet": "UInt8",
    "short": "UInt16",
    "long": "UInt32",
    "longlong": "UInt64",
    "shortstr": "String",
    "longstr": "[UInt8]",
    "table": "FieldTable",
}

ZERO = {
    "bit": "false",
    "octet": "0",
    "short": "0",
    "long": "0",
    "longlong": "0",
    "shortstr": '""',
    "longstr": "[]",
    "table": "[:]",
}

SWIFT_KEYWORDS = {"internal", "private", "public", "open", "return", "static", "class", "default", "in", "is"}

CONTENT_METHODS = {"basic.publish", "basic.return", "basic.deliver", "basic.get-ok"}

HEADER = "// Generated by scripts/gen-methods.py from its method table. Do not edit by hand.\n"


class Field:
    def __init__(self, name, type_, default):
        if type_ not in SWIFT_TYPES:
            sys.exit(f"unknown type {type_!r} for field {name!r}")
        self.name = name
        self.type = type_
        self.default = default if default is not None else ZERO[type_]

    @property
    def reserved(self):
        return self.name == "reserved"

    @property
    def swift(self):
        """The name as an identifier: backquoted where it is a Swift keyword ("internal")."""
        name = lower_camel(self.name)
        return f"`{name}`" if name in SWIFT_KEYWORDS else name

    @property
    def label(self):
        return lower_camel(self.name)


class Method:
    def __init__(self, cls, cls_id, mid, name, fields):
        self.cls = cls
        self.cls_id = cls_id
        self.id = mid
        self.name = name
        self.fields = fields
        self.doc = ""

    @property
    def full_name(self):
        return f"{self.cls}.{self.name}"

    @property
    def struct(self):
        return upper_camel(self.cls) + upper_camel(self.name)

    @property
    def case(self):
        return lower_camel(self.cls + "-" + self.name)

    @property
    def stored(self):
        return [f for f in self.fields if not f.reserved]


def words(name):
    return name.split("-")


def cap(word):
    return "ID" if word == "id" else word[:1].upper() + word[1:]


def lower_camel(name):
    w = words(name)
    return w[0] + "".join(cap(x) for x in w[1:])


def upper_camel(name):
    return "".join(cap(x) for x in words(name))


def parse():
    classes = []
    current = None
    last = None
    for raw in SPEC.strip("\n").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("|"):
            last.doc = line[1:].strip()
            continue
        m = re.fullmatch(r"([a-z]+) (\d+)", line)
        if m:
            current = (m.group(1), int(m.group(2)), [])
            classes.append(current)
            continue
        m = re.fullmatch(r"(\d+) ([a-z-]+):(.*)", line)
        if not m:
            sys.exit(f"cannot parse line: {raw!r}")
        fields = []
        for part in filter(None, (p.strip() for p in m.group(3).split(","))):
            fm = re.fullmatch(r"([a-z0-9-]+) ([a-z]+)(?:=(\S+))?", part)
            if not fm:
                sys.exit(f"cannot parse field {part!r}")
            fields.append(Field(fm.group(1), fm.group(2), fm.group(3)))
        last = Method(current[0], current[1], int(m.group(1)), m.group(2), fields)
        current[2].append(last)
    return classes


def bit_groups(fields):
    """Yields (field, group_index, bit_index) for bits; group_index counts packed octets."""
    group = -1
    pos = 8
    previous_bit = False
    out = {}
    for f in fields:
        if f.type == "bit":
            if not previous_bit or pos == 8:
                group += 1
                pos = 0
            out[id(f)] = (group, pos)
            pos += 1
            previous_bit = True
        else:
            previous_bit = False
    return out


def decode_lines(method):
    lines = []
    bits = bit_groups(method.fields)
    read_groups = set()
    for f in method.fields:
        target = f"self.{f.label}"
        label = f.name if not f.reserved else "reserved field"
        if f.type == "bit":
            group, pos = bits[id(f)]
            if group not in read_groups:
                read_groups.add(group)
                group_fields = [g for g in method.fields if g.type == "bit" and bits[id(g)][0] == group]
                if all(g.reserved for g in group_fields):
                    lines.append('try buffer.skipAMQPBytes(1, "reserved bits")')
                else:
                    lines.append(f'let bits{group}: UInt8 = try buffer.readAMQPInteger("bits")')
            if not f.reserved:
                lines.append(f"{target} = bits{group} & 0x{1 << pos:02X} != 0")
            continue
        if f.reserved:
            skip = {
                "octet": 'try buffer.skipAMQPBytes(1, "reserved field")',
                "short": 'try buffer.skipAMQPBytes(2, "reserved field")',
                "long": 'try buffer.skipAMQPBytes(4, "reserved field")',
                "longlong": 'try buffer.skipAMQPBytes(8, "reserved field")',
                "shortstr": "try buffer.skipShortString()",
                "longstr": "try buffer.skipLongString()",
                "table": "try buffer.skipFieldTable()",
            }[f.type]
            lines.append(skip)
            continue
        read = {
            "octet": f'try buffer.readAMQPInteger("{label}")',
            "short": f'try buffer.readAMQPInteger("{label}")',
            "long": f'try buffer.readAMQPInteger("{label}")',
            "longlong": f'try buffer.readAMQPInteger("{label}")',
            "shortstr": "try buffer.readShortString()",
            "longstr": "try buffer.readLongString()",
            "table": "try buffer.readFieldTable()",
        }[f.type]
        lines.append(f"{target} = {read}")
    return lines


def encode_lines(method):
    lines = []
    bits = bit_groups(method.fields)
    fields = method.fields
    i = 0
    while i < len(fields):
        f = fields[i]
        if f.type == "bit":
            group, _ = bits[id(f)]
            members = []
            while i < len(fields) and fields[i].type == "bit" and bits[id(fields[i])][0] == group:
                members.append(fields[i])
                i += 1
            stored = [m for m in members if not m.reserved]
            if not stored:
                lines.append("buffer.writeInteger(UInt8(0))  // reserved bits")
            elif len(stored) == 1 and len(members) == 1:
                lines.append(f"buffer.writeInteger(UInt8({stored[0].swift} ? 1 : 0))")
            else:
                lines.append(f"var bits{group}: UInt8 = 0")
                for m in stored:
                    lines.append(f"if {m.swift} {{ bits{group} |= 0x{1 << bits[id(m)][1]:02X} }}")
                lines.append(f"buffer.writeInteger(bits{group})")
            continue
        i += 1
        if f.reserved:
            write = {
                "octet": "buffer.writeInteger(UInt8(0))  // reserved",
                "short": "buffer.writeInteger(UInt16(0))  // reserved",
                "long": "buffer.writeInteger(UInt32(0))  // reserved",
                "longlong": "buffer.writeInteger(UInt64(0))  // reserved",
                "shortstr": "buffer.writeInteger(UInt8(0))  // reserved, empty short string",
                "longstr": "buffer.writeInteger(UInt32(0))  // reserved, empty long string",
                "table": "buffer.writeInteger(UInt32(0))  // reserved, empty table",
            }[f.type]
            lines.append(write)
            continue
        write = {
            "octet": f"buffer.writeInteger({f.swift})",
            "short": f"buffer.writeInteger({f.swift})",
            "long": f"buffer.writeInteger({f.swift})",
            "longlong": f"buffer.writeInteger({f.swift})",
            "shortstr": f"buffer.writeShortString({f.swift})",
            "longstr": f"buffer.writeLongString({f.swift})",
            "table": f"buffer.writeFieldTable({f.swift})",
        }[f.type]
        lines.append(write)
    return lines


def struct_source(m):
    out = []
    ind = "    "
    out.append(f"/// {m.full_name} ({m.cls_id}/{m.id}): {m.doc}")
    out.append(f"public struct {m.struct}: Sendable, Equatable {{")
    for f in m.stored:
        out.append(f"{ind}public var {f.swift}: {SWIFT_TYPES[f.type]}")
    if m.stored:
        out.append("")
        params = [f"{f.label}: {SWIFT_TYPES[f.type]} = {f.default}" for f in m.stored]
        one_line = f"{ind}public init({', '.join(params)}) {{"
        if len(one_line) <= 120:
            out.append(one_line)
        else:
            out.append(f"{ind}public init(")
            for k, p in enumerate(params):
                out.append(f"{ind}{ind}{p}" + ("," if k < len(params) - 1 else ""))
            out.append(f"{ind}) {{")
        for f in m.stored:
            out.append(f"{ind}{ind}self.{f.label} = {f.swift}")
        out.append(f"{ind}}}")
    else:
        out.append(f"{ind}public init() {{}}")
    out.append("}")
    out.append("")
    out.append(f"extension {m.struct}: AMQPMethodArguments {{")
    out.append(f"{ind}public static let classID: UInt16 = {m.cls_id}")
    out.append(f"{ind}public static let methodID: UInt16 = {m.id}")
    out.append(f'{ind}public static let name = "{m.full_name}"')
    out.append("")
    dec = decode_lines(m)
    if dec:
        out.append(f"{ind}public init(arguments buffer: inout ByteBuffer) throws(AMQPProtocolError) {{")
        out.extend(f"{ind}{ind}{line}" for line in dec)
        out.append(f"{ind}}}")
    else:
        out.append(f"{ind}public init(arguments buffer: inout ByteBuffer) throws(AMQPProtocolError) {{}}")
    out.append("")
    enc = encode_lines(m)
    if enc:
        out.append(f"{ind}public func encodeArguments(into buffer: inout ByteBuffer) {{")
        out.extend(f"{ind}{ind}{line}" for line in enc)
        out.append(f"{ind}}}")
    else:
        out.append(f"{ind}public func encodeArguments(into buffer: inout ByteBuffer) {{}}")
    out.append("}")
    return "\n".join(out)


def class_file(name, cls_id, methods):
    parts = [HEADER, "import NIOCore", ""]
    parts.append(f"// The {name} class ({cls_id}).")
    parts.append("")
    parts.append("\n\n".join(struct_source(m) for m in methods))
    return "\n".join(parts) + "\n"


def enum_file(classes):
    methods = [m for _, _, ms in classes for m in ms]
    ind = "    "
    o = [HEADER, "import NIOCore", ""]
    o.append("/// An AMQP 0-9-1 method: one case per method, holding its arguments.")
    o.append("public enum AMQPMethod: Sendable, Equatable {")
    for m in methods:
        o.append(f"{ind}case {m.case}({m.struct})")
    o.append("")

    def prop(signature, doc, value):
        o.append(f"{ind}/// {doc}")
        o.append(f"{ind}{signature} {{")
        o.append(f"{ind}{ind}switch self {{")
        for m in methods:
            o.append(f"{ind}{ind}case .{m.case}: return {value(m)}")
        o.append(f"{ind}{ind}}}")
        o.append(f"{ind}}}")
        o.append("")

    o.append(f"{ind}/// The class id (60 for basic).")
    o.append(f"{ind}public var classID: UInt16 {{")
    o.append(f"{ind}{ind}switch self {{")
    for cls, cls_id, ms in classes:
        o.append(f"{ind}{ind}case {', '.join('.' + m.case for m in ms)}:")
        o.append(f"{ind}{ind}{ind}return {cls_id}")
    o.append(f"{ind}{ind}}}")
    o.append(f"{ind}}}")
    o.append("")
    prop("public var methodID: UInt16", "The method id within its class.", lambda m: str(m.id))
    prop("public var name: String", 'The spec name, such as "basic.publish".', lambda m: f'"{m.full_name}"')

    o.append(f"{ind}/// True for the methods followed by a content header and body frames.")
    o.append(f"{ind}public var hasContent: Bool {{")
    o.append(f"{ind}{ind}switch self {{")
    content = [m for m in methods if m.full_name in CONTENT_METHODS]
    o.append(f"{ind}{ind}case {', '.join('.' + m.case for m in content)}: return true")
    o.append(f"{ind}{ind}default: return false")
    o.append(f"{ind}{ind}}}")
    o.append(f"{ind}}}")
    o.append("")

    o.append(f'{ind}/// The spec name of a method ("basic.publish"), or nil for ids this library does not know.')
    o.append(f"{ind}public static func name(classID: UInt16, methodID: UInt16) -> String? {{")
    o.append(f"{ind}{ind}switch (classID, methodID) {{")
    for m in methods:
        o.append(f'{ind}{ind}case ({m.cls_id}, {m.id}): return "{m.full_name}"')
    o.append(f"{ind}{ind}default: return nil")
    o.append(f"{ind}{ind}}}")
    o.append(f"{ind}}}")
    o.append("")

    o.append(f"{ind}/// Decodes a method's arguments (the method frame payload after the class and method ids).")
    o.append(f"{ind}///")
    o.append(f"{ind}/// Unknown ids throw `notImplemented` (540); truncated or malformed arguments throw")
    o.append(f"{ind}/// `syntaxError` (502) naming the method, leaving the reader index unchanged. Bytes after")
    o.append(f"{ind}/// the last argument are left unread.")
    o.append(
        f"{ind}public static func decode(classID: UInt16, methodID: UInt16, arguments: inout ByteBuffer)"
        " throws(AMQPProtocolError)"
    )
    o.append(f"{ind}{ind}-> AMQPMethod")
    o.append(f"{ind}{{")
    o.append(f"{ind}{ind}switch classID {{")
    for cls, cls_id, ms in classes:
        o.append(f"{ind}{ind}case {cls_id}:  // {cls}")
        o.append(f"{ind}{ind}{ind}switch methodID {{")
        for m in ms:
            o.append(f"{ind}{ind}{ind}case {m.id}: return .{m.case}(try decodeArguments(&arguments))")
        o.append(f"{ind}{ind}{ind}default: break")
        o.append(f"{ind}{ind}{ind}}}")
    o.append(f"{ind}{ind}default: break")
    o.append(f"{ind}{ind}}}")
    o.append(f"{ind}{ind}throw AMQPProtocolError.notImplemented(")
    o.append(f'{ind}{ind}{ind}"unknown method \\(classID)/\\(methodID)", classID: classID, methodID: methodID)')
    o.append(f"{ind}}}")
    o.append("")

    o.append(f"{ind}/// Writes the method's arguments only (no class or method id).")
    o.append(f"{ind}public func encodeArguments(into buffer: inout ByteBuffer) {{")
    o.append(f"{ind}{ind}switch self {{")
    for m in methods:
        o.append(f"{ind}{ind}case .{m.case}(let m): m.encodeArguments(into: &buffer)")
    o.append(f"{ind}{ind}}}")
    o.append(f"{ind}}}")
    o.append("}")
    return "\n".join(o) + "\n"


def sample_value(f, index, variant):
    t = f.type
    if t == "bit":
        return "true" if (index + variant) % 2 == 0 else "false"
    if t == "octet":
        return f"0x{(0xA5 + index * 7 + variant * 0x31) & 0xFF:02X}"
    if t == "short":
        return f"0x{(0xA1B2 + index * 0x111 + variant * 0x1357) & 0xFFFF:04X}"
    if t == "long":
        return f"0x{(0xC1D2E3F4 + index * 0x1111 + variant * 0x2468) & 0xFFFFFFFF:08X}"
    if t == "longlong":
        return f"0x{(0xF102030405060708 - index * 0x1010 - variant * 0x9999) & 0xFFFFFFFFFFFFFFFF:016X}"
    if t == "shortstr":
        return f'"{f.name}-{index}"' if variant == 0 else f'"\\u{{E9}}t\\u{{E9}} {f.name} {"x" * 40}"'
    if t == "longstr":
        return f'Array("{f.name}".utf8) + [0, {index}, 255]' if variant == 0 else f"[{variant}, 0, 0xFE]"
    if t == "table":
        if variant == 0:
            return f'["k{index}": .string("v"), "n": .int32(-{index + 1})]'
        return '["nested": .table(["a": .array([.boolean(true), .void])]), "d": .double(1.5)]'
    raise ValueError(t)


def samples_file(classes):
    methods = [m for _, _, ms in classes for m in ms]
    o = [HEADER, "import AMQPProtocol", ""]
    o.append("/// Two instances of every method with every field set to a non-default value (bits in")
    o.append("/// alternating patterns, opposite in the two variants).")
    o.append("enum MethodSamples {")
    o.append("    static let all: [AMQPMethod] = [")
    for m in methods:
        for variant in (0, 1):
            if not m.stored:
                if variant == 0:
                    o.append(f"        .{m.case}({m.struct}()),")
                continue
            args = ", ".join(f"{f.label}: {sample_value(f, k, variant)}" for k, f in enumerate(m.stored))
            line = f"        .{m.case}({m.struct}({args})),"
            if len(line) <= 120:
                o.append(line)
            else:
                o.append(f"        .{m.case}(")
                o.append(f"            {m.struct}(")
                for k, f in enumerate(m.stored):
                    comma = "," if k < len(m.stored) - 1 else ""
                    o.append(f"                {f.label}: {sample_value(f, k, variant)}{comma}")
                o.append("            )")
                o.append("        ),")
    o.append("    ]")
    o.append("}")
    return "\n".join(o) + "\n"


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    classes = parse()
    out_dir = os.path.join(root, "Sources", "AMQPProtocol", "Methods")
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name, cls_id, methods in classes:
        path = os.path.join(out_dir, f"{upper_camel(name)}Methods.swift")
        with open(path, "w") as fh:
            fh.write(class_file(name, cls_id, methods))
        written.append(path)
    path = os.path.join(out_dir, "AMQPMethod.swift")
    with open(path, "w") as fh:
        fh.write(enum_file(classes))
    written.append(path)
    test_dir = os.path.join(root, "Tests", "AMQPProtocolTests", "Generated")
    os.makedirs(test_dir, exist_ok=True)
    path = os.path.join(test_dir, "MethodSamples.swift")
    with open(path, "w") as fh:
        fh.write(samples_file(classes))
    written.append(path)
    for p in written:
        print(os.path.relpath(p, root))
    # Wrap the few long lines the way the repository's formatter does.
    try:
        subprocess.run(["swift", "format", "-i", "--configuration", os.path.join(root, ".swift-format")] + written,
                       check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"warning: swift format failed ({error}); the output is unformatted", file=sys.stderr)


if __name__ == "__main__":
    main()
