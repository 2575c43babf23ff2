"""The memory alarm: above vm_memory_high_watermark (the broker's resident memory against a fraction
of the memory available, or an absolute amount), connections that publish are blocked as with the
disk alarm (connection.blocked "low on memory", their socket no longer read) while consumers carry
on; `warrenctl set_vm_memory_high_watermark` changes the limit at once, as rabbitmqctl's does.

The warrenctl tests at the end run against RabbitMQ too (AMQP_EXTERNAL_PORT=5673, rabbitmqctl):
they leave its limits at the defaults they set (0.4, 50MB).
"""

import re
import time

import pika
import pytest

from admin_helpers import Ctl, wait_for
from conftest import start_warren, stop_warren
from test_admin import startup_failure

# Far below any broker's resident memory: the alarm is raised as soon as the broker starts.
TINY = "1MB"


def logged(broker, text):
    return wait_for(lambda: text in broker.log(), timeout=5.0, interval=0.05, what=repr(text))


@pytest.fixture
def alarmed_broker(tmp_path):
    conf = tmp_path / "warren.conf"
    conf.write_text(f"# memory alarm at start\nvm_memory_high_watermark.absolute = {TINY}\n")
    b = start_warren(["--config", str(conf), "--bind", "127.0.0.1"])
    yield b
    stop_warren(b)


class Publisher:
    """A pika publisher that records connection.blocked / unblocked."""

    def __init__(self, broker):
        self.events = []
        self.connection = pika.BlockingConnection(pika.URLParameters(broker.url()))
        self.connection.add_on_connection_blocked_callback(
            lambda conn, frame: self.events.append(("blocked", frame.method.reason, time.monotonic())))
        self.connection.add_on_connection_unblocked_callback(
            lambda conn, frame: self.events.append(("unblocked", None, time.monotonic())))
        self.channel = self.connection.channel()

    def wait_for(self, kind, timeout=5.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = [e for e in self.events if e[0] == kind]
            if found:
                return found[0]
            self.connection.process_data_events(time_limit=0.05)
        raise AssertionError(f"no connection.{kind} within {timeout}s; events: {self.events}")


def drain(channel, queue):
    bodies = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return bodies
        bodies.append(body)


@pytest.mark.warren_only
def test_alarm_at_start_is_logged_with_the_numbers(alarmed_broker):
    logged(alarmed_broker, "memory alarm")
    line = next(l for l in alarmed_broker.log().splitlines() if "memory alarm" in l)
    used = int(re.search(r"uses (\d+) bytes", line).group(1))
    assert used > 1_000_000
    assert "above the limit of 1000000" in line
    assert "Memory high watermark set to" in alarmed_broker.log()


@pytest.mark.warren_only
def test_publisher_is_blocked_consumers_carry_on_and_a_new_watermark_unblocks(alarmed_broker, uid):
    consumer = pika.BlockingConnection(pika.URLParameters(alarmed_broker.url()))
    cch = consumer.channel()
    q = cch.queue_declare(uid, auto_delete=False).method.queue

    publisher = Publisher(alarmed_broker)
    publisher.channel.basic_publish("", q, b"first")
    blocked = publisher.wait_for("blocked")
    assert blocked[1] == "low on memory"

    # Blocked: what it publishes now is not read by the broker and never reaches the queue.
    for i in range(20):
        publisher.channel.basic_publish("", q, f"later-{i}".encode())
    publisher.connection.process_data_events(time_limit=0.5)
    # ("first" itself may be cut off: the broker can stop reading between its frames.)
    before = drain(cch, q)
    assert before in ([], [b"first"]), before

    # A connection that only consumes is not blocked: it declares, gets and consumes as usual.
    assert cch.queue_declare(q, passive=True).method.queue == q
    status = Ctl(alarmed_broker).ok("status", "--formatter", "json").json()
    assert [a["resource"] for a in status["alarms"]] == ["memory"]
    assert status["vm_memory_high_watermark_setting"] == {"absolute": 1_000_000}
    assert status["memory"]["total"]["rss"] > 1_000_000

    # A watermark above what the broker uses clears the alarm at once.
    started = time.monotonic()
    Ctl(alarmed_broker).ok("set_vm_memory_high_watermark", "0.9")
    unblocked = publisher.wait_for("unblocked")
    assert unblocked[2] - started < 2.0
    assert "memory alarm cleared" in alarmed_broker.log()

    # What the publisher sent while blocked is read now, in order, and publishing goes on.
    publisher.channel.basic_publish("", q, b"after")
    got = before
    wait_for(lambda: got.extend(drain(cch, q)) or len(got) >= 22, timeout=5.0, what="the publisher's messages")
    assert got == [b"first"] + [f"later-{i}".encode() for i in range(20)] + [b"after"]
    status = Ctl(alarmed_broker).ok("status", "--formatter", "json").json()
    assert status["alarms"] == []
    cch.queue_delete(q)
    publisher.connection.close()
    consumer.close()


@pytest.mark.warren_only
def test_consumers_drain_a_queue_while_the_alarm_is_raised_at_run_time(fresh_broker, uid):
    b = fresh_broker
    ctl = Ctl(b)
    filler = pika.BlockingConnection(pika.URLParameters(b.url()))
    fch = filler.channel()
    q = fch.queue_declare(uid, auto_delete=False).method.queue
    fch.confirm_delivery()
    for i in range(100):
        fch.basic_publish("", q, f"m{i}".encode())

    ctl.ok("set_vm_memory_high_watermark", "absolute", TINY)
    publisher = Publisher(b)
    publisher.channel.basic_publish("", q, b"x")
    assert publisher.wait_for("blocked")[1] == "low on memory"

    consumer = pika.BlockingConnection(pika.URLParameters(b.url()))
    cch = consumer.channel()
    received = []
    for method, _, body in cch.consume(q, auto_ack=False, inactivity_timeout=1.0):
        if method is None:
            break
        received.append(body)
        cch.basic_ack(method.delivery_tag)
    assert received[:100] == [f"m{i}".encode() for i in range(100)]
    cch.cancel()

    ctl.ok("set_vm_memory_high_watermark", "0.4")
    publisher.wait_for("unblocked")
    for conn in (publisher.connection, consumer, filler):
        conn.close()


@pytest.mark.warren_only
def test_watermark_flag(tmp_path):
    b = start_warren(["--vm-memory-high-watermark", TINY])
    try:
        logged(b, "memory alarm")
        status = Ctl(b).ok("status", "--formatter", "json").json()
        assert status["vm_memory_high_watermark_limit"] == 1_000_000
    finally:
        stop_warren(b)


@pytest.mark.warren_only
@pytest.mark.parametrize("line, expected", [
    ("vm_memory_high_watermark.absolute = lots", "expected bytes"),
    ("vm_memory_high_watermark.absolute = 1.5GB", "expected bytes"),
    ("vm_memory_high_watermark.relative = 1.5", "expected a fraction"),
])
def test_bad_watermark_in_the_config_file_stops_startup_naming_the_line(tmp_path, line, expected):
    output = startup_failure(tmp_path, f"# memory\nheartbeat = 30\n{line}\n")
    assert "warren.conf:3:" in output and line.split(" =")[0] in output and expected in output, output


# ---------------------------------------------------------------------------
# warrenctl as rabbitmqctl (run against RabbitMQ too)

USAGE_MEMORY = "set_vm_memory_high_watermark <fraction> | absolute <value>"


def node_of(line, prefix):
    match = re.match(prefix + r" on (\S+) to", line)
    assert match, line
    return match.group(1)


def test_set_vm_memory_high_watermark_output(broker):
    ctl = Ctl(broker)
    absolute = ctl.ok("set_vm_memory_high_watermark", "absolute", "50GB")
    node = node_of(absolute.stdout, "Setting memory threshold")
    assert absolute.stdout == f"Setting memory threshold on {node} to 50GB bytes ...\n"
    relative = ctl.ok("set_vm_memory_high_watermark", "0.4")
    assert relative.stdout == f"Setting memory threshold on {node} to 0.4 ...\n"
    assert ctl.ok("-q", "set_vm_memory_high_watermark", "0.4").stdout == ""
    status = ctl.ok("status", "--formatter", "json").json()
    assert status["vm_memory_high_watermark_setting"] == {"relative": 0.4}
    assert status["vm_memory_calculation_strategy"] == "rss"
    assert status["vm_memory_high_watermark_limit"] > status["memory"]["total"]["rss"] > 0
    assert status["alarms"] == []


@pytest.mark.parametrize("args, rc, message", [
    (["1.5"], 65, "Bad argument: The threshold should be a fraction between 0.0 and 1.0"),
    (["abc"], 65, "Bad argument."),
    (["absolute", "1.5GB"], 65, "Bad argument: The threshold should be an integer."),
    (["absolute", "1gb"], 65, "Bad argument: Invalid units."),
    (["absolute"], 64, "not enough arguments."),
    (["0.4", "0.5"], 64, "too many arguments."),
])
def test_set_vm_memory_high_watermark_errors(broker, args, rc, message):
    result = Ctl(broker).run("set_vm_memory_high_watermark", *args)
    assert result.rc == rc, str(result)
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error (argument validation): {message}\n"), str(result)
    assert USAGE_MEMORY in result.stderr


def test_set_disk_free_limit_output_and_errors(broker):
    ctl = Ctl(broker)
    relative = ctl.ok("set_disk_free_limit", "mem_relative", "0.001")
    node = node_of(relative.stdout, "Setting disk free limit")
    assert relative.stdout == f"Setting disk free limit on {node} to 0.001 times the total RAM ...\n"
    absolute = ctl.ok("set_disk_free_limit", "50MB")
    assert absolute.stdout == f"Setting disk free limit on {node} to 50MB bytes ...\n"
    assert ctl.ok("status", "--formatter", "json").json()["disk_free_limit"] == 50_000_000
    for args in (["1gb"], ["1.5GB"], ["mem_relative", "abc"]):
        bad = ctl.run("set_disk_free_limit", *args)
        assert bad.rc == 65, str(bad)
        assert bad.stderr.startswith("Error (argument validation): Bad argument.\n"), str(bad)
    assert ctl.run("set_disk_free_limit").rc == 64
    assert ctl.run("set_disk_free_limit", "1GB", "2").rc == 64


def test_status_text_shows_alarms_and_memory(broker):
    text = Ctl(broker).ok("status").stdout
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # rabbitmqctl's bold headers
    assert "\nAlarms\n\n(none)\n" in text, text
    assert re.search(r"\nMemory\n\nTotal memory used: [0-9.e]+ gb\nCalculation strategy: rss\n"
                     r"Memory high watermark setting: 0\.4 of available memory, computed to: [0-9.e]+ gb\n", text), text
    assert re.search(r"\nLow free disk space watermark: 0\.05 gb\nFree disk space: [0-9.e]+ gb\n", text), text


@pytest.mark.warren_only
def test_status_text_names_a_raised_alarm(alarmed_broker):
    logged(alarmed_broker, "memory alarm")
    text = Ctl(alarmed_broker).ok("status").stdout
    assert re.search(r"\nAlarms\n\nMemory alarm on node \S+\n", text), text
    assert "Memory high watermark setting: 0.001 gb, computed to: 0.001 gb\n" in text, text
