"""Interop: 100 000 queues with message TTLs and expiries cost no busy CPU while idle.

Warren only: it measures the broker process's own CPU time (/proc/<pid>/stat)."""

import os
import time

import pytest

from amqp_raw import RawConnection, method_frame

QUEUES = 100_000


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


@pytest.mark.warren_only
def test_idle_queues_with_ttls_and_expiries_cost_no_cpu(fresh_broker, uid):
    b = fresh_broker
    c = RawConnection(b.host, b.port, timeout=60)
    c.handshake()
    c.rpc(1, "channel.open", "channel.open-ok")
    args = {"x-message-ttl": 60_000, "x-expires": 3_600_000}
    batch = []
    for i in range(QUEUES):
        batch.append(method_frame(1, "queue.declare", queue=f"{uid}-{i}", nowait=True, arguments=args))
        if len(batch) == 2000:
            c.send(b"".join(batch))
            batch = []
    c.send(b"".join(batch))
    # a declare with a reply: every nowait declare before it is done
    ok = c.rpc(1, "queue.declare", "queue.declare-ok", queue=f"{uid}-{QUEUES - 1}", passive=True)
    assert ok.args["queue"] == f"{uid}-{QUEUES - 1}"
    time.sleep(1.0)  # let the declaration burst settle

    before, start = cpu_seconds(b.pid), time.monotonic()
    time.sleep(5.0)
    used, elapsed = cpu_seconds(b.pid) - before, time.monotonic() - start
    c.sock.close()
    # a scan of 100 000 queues ten times a second would keep a core busy; idle must be ~0
    assert used / elapsed < 0.03, f"{used:.3f} s of CPU in {elapsed:.1f} s while idle"
