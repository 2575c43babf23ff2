#!/usr/bin/env python3
"""Writes Tests/AMQPProtocolTests/Fixtures/reference-methods.json: every AMQP 0-9-1 method (and
content properties) encoded by pika's own generated codec (pika.spec), with seeded random values
in every field, and a typed description of those values under this library's Swift field names.

The Swift test decodes each case's bytes, compares every field of the decoded struct with the
description, and re-encodes to the expected bytes: the reference encoding with reserved fields
(ticket, capabilities, insist, ...) at their empty defaults, as this library writes them. Some
cases give reserved fields non-empty values, to check that decoding skips them.

Run: python3 scripts/gen-method-fixtures.py (creates /tmp/proto-venv with pika and amqp if they
are not importable).
"""

import importlib.util
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from reference_env import ensure_reference_clients  # noqa: E402

ensure_reference_clients()

import pika  # noqa: E402
import pika.spec  # noqa: E402

_spec = importlib.util.spec_from_file_location("tables", os.path.join(HERE, "gen-fieldtable-fixtures.py"))
tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tables)

SEED = 7
VARIANTS = 4  # per method; the odd ones fill reserved fields too

# pika argument name -> (Swift field name or None for a reserved field, AMQP type)
FIELDS = {
    "version_major": ("versionMajor", "octet"),
    "version_minor": ("versionMinor", "octet"),
    "server_properties": ("serverProperties", "table"),
    "mechanisms": ("mechanisms", "longstr"),
    "locales": ("locales", "longstr"),
    "client_properties": ("clientProperties", "table"),
    "mechanism": ("mechanism", "shortstr"),
    "response": ("response", "longstr"),
    "locale": ("locale", "shortstr"),
    "challenge": ("challenge", "longstr"),
    "channel_max": ("channelMax", "short"),
    "frame_max": ("frameMax", "long"),
    "heartbeat": ("heartbeat", "short"),
    "virtual_host": ("virtualHost", "shortstr"),
    "capabilities": (None, "shortstr"),
    "insist": (None, "bit"),
    "known_hosts": (None, "shortstr"),
    "reply_code": ("replyCode", "short"),
    "reply_text": ("replyText", "shortstr"),
    "class_id": ("classID", "short"),
    "method_id": ("methodID", "short"),
    "reason": ("reason", "shortstr"),
    "new_secret": ("newSecret", "longstr"),
    "out_of_band": (None, "shortstr"),
    "channel_id": (None, "longstr"),
    "active": ("active", "bit"),
    "ticket": (None, "short"),
    "exchange": ("exchange", "shortstr"),
    "type": ("type", "shortstr"),
    "passive": ("passive", "bit"),
    "durable": ("durable", "bit"),
    "auto_delete": ("autoDelete", "bit"),
    "internal": ("internal", "bit"),
    "nowait": ("noWait", "bit"),
    "arguments": ("arguments", "table"),
    "if_unused": ("ifUnused", "bit"),
    "destination": ("destination", "shortstr"),
    "source": ("source", "shortstr"),
    "routing_key": ("routingKey", "shortstr"),
    "queue": ("queue", "shortstr"),
    "exclusive": ("exclusive", "bit"),
    "message_count": ("messageCount", "long"),
    "consumer_count": ("consumerCount", "long"),
    "if_empty": ("ifEmpty", "bit"),
    "prefetch_size": ("prefetchSize", "long"),
    "prefetch_count": ("prefetchCount", "short"),
    "global_qos": ("global", "bit"),
    "consumer_tag": ("consumerTag", "shortstr"),
    "no_local": ("noLocal", "bit"),
    "no_ack": ("noAck", "bit"),
    "mandatory": ("mandatory", "bit"),
    "immediate": ("immediate", "bit"),
    "delivery_tag": ("deliveryTag", "longlong"),
    "redelivered": ("redelivered", "bit"),
    "cluster_id": (None, "shortstr"),
    "multiple": ("multiple", "bit"),
    "requeue": ("requeue", "bit"),
}

EMPTY = {"bit": False, "octet": 0, "short": 0, "long": 0, "longlong": 0, "shortstr": "", "longstr": b"", "table": {}}

PROPERTIES = [
    ("content_type", "contentType", "shortstr"),
    ("content_encoding", "contentEncoding", "shortstr"),
    ("headers", "headers", "table"),
    ("delivery_mode", "deliveryMode", "octet"),
    ("priority", "priority", "octet"),
    ("correlation_id", "correlationID", "shortstr"),
    ("reply_to", "replyTo", "shortstr"),
    ("expiration", "expiration", "shortstr"),
    ("message_id", "messageID", "shortstr"),
    ("timestamp", "timestamp", "longlong"),
    ("type", "type", "shortstr"),
    ("user_id", "userID", "shortstr"),
    ("app_id", "appID", "shortstr"),
    ("cluster_id", "clusterID", "shortstr"),
]


def random_of(rng, type_):
    if type_ == "bit":
        return rng.random() < 0.5
    if type_ == "octet":
        return rng.randrange(256)
    if type_ == "short":
        return rng.randrange(65536)
    if type_ == "long":
        return rng.randrange(2**32)
    if type_ == "longlong":
        return rng.randrange(2**64)
    if type_ == "shortstr":
        return tables.random_text(rng, 40)
    if type_ == "longstr":
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
    if type_ == "table":
        return tables.random_table(rng, "pika")
    raise ValueError(type_)


def describe(type_, value):
    if type_ == "bit":
        return {"bit": value}
    if type_ in ("octet", "short", "long"):
        return {type_: value}
    if type_ == "longlong":
        return {"longlong": str(value)}
    if type_ == "shortstr":
        return {"shortString": value}
    if type_ == "longstr":
        return {"longString": value.hex()}
    if type_ == "table":
        return tables.describe("pika", {"t": value})["table"][0][1]
    raise ValueError(type_)


def pika_methods():
    for class_name in ("Connection", "Channel", "Exchange", "Queue", "Basic", "Confirm", "Tx"):
        cls = getattr(pika.spec, class_name)
        for name, member in vars(cls).items():
            if isinstance(member, type) and issubclass(member, pika.amqp_object.Method):
                yield member


def method_case(rng, method, fill_reserved):
    code = method.__init__.__code__
    params = code.co_varnames[1:code.co_argcount]
    args, clean_args, fields = {}, {}, {}
    for p in params:
        swift, type_ = FIELDS[p]
        value = random_of(rng, type_)
        if swift is None:
            clean_args[p] = EMPTY[type_]
            args[p] = value if fill_reserved else EMPTY[type_]
        else:
            args[p] = clean_args[p] = value
            fields[swift] = describe(type_, value)
    encoded = b"".join(method(**args).encode())
    reencoded = b"".join(method(**clean_args).encode())
    return {
        "name": method.NAME,
        "classID": method.INDEX >> 16,
        "methodID": method.INDEX & 0xFFFF,
        "hex": encoded.hex(),
        "reencodedHex": reencoded.hex(),
        "fields": fields,
    }


def properties_case(rng):
    args, fields = {}, {}
    for pika_name, swift, type_ in PROPERTIES:
        if rng.random() < 0.5:
            value = random_of(rng, type_)
            args[pika_name] = value
            fields[swift] = describe(type_, value)
    encoded = b"".join(pika.spec.BasicProperties(**args).encode())
    return {"hex": encoded.hex(), "fields": fields}


def main():
    root = os.path.dirname(HERE)
    rng = random.Random(SEED)
    methods = []
    for method in pika_methods():
        for variant in range(VARIANTS):
            methods.append(method_case(rng, method, fill_reserved=variant % 2 == 1))
    properties = [properties_case(rng) for _ in range(100)]
    fixture = {
        "generator": "scripts/gen-method-fixtures.py",
        "seed": SEED,
        "libraries": {"pika": pika.__version__},
        "methods": methods,
        "properties": properties,
    }
    path = os.path.join(root, "Tests", "AMQPProtocolTests", "Fixtures", "reference-methods.json")
    with open(path, "w") as fh:
        json.dump(fixture, fh, indent=None, separators=(",", ":"), ensure_ascii=False)
        fh.write("\n")
    print(f"{path}: {len(methods)} methods, {len(properties)} properties, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
