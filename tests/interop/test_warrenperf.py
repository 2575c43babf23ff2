"""warrenperf, the load tool, against the suite's broker: each command runs briefly with --json and
prints one plausible summary; Ctrl-C (SIGINT) mid-run still prints a parseable summary.

The binary is WARRENPERF_BIN, else .build/release/warrenperf, else .build/debug/warrenperf; the
tests are skipped when none exists (`swift build -c release --product warrenperf` builds it).
"""

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import REPO


def warrenperf_binary():
    binary = os.environ.get("WARRENPERF_BIN")
    if binary:
        return binary if os.access(binary, os.X_OK) else None
    for config in ("release", "debug"):
        candidate = os.path.join(REPO, ".build", config, "warrenperf")
        if os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def warrenperf():
    binary = warrenperf_binary()
    if binary is None:
        pytest.skip(
            "warrenperf is not built: set WARRENPERF_BIN or run `swift build -c release --product warrenperf`"
        )
    return binary


def uri(broker):
    return f"amqp://guest:guest@{broker.host}:{broker.port}/%2F"


def run_json(warrenperf, broker, *args, timeout=30):
    """Runs a command to completion; returns its JSON summary and its stderr."""
    p = subprocess.run(
        [warrenperf, *args, "--uri", uri(broker), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=timeout,
    )
    out, err = p.stdout.decode(), p.stderr.decode()
    assert p.returncode == 0, f"exit {p.returncode}\nstdout: {out}\nstderr: {err}"
    return json.loads(out), err


def test_throughput_publishes_and_consumes(warrenperf, broker):
    summary, err = run_json(warrenperf, broker, "throughput", "--duration", "2", "--size", "64")
    assert summary["command"] == "throughput"
    assert "error" not in summary
    assert summary["published"] > 0
    assert 0 < summary["consumed"] <= summary["published"]
    assert summary["publish_rate"] > 0 and summary["consume_rate"] > 0
    assert 1.5 <= summary["seconds"] < 5
    assert "t=1s publish=" in err  # one line of rates per second on stderr


def test_throughput_with_confirms_acks_and_a_rate_limit(warrenperf, broker):
    summary, _ = run_json(
        warrenperf, broker, "throughput", "--duration", "2", "--producers", "2", "--consumers", "2",
        "--queues", "2", "--exchange-type", "topic", "--routing-key", "a.b", "--routing-key", "a.c",
        "--binding-key", "a.*", "--confirm", "64", "--ack", "--prefetch", "100", "--rate", "2000",
    )
    assert summary["published"] > 0 and summary["confirmed"] > 0
    assert summary["confirmed"] <= summary["published"]
    # "a.*" binds both queues to both keys: each message reaches each of the 2 queues once.
    assert 0 < summary["consumed"] <= 2 * summary["published"]
    # 2000 msg/s in total, with a little slack for the first tick.
    assert summary["publish_rate"] <= 2000 * 1.2


def test_latency_reports_ordered_percentiles(warrenperf, broker):
    summary, _ = run_json(warrenperf, broker, "latency", "--duration", "2", "--clients", "2")
    assert summary["command"] == "latency"
    assert summary["calls"] > 0 and summary["calls_per_s"] > 0
    keys = ["min_us", "p50_us", "p90_us", "p99_us", "p999_us", "max_us"]
    values = [summary[k] for k in keys]
    assert values[0] > 0
    assert values == sorted(values), dict(zip(keys, values))


def test_latency_with_direct_reply_to(warrenperf, broker):
    summary, _ = run_json(warrenperf, broker, "latency", "--duration", "1", "--direct-reply-to")
    assert summary["calls"] > 0 and summary["direct_reply_to"] is True


def test_connections_opens_and_holds(warrenperf, broker):
    summary, _ = run_json(warrenperf, broker, "connections", "--connections", "20", "--duration", "1")
    assert summary["requested"] == 20
    assert summary["opened"] == 20 and summary["failed"] == 0
    assert summary["alive_at_end"] == 20
    assert summary["open_seconds"] > 0 and summary["opens_per_s"] > 0


def test_queue_churn_declares_and_deletes(warrenperf, broker):
    summary, _ = run_json(warrenperf, broker, "queue-churn", "--duration", "1", "--clients", "2", "--durable")
    assert summary["declared"] > 0
    # Each declare is followed by its delete; the count seen at the end may trail by one a client.
    assert summary["declared"] - 2 <= summary["deleted"] <= summary["declared"]
    assert summary["declares_per_s"] > 0


def test_sigint_stops_a_run_and_prints_the_summary(warrenperf, broker):
    p = subprocess.Popen(
        [warrenperf, "throughput", "--uri", uri(broker), "--duration", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # Wait for the first line of rates: the run is measuring.
        deadline = time.monotonic() + 15
        line = b""
        while time.monotonic() < deadline and not line.startswith(b"t="):
            line = p.stderr.readline()
        assert line.startswith(b"t="), "no line of rates within 15 s"
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0
    summary = json.loads(out.decode())
    assert summary["interrupted"] is True
    assert summary["published"] > 0
    assert summary["consumed"] <= summary["published"]
