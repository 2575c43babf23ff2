"""Interop: Debian's amqp-tools (the rabbitmq-c command line tools).

amqp-declare-queue, amqp-publish, amqp-get, amqp-consume and amqp-delete-queue are run as
subprocesses against the broker; py-amqp is used only where the tools cannot show something
(message properties, durability) or to wait for a binding to exist.
"""

import os
import shutil
import subprocess
import time

import amqp
import pytest

TOOLS = ("amqp-publish", "amqp-get", "amqp-consume", "amqp-declare-queue", "amqp-delete-queue")
missing = [t for t in TOOLS if shutil.which(t) is None]
pytestmark = pytest.mark.skipif(
    bool(missing), reason=f"amqp-tools not installed (missing {', '.join(missing)}; apt-get install amqp-tools)"
)

TIMEOUT = 15


def run(broker, tool, *args, input=None, check=True, timeout=TIMEOUT):
    # amqp-delete-queue uses -u for --if-unused, so always pass the URL in long form
    proc = subprocess.run(
        [tool, f"--url={broker.url()}", *args],
        input=input,
        capture_output=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{tool} {args} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    return proc


def py_conn(broker):
    c = amqp.Connection(f"{broker.host}:{broker.port}", userid="guest", password="guest", connect_timeout=5)
    c.connect()
    return c


@pytest.fixture
def queue(broker, uid):
    """A queue declared with amqp-declare-queue, deleted with amqp-delete-queue afterwards."""
    name = f"{uid}-q"
    out = run(broker, "amqp-declare-queue", "-q", name).stdout.decode().strip()
    assert out == name  # the tool prints the declared queue's name
    yield name
    run(broker, "amqp-delete-queue", "-q", name, check=False)


def get_all(broker, queue):
    bodies = []
    while True:
        p = run(broker, "amqp-get", "-q", queue, check=False)
        if p.returncode != 0:
            # basic.get-empty: amqp-get prints nothing and exits non-zero (2)
            assert p.stdout == b""
            return bodies
        bodies.append(p.stdout)


def test_declare_publish_get_delete(broker, queue):
    for i in range(5):
        run(broker, "amqp-publish", "-r", queue, "-C", "text/plain", "-p", "-H", f"x-n: {i}", "-b", f"message {i}")
    assert get_all(broker, queue) == [f"message {i}".encode() for i in range(5)]
    p = run(broker, "amqp-get", "-q", queue, check=False)
    assert p.returncode == 2 and p.stdout == b""
    for i in range(2):
        run(broker, "amqp-publish", "-r", queue, "-b", "left")
    # amqp-delete-queue prints the number of messages deleted with the queue
    assert run(broker, "amqp-delete-queue", "-q", queue).stdout.decode().strip() == "2"
    c = py_conn(broker)
    try:
        with pytest.raises(amqp.exceptions.NotFound):
            c.channel().queue_declare(queue, passive=True)
    finally:
        c.close()


def test_published_properties_and_headers(broker, queue):
    run(broker, "amqp-publish", "-r", queue, "-C", "application/json", "-E", "utf-8", "-p",
        "-t", "reply-here", "-H", "x-trace: abc-123", "-H", "x-count: 7", "-b", '{"a": 1}')
    run(broker, "amqp-publish", "-r", queue, "-b", "plain")
    c = py_conn(broker)
    try:
        ch = c.channel()
        m = ch.basic_get(queue, no_ack=True)
        assert m.body in (b'{"a": 1}', '{"a": 1}')  # py-amqp decodes utf-8 bodies to str
        p = m.properties
        assert p["content_type"] == "application/json"
        assert p["content_encoding"] == "utf-8"
        assert p["delivery_mode"] == 2
        assert p["reply_to"] == "reply-here"
        assert p["application_headers"] == {"x-trace": "abc-123", "x-count": "7"}  # -H values are strings
        m2 = ch.basic_get(queue, no_ack=True)
        assert m2.body == b"plain"
        assert m2.properties.get("delivery_mode") in (None, 1)
    finally:
        c.close()


def test_server_named_and_durable_queues(broker, uid):
    name = run(broker, "amqp-declare-queue", "-q", "").stdout.decode().strip()
    assert name, "server must generate a queue name"
    run(broker, "amqp-publish", "-r", name, "-b", "to-generated")
    assert run(broker, "amqp-get", "-q", name).stdout == b"to-generated"
    assert run(broker, "amqp-delete-queue", "-q", name).stdout.decode().strip() == "0"

    durable = f"{uid}-durable"
    assert run(broker, "amqp-declare-queue", "-d", "-q", durable).stdout.decode().strip() == durable
    try:
        # redeclaring it with the default, non-durable, flags must fail: it really is durable
        p = run(broker, "amqp-declare-queue", "-q", durable, check=False)
        assert p.returncode != 0
        assert b"406" in p.stderr and b"PRECONDITION_FAILED" in p.stderr
        # the same flags are fine
        assert run(broker, "amqp-declare-queue", "-d", "-q", durable).stdout.decode().strip() == durable
    finally:
        run(broker, "amqp-delete-queue", "-q", durable)


def test_line_buffered_and_binary_stdin_publish(broker, queue):
    run(broker, "amqp-publish", "-r", queue, "-l", input=b"first line\nsecond line\nthird\n")
    # -l: one message per line, the newline kept in the body
    assert get_all(broker, queue) == [b"first line\n", b"second line\n", b"third\n"]
    blob = os.urandom(300_000)  # several frames at the default frame_max of 128 KiB
    run(broker, "amqp-publish", "-r", queue, input=blob)
    assert run(broker, "amqp-get", "-q", queue).stdout == blob


def test_consume_count_runs_command_per_message(broker, queue, tmp_path):
    for i in range(4):
        run(broker, "amqp-publish", "-r", queue, "-b", f"job-{i}")
    out = tmp_path / "out"
    # one process per message, body on stdin; -c 3 stops after three
    run(broker, "amqp-consume", "-q", queue, "-c", "3", "--", "sh", "-c", f'cat >> "{out}"; echo "|" >> "{out}"')
    assert out.read_text() == "job-0|\njob-1|\njob-2|\n"
    # the three were acked (the command exited 0); the fourth is still there
    assert get_all(broker, queue) == [b"job-3"]


def test_consume_with_prefetch(broker, queue, tmp_path):
    for i in range(5):
        run(broker, "amqp-publish", "-r", queue, "-b", f"p{i}")
    out = tmp_path / "out"
    run(broker, "amqp-consume", "-q", queue, "-c", "5", "-p", "1", "--", "sh", "-c", f'cat >> "{out}"; echo >> "{out}"')
    assert out.read_text().split() == [f"p{i}" for i in range(5)]
    assert get_all(broker, queue) == []


def test_failed_command_leaves_message_unacked(broker, queue):
    for i in range(3):
        run(broker, "amqp-publish", "-r", queue, "-b", f"m{i}")
    # a command that exits non-zero is not acked: the messages go back when the tool disconnects
    run(broker, "amqp-consume", "-q", queue, "-c", "2", "--", "sh", "-c", "cat >/dev/null; exit 1")
    assert get_all(broker, queue) == [b"m0", b"m1", b"m2"]
    # with --no-ack they are gone once delivered, whatever the command does
    for i in range(2):
        run(broker, "amqp-publish", "-r", queue, "-b", f"n{i}")
    run(broker, "amqp-consume", "-q", queue, "-c", "2", "-A", "--", "sh", "-c", "cat >/dev/null; exit 1")
    assert get_all(broker, queue) == []


def test_consume_from_exchange_with_temporary_queue(broker, uid, tmp_path):
    out = tmp_path / "out"
    key = f"{uid}.events"
    # no -q: amqp-consume declares a server-named queue and binds it to the exchange
    proc = subprocess.Popen(
        ["amqp-consume", f"--url={broker.url()}", "-e", "amq.topic", "-r", key, "-c", "3",
         "--", "sh", "-c", f'cat >> "{out}"; echo >> "{out}"'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        # wait for the binding: probe with mandatory publishes until one is not returned
        c = py_conn(broker)
        try:
            ch = c.channel()
            returned = []
            ch.events["basic_return"].add(lambda *a: returned.append(1))
            deadline = time.monotonic() + 10
            while True:
                returned.clear()
                ch.basic_publish_confirm(amqp.Message(b"probe"), exchange="amq.topic", routing_key=key, mandatory=True)
                if not returned:
                    break
                assert time.monotonic() < deadline, "amqp-consume never bound its queue"
                time.sleep(0.05)
        finally:
            c.close()
        run(broker, "amqp-publish", "-e", "amq.topic", "-r", key, "-b", "event-1")
        run(broker, "amqp-publish", "-e", "amq.topic", "-r", f"{uid}.other", "-b", "not-for-us")
        run(broker, "amqp-publish", "-e", "amq.topic", "-r", key, "-b", "event-2")
        proc.wait(timeout=TIMEOUT)
        assert proc.returncode == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out.read_text().split() == ["probe", "event-1", "event-2"]


def test_delete_if_empty_refuses_non_empty_queue(broker, queue):
    run(broker, "amqp-publish", "-r", queue, "-b", "keep me")
    p = run(broker, "amqp-delete-queue", "-q", queue, "--if-empty", check=False)
    assert p.returncode != 0
    assert b"406" in p.stderr and b"PRECONDITION_FAILED" in p.stderr
    assert get_all(broker, queue) == [b"keep me"]


def test_errors_reported_by_the_tools(broker, uid):
    p = run(broker, "amqp-get", "-q", f"{uid}-missing", check=False)
    assert p.returncode != 0
    assert b"404" in p.stderr and b"NOT_FOUND" in p.stderr
    bad = broker.url(password="wrong")
    p = subprocess.run(["amqp-get", f"--url={bad}", "-q", "x"], capture_output=True, timeout=TIMEOUT)
    assert p.returncode != 0 and p.stdout == b""
    # rabbitmq-c announces authentication_failure_close, so it is told why
    assert b"403" in p.stderr and b"ACCESS_REFUSED" in p.stderr
    # basic.publish to a missing exchange: the broker closes the channel with 404; the tool
    # learns of it when its own channel.close is answered by the broker's channel.close
    p = run(broker, "amqp-publish", "-e", f"{uid}-no-such-exchange", "-r", "k", "-b", "x", check=False)
    assert p.returncode != 0
    assert b"404" in p.stderr and b"NOT_FOUND" in p.stderr
