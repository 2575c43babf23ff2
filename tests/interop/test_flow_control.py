"""Flow control: a publisher flooding a queue far faster than its consumer acks is slowed to the
consumer's pace (its connection goes into flow, as RabbitMQ's do), so the queue's backlog stays
bounded instead of growing by hundreds of thousands of messages a second. A queue without
consumers still takes everything (test_warrenperf and the durability tests cover that).

Warren only: RabbitMQ 3.10 slows a flooding publisher only to what its queue process can take in
(about 120 000 messages a second here), so its backlog still grows by about 500 000 in this test."""

import subprocess
import time

import pytest

from admin_helpers import Ctl
from test_warrenperf import run_json, uri, warrenperf  # noqa: F401 (fixture)


@pytest.mark.warren_only
def test_flooding_publisher_is_slowed_to_a_slow_consumers_pace(warrenperf, broker):  # noqa: F811
    # prefetch 1 with acks: one message per round trip, some thousands a second; the producer
    # alone publishes several hundred thousand a second.
    summary, _ = run_json(
        warrenperf, broker, "throughput", "--duration", "4", "--ack", "--prefetch", "1", timeout=60
    )
    assert summary["consumed"] > 1000
    backlog = summary["published"] - summary["consumed"]
    # Without flow control the backlog after 4 s is the producer's whole output (over 2 million
    # messages here); with it, what built up before the broker noticed (about 100 000).
    assert backlog < 400_000, summary
    # After the first second the producer keeps roughly to the consumer's pace.
    later = summary["per_second"][1:]
    published = sum(s["published"] for s in later)
    consumed = sum(s["consumed"] for s in later)
    assert published < 4 * consumed + 50_000, summary


@pytest.mark.warren_only
def test_a_connection_in_flow_is_listed_as_such(warrenperf, broker):  # noqa: F811
    ctl = Ctl(broker)
    run = subprocess.Popen(
        [warrenperf, "throughput", "--uri", uri(broker), "--duration", "4", "--ack", "--prefetch", "1", "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        states = set()
        deadline = time.monotonic() + 3.5
        while "flow" not in states and time.monotonic() < deadline:
            time.sleep(0.2)
            states |= {row[-1] for row in ctl.rows("list_connections", "name", "state")}
        assert "flow" in states, states
    finally:
        run.wait(timeout=30)
    # Once the publisher is gone, nothing is left in flow.
    assert all(row[-1] == "running" for row in ctl.rows("list_connections", "name", "state"))
