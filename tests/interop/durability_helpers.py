"""Helpers for the durability tests: a broker that can be killed and restarted on the same data
directory and port, and readers/writers for Warren's on-disk files.

On-disk layout (Sources/WarrenCore/Storage):
  <data-dir>/vhosts/<fnv1a64(vhost) hex16>/metadata.log            JSON lines of durable topology
  <data-dir>/vhosts/<...>/queues/<fnv1a64(queue) hex16>/NNNNNNNNNN.seg  message records
  <data-dir>/vhosts/<...>/queues/<...>/NNNNNNNNNN.ack               acked record offsets (u32 BE)
A record is: magic "WMSG" u32 | payload length u32 | CRC-32C(payload) u32 | payload, where payload
is exchange shortstr | routing key shortstr | properties (u32 length, bytes) | body.
"""

import os
import shutil
import signal
import struct
import time
from dataclasses import dataclass
from typing import Iterator, List, Optional

import pytest

from conftest import Broker, start_warren, stop_process

MAGIC = b"WMSG"
HEADER_SIZE = 12


def fnv1a64_hex(name: str) -> str:
    """MessageStore.directoryName(forQueue:): FNV-1a 64 of the UTF-8 name, 16 hex digits."""
    h = 0xCBF29CE484222325
    for byte in name.encode():
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def vhost_dir(data_dir: str, vhost: str = "/") -> str:
    return os.path.join(data_dir, "vhosts", fnv1a64_hex(vhost))


def queue_dir(data_dir: str, queue: str, vhost: str = "/") -> str:
    return os.path.join(vhost_dir(data_dir, vhost), "queues", fnv1a64_hex(queue))


def metadata_log(data_dir: str, vhost: str = "/") -> str:
    return os.path.join(vhost_dir(data_dir, vhost), "metadata.log")


def segment_files(qdir: str) -> List[str]:
    return sorted(os.path.join(qdir, f) for f in os.listdir(qdir) if f.endswith(".seg"))


def dir_size(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except FileNotFoundError:
                pass
    return total


@dataclass
class Record:
    offset: int  # of the record in its segment file
    length: int  # whole record, header included
    exchange: str
    routing_key: str
    properties: bytes
    body: bytes

    @property
    def body_offset(self) -> int:
        """Offset of the body's first byte in the segment file."""
        return self.offset + self.length - len(self.body)


def read_records(path: str) -> Iterator[Record]:
    """The records of an undamaged segment file, in order (stops at the first bad header)."""
    with open(path, "rb") as f:
        data = f.read()
    off = 0
    while off + HEADER_SIZE <= len(data) and data[off:off + 4] == MAGIC:
        (length,) = struct.unpack_from(">I", data, off + 4)
        if off + HEADER_SIZE + length > len(data):
            return
        p = off + HEADER_SIZE
        n = data[p]
        exchange = data[p + 1:p + 1 + n].decode()
        p += 1 + n
        n = data[p]
        rk = data[p + 1:p + 1 + n].decode()
        p += 1 + n
        (plen,) = struct.unpack_from(">I", data, p)
        props = data[p + 4:p + 4 + plen]
        p += 4 + plen
        body = data[p:off + HEADER_SIZE + length]
        yield Record(off, HEADER_SIZE + length, exchange, rk, props, body)
        off += HEADER_SIZE + length


class BrokerHandle:
    """A broker process on a fixed data dir and port that tests kill and restart.

    `logs` keeps the output of every run; `broker.log()` is the current run's output.
    """

    def __init__(self):
        self.broker: Broker = start_warren()
        self.data_dir = self.broker.data_dir
        self.port = self.broker.port
        self.logs: List[str] = []
        self._log_dirs = [os.path.dirname(self.broker.log_path)]

    @property
    def host(self) -> str:
        return self.broker.host

    def url(self) -> str:
        return self.broker.url()

    def log(self) -> str:
        return self.broker.log()

    def kill(self):
        """SIGKILL: nothing is flushed, nothing is closed."""
        proc = self.broker.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        self.logs.append(self.broker.log())

    def stop(self, sig=signal.SIGTERM) -> Optional[int]:
        if sig == signal.SIGKILL:
            self.kill()
            return self.broker.proc.returncode
        rc = stop_process(self.broker.proc, sig)
        self.logs.append(self.broker.log())
        return rc

    def start(self):
        assert self.broker.proc.poll() is not None, "broker still running"
        self.broker = start_warren(data_dir=self.data_dir, port=self.port)
        self._log_dirs.append(os.path.dirname(self.broker.log_path))

    def restart(self, sig=signal.SIGTERM):
        self.stop(sig)
        self.start()

    def alive(self) -> bool:
        return self.broker.proc.poll() is None

    def close(self):
        if self.broker.proc.poll() is None:
            stop_process(self.broker.proc, signal.SIGKILL)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        for d in self._log_dirs:
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def restartable_broker():
    """A Warren of the test's own that the test may kill and restart (same data dir, same port)."""
    if os.environ.get("AMQP_EXTERNAL_PORT"):
        pytest.skip("needs a broker started by the suite")
    handle = BrokerHandle()
    yield handle
    handle.close()


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
