"""Shared by the fixture generators: makes sure the reference clients (pika, py-amqp) can be
imported, creating a virtual environment at /tmp/proto-venv and re-running the calling script
in it when they cannot."""

import os
import subprocess
import sys

VENV = os.environ.get("PROTO_VENV", "/tmp/proto-venv")


def ensure_reference_clients():
    try:
        import amqp  # noqa: F401
        import pika  # noqa: F401
        return
    except ImportError:
        pass
    python = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        sys.exit("pika and amqp are not importable even inside " + VENV)
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "pika", "amqp"], check=True)
    os.execv(python, [python] + sys.argv)
