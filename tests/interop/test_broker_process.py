"""The broker as a process: listening, signals, refusing a second instance, its command line.

These need a broker started by the suite (WARREN_BIN), so they are skipped when the suite runs
against an external broker (AMQP_EXTERNAL_PORT). Command line: warren --port N --data-dir DIR
--bind ADDR --log-level LEVEL.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pika
import pika.exceptions as pex
import pytest

import amqp_raw
from conftest import free_port, start_warren, stop_warren, warren_binary

pytestmark = pytest.mark.warren_only

EXIT_TIMEOUT = 5.0  # "within a few seconds"


def binary():
    return warren_binary()


def run_second(args, timeout=10.0):
    """Starts another broker process that is expected to fail; returns (exit code, output, seconds)."""
    t0 = time.monotonic()
    p = subprocess.run([binary(), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), time.monotonic() - t0


def handshake_works(host, port):
    with amqp_raw.connect(host, port) as c:
        c.open_channel(1)
        return c.rpc(1, "queue.declare", "queue.declare-ok", exclusive=True).args["queue"].startswith("amq.gen-")


def wait_exit(proc, timeout=EXIT_TIMEOUT):
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"broker did not exit within {timeout}s")


def test_broker_listens_on_given_port(fresh_broker):
    with amqp_raw.connect(fresh_broker.host, fresh_broker.port) as c:
        props = c.start["server_properties"]
        assert props["product"] and props["version"]
        c.open_channel(1)
        ok = c.rpc(1, "queue.declare", "queue.declare-ok", exclusive=True)
        assert ok.args["queue"].startswith("amq.gen-")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_closes_every_connection_with_320_and_exits_0(fresh_broker, sig):
    b = fresh_broker
    raws = []
    for i in range(3):
        c = amqp_raw.connect(b.host, b.port)
        c.open_channel(1)
        if i == 0:  # one with a consumer, one idle, one mid-way with an open channel only
            c.rpc(1, "queue.declare", "queue.declare-ok", queue="sigq", auto_delete=True)
            c.rpc(1, "basic.consume", "basic.consume-ok", queue="sigq", no_ack=True)
        raws.append(c)
    pc = pika.BlockingConnection(pika.ConnectionParameters(host=b.host, port=b.port, connection_attempts=1))
    pch = pc.channel()

    t0 = time.monotonic()
    b.proc.send_signal(sig)
    for c in raws:
        close = c.wait_close(timeout=EXIT_TIMEOUT)
        assert close is not None, "no connection.close before the socket closed"
        assert (close.scope, close.channel, close.reply_code) == ("connection", 0, 320), close
        assert close.reply_text.startswith("CONNECTION_FORCED"), close.reply_text
        assert c.wait_eof(EXIT_TIMEOUT), "socket not closed after close-ok"
    with pytest.raises(pex.ConnectionClosedByBroker) as ei:
        deadline = time.monotonic() + EXIT_TIMEOUT
        while time.monotonic() < deadline:
            pc.process_data_events(time_limit=0.1)
        pch.queue_declare("", exclusive=True)
    assert ei.value.reply_code == 320
    assert ei.value.reply_text.startswith("CONNECTION_FORCED")
    assert wait_exit(b.proc) == 0
    assert time.monotonic() - t0 < EXIT_TIMEOUT + 1
    for c in raws:
        c.sock.close()


def test_sigterm_on_idle_broker_exits_0_and_frees_port(fresh_broker):
    b = fresh_broker
    b.proc.send_signal(signal.SIGTERM)
    assert wait_exit(b.proc) == 0
    with pytest.raises(OSError):
        socket.create_connection((b.host, b.port), timeout=1).close()


def test_sigterm_exits_even_if_client_never_answers_close(fresh_broker):
    b = fresh_broker
    c = amqp_raw.connect(b.host, b.port)  # reads nothing, never sends close-ok
    try:
        b.proc.send_signal(signal.SIGTERM)
        assert wait_exit(b.proc, EXIT_TIMEOUT + 5) == 0
    finally:
        c.sock.close()


def test_second_broker_on_same_port_exits_nonzero_naming_the_address(fresh_broker):
    b = fresh_broker
    other_dir = tempfile.mkdtemp(prefix="warren-test-")
    try:
        code, out, secs = run_second(["--port", str(b.port), "--data-dir", other_dir, "--log-level", "info"])
    finally:
        shutil.rmtree(other_dir, ignore_errors=True)
    assert code != 0
    assert secs < EXIT_TIMEOUT
    # The address it tried: without --bind or --config, the loopback address.
    assert f"cannot listen on 127.0.0.1:{b.port}" in out, out
    assert handshake_works(b.host, b.port)  # the first one is unharmed


@pytest.mark.parametrize("value", ["-1", "soon"])
def test_bad_idle_poll_is_refused_naming_the_flag(value):
    data_dir = tempfile.mkdtemp(prefix="warren-test-")
    try:
        code, out, secs = run_second([f"--idle-poll={value}", "--port", str(free_port()), "--data-dir", data_dir])
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    assert code != 0
    assert "--idle-poll" in out, out


def test_second_broker_on_same_data_dir_exits_nonzero_naming_the_directory(fresh_broker):
    b = fresh_broker
    port = free_port()
    code, out, secs = run_second(["--port", str(port), "--data-dir", b.data_dir, "--log-level", "info"])
    assert code != 0
    assert secs < EXIT_TIMEOUT
    assert b.data_dir in out or os.path.realpath(b.data_dir) in out, out
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert handshake_works(b.host, b.port)


def test_data_dir_is_free_again_after_sigterm(fresh_broker):
    b = fresh_broker
    b.proc.send_signal(signal.SIGTERM)
    assert wait_exit(b.proc) == 0
    again = start_warren(data_dir=b.data_dir)
    try:
        assert handshake_works(again.host, again.port)
    finally:
        stop_warren(again, remove_data=False)


def test_missing_data_dir_is_created():
    parent = tempfile.mkdtemp(prefix="warren-test-")
    data_dir = os.path.join(parent, "does", "not", "exist")
    b = start_warren(data_dir=data_dir)
    try:
        assert os.path.isdir(data_dir)
        assert handshake_works(b.host, b.port)
    finally:
        stop_warren(b)
        shutil.rmtree(parent, ignore_errors=True)


def test_bind_address_is_used():
    b = start_warren(extra_args=["--bind", "127.0.0.2"])
    try:
        assert b.host == "127.0.0.2"
        assert handshake_works("127.0.0.2", b.port)
        with pytest.raises(OSError):  # not listening on the other loopback address
            socket.create_connection(("127.0.0.1", b.port), timeout=1).close()
    finally:
        stop_warren(b)


def test_bind_127_0_0_1_works():
    b = start_warren(extra_args=["--bind", "127.0.0.1"])
    try:
        assert handshake_works("127.0.0.1", b.port)
    finally:
        stop_warren(b)
