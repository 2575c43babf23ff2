#!/usr/bin/env python3
"""Writes Tests/AMQPProtocolTests/Fixtures/reference-tables.json: seeded random field tables
encoded by the table encoders of two Python clients, pika and py-amqp, each with a typed
description of the values the encoding holds, in FieldValue's terms.

The Swift test decodes each reference encoding, compares it with the description and re-encodes
it, expecting the identical bytes. The descriptions follow each library's documented choice of
type octet for a Python value:

  value      pika                        py-amqp
  str        'S' long string             'S' long string
  bytes      'x' byte array              'S' long string
  bool       't'                         't'
  int        'I' int32 if it fits,       'I' int32 if |v| <= 2^31-1, else 'L' (written signed;
             else 'l' int64              FieldValue reads 'L' as UInt64, so the bit pattern)
  float      (not supported)             'd' double
  Decimal    'D' after normalize()       'D' with the exponent as given
  datetime   'T' seconds since 1970      'T'
  dict/list  'F' table / 'A' array       'F' / 'A'
  None       'V'                         'V'

Run: python3 scripts/gen-fieldtable-fixtures.py (creates /tmp/proto-venv with pika and amqp if
they are not importable).
"""

import datetime
import decimal
import json
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_env import ensure_reference_clients  # noqa: E402

ensure_reference_clients()

import amqp  # noqa: E402
import amqp.serialization  # noqa: E402
import pika  # noqa: E402
import pika.data  # noqa: E402

SEED = 91
CASES_PER_LIBRARY = 150
MAX_DEPTH = 3
EPOCH = datetime.datetime(1970, 1, 1)
ALPHABET = "abcxyz-_.:/ 019" + "éü€中😀"  # one- to four-byte UTF-8


def encode(library, table):
    if library == "pika":
        pieces = []
        pika.data.encode_table(pieces, table)
        return b"".join(pieces)
    return amqp.serialization.dumps("F", [table])


def random_text(rng, max_len=10):
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, max_len)))


def random_int(rng, library):
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randint(-128, 127)
    if kind == 1:
        return rng.randint(-32768, 65535)
    if kind == 2:
        return rng.randint(-(2**31), 2**31 - 1)
    if kind == 3:
        return rng.randint(-(2**63), 2**63 - 1)
    return rng.choice([0, -1, 2**31 - 1, -(2**31) + 1, -(2**31), 2**31, 2**63 - 1, -(2**63)])


def random_float(rng):
    special = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 5e-324, 1.7976931348623157e308]
    return rng.choice(special) if rng.random() < 0.3 else rng.uniform(-1e9, 1e9)


def random_decimal(rng):
    raw = rng.choice([0, 1, -1, 2**31 - 1, -(2**31)]) if rng.random() < 0.2 else rng.randint(-(2**31), 2**31 - 1)
    return decimal.Decimal(raw).scaleb(-rng.randint(0, 9))


def random_value(rng, library, depth):
    kinds = ["str", "bytes", "bool", "int", "int", "decimal", "datetime", "none"]
    if library == "amqp":
        kinds.append("float")
    if depth < MAX_DEPTH:
        kinds += ["dict", "list"]
    kind = rng.choice(kinds)
    if kind == "str":
        return random_text(rng)
    if kind == "bytes":
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 8)))
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return random_int(rng, library)
    if kind == "float":
        return random_float(rng)
    if kind == "decimal":
        return random_decimal(rng)
    if kind == "datetime":
        return EPOCH + datetime.timedelta(seconds=rng.randint(0, 2**33))
    if kind == "none":
        return None
    if kind == "dict":
        return random_table(rng, library, depth + 1)
    return [random_value(rng, library, depth + 1) for _ in range(rng.randint(0, 4))]


def random_table(rng, library, depth=0):
    table = {}
    for _ in range(rng.randint(0, 5 if depth == 0 else 3)):
        table[random_text(rng, 12)] = random_value(rng, library, depth)
    return table


def decimal_parts(library, value):
    """(scale, signed raw) as the library writes a Decimal."""
    if library == "pika":
        value = value.normalize()
        exponent = value.as_tuple().exponent
        if exponent < 0:
            return -exponent, int(value * (decimal.Decimal(10) ** -exponent))
        return 0, int(value)
    sign, digits, exponent = value.as_tuple()
    raw = 0
    for d in digits:
        raw = raw * 10 + d
    return -exponent, -raw if sign else raw


def describe(library, value):
    if isinstance(value, bool):
        return {"boolean": value}
    if isinstance(value, str):
        return {"longString": value.encode("utf-8").hex()}
    if isinstance(value, bytes):
        return {"byteArray" if library == "pika" else "longString": value.hex()}
    if isinstance(value, int):
        if library == "pika":
            return {"int32": value} if -(2**31) <= value <= 2**31 - 1 else {"int64": str(value)}
        if -(2**31 - 1) <= value <= 2**31 - 1:
            return {"int32": value}
        return {"uint64": str(value & (2**64 - 1))}
    if isinstance(value, float):
        return {"double": struct.pack(">d", value).hex()}
    if isinstance(value, decimal.Decimal):
        scale, raw = decimal_parts(library, value)
        return {"decimal": [scale, raw & 0xFFFFFFFF]}
    if isinstance(value, datetime.datetime):
        return {"timestamp": str(int((value - EPOCH).total_seconds()))}
    if value is None:
        return {"void": True}
    if isinstance(value, dict):
        return {"table": [[k, describe(library, v)] for k, v in value.items()]}
    if isinstance(value, list):
        return {"array": [describe(library, v) for v in value]}
    raise TypeError(type(value))


def edge_cases(library):
    yield {}
    yield {"": "", "k": b""}
    yield {"nested": {"a": [1, [2, [3, {}]], {"b": None}], "c": {"d": {"e": True}}}}
    yield {"long": "x" * 300, "key" * 50: 7}
    yield {"x-death": [{"count": 3, "reason": "expired", "queue": "q", "time": EPOCH, "routing-keys": ["rk"]}]}


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rng = random.Random(SEED)
    cases = []
    for library in ("pika", "amqp"):
        tables = list(edge_cases(library)) + [random_table(rng, library) for _ in range(CASES_PER_LIBRARY)]
        for table in tables:
            cases.append({
                "library": library,
                "hex": encode(library, table).hex(),
                "table": describe(library, table)["table"],
            })
    fixture = {
        "generator": "scripts/gen-fieldtable-fixtures.py",
        "seed": SEED,
        "libraries": {"pika": pika.__version__, "amqp": amqp.__version__},
        "cases": cases,
    }
    path = os.path.join(root, "Tests", "AMQPProtocolTests", "Fixtures", "reference-tables.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(fixture, fh, indent=None, separators=(",", ":"), ensure_ascii=False)
        fh.write("\n")
    print(f"{path}: {len(cases)} cases, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
