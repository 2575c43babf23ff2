"""Interop suite fixtures: start the built broker on a free port with its own data directory.

Set WARREN_BIN to the broker binary (scripts/test does; without it .build/release/warren or
.build/debug/warren is used). Set AMQP_EXTERNAL_PORT to run the suite against an already running
broker instead (e.g. RabbitMQ on 5673 to check what the reference broker does); tests marked
`warren_only` are skipped then.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Optional

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(host: str, port: int, proc: Optional[subprocess.Popen], timeout: float = 20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"broker exited early with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"broker did not listen on {host}:{port} within {timeout}s")


@dataclass
class Broker:
    host: str
    port: int
    data_dir: Optional[str]
    proc: Optional[subprocess.Popen]
    log_path: Optional[str]

    @property
    def is_warren(self) -> bool:
        return self.proc is not None

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc else None

    def url(self, user: str = "guest", password: str = "guest", vhost: str = "%2F") -> str:
        return f"amqp://{user}:{password}@{self.host}:{self.port}/{vhost}"

    def log(self) -> str:
        if not self.log_path:
            return ""
        with open(self.log_path, errors="replace") as f:
            return f.read()


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def warren_binary() -> str:
    """WARREN_BIN, else the binary `swift build` left in .build (release first)."""
    binary = os.environ.get("WARREN_BIN")
    if binary:
        return binary
    for config in ("release", "debug"):
        candidate = os.path.join(REPO, ".build", config, "warren")
        if os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("WARREN_BIN is not set (scripts/test sets it) and no .build/*/warren exists")


def start_warren(extra_args=(), data_dir: Optional[str] = None, port: Optional[int] = None) -> Broker:
    binary = warren_binary()
    port = port or free_port()
    data_dir = data_dir or tempfile.mkdtemp(prefix="warren-test-")
    args = list(extra_args)
    host = "127.0.0.1"
    if "--bind" in args and args.index("--bind") + 1 < len(args):
        bind = args[args.index("--bind") + 1]
        host = "127.0.0.1" if bind in ("0.0.0.0", "::", "") else bind
    log_path = os.path.join(tempfile.mkdtemp(prefix="warren-log-"), "broker.log")
    with open(log_path, "w") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--data-dir", data_dir, "--log-level", "info", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(host, port, proc)
    except Exception:
        stop_process(proc)
        raise
    return Broker(host, port, data_dir, proc, log_path)


def stop_process(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 10.0) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def stop_warren(broker: Broker, remove_data: bool = True):
    if broker.proc is not None:
        stop_process(broker.proc)
    if remove_data and broker.data_dir:
        shutil.rmtree(broker.data_dir, ignore_errors=True)


def pytest_configure(config):
    config.addinivalue_line("markers", "warren_only: needs a broker started by the suite (not an external one)")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("AMQP_EXTERNAL_PORT"):
        skip = pytest.mark.skip(reason="needs a broker started by the suite")
        for item in items:
            if "warren_only" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def broker():
    """One broker for the whole session; tests use unique names so they do not interfere."""
    external = os.environ.get("AMQP_EXTERNAL_PORT")
    if external:
        yield Broker("127.0.0.1", int(external), None, None, None)
        return
    b = start_warren()
    yield b
    stop_warren(b)


@pytest.fixture
def fresh_broker():
    """A broker of the test's own, for tests that stop, kill or reconfigure it."""
    if os.environ.get("AMQP_EXTERNAL_PORT"):
        pytest.skip("needs a broker started by the suite")
    b = start_warren()
    yield b
    stop_warren(b)


@pytest.fixture
def uid(request) -> str:
    """A name prefix unique to this test, for queues and exchanges."""
    return f"t-{request.node.name[:40]}-{os.getpid()}-{time.monotonic_ns() % 10**9}"


@pytest.fixture
def conn(broker):
    """A pika BlockingConnection to the session's broker, closed at the end of the test."""
    import pika
    from pika_helpers import params
    c = pika.BlockingConnection(params(broker))
    yield c
    if c.is_open:
        c.close()
