"""Helpers for test_admin.py: the `Ctl` abstraction over warrenctl / rabbitmqctl, raw AMQP logins
and per-channel permission probes, and a small oslo.messaging setup with its own credentials.

`Ctl(broker)` runs warrenctl (WARRENCTL_BIN, else the warrenctl built beside the broker binary,
else .build/{debug,release}/warrenctl) with `--data-dir <broker.data_dir>` for a Warren started by
the suite, and `/work/shared/bench/rabbitmq.sh ctl` for an external broker (AMQP_EXTERNAL_PORT),
so that every test can be checked against RabbitMQ's own rabbitmqctl.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import amqp_raw

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RABBITMQ_SH = os.environ.get("RABBITMQ_SH", "/work/shared/bench/rabbitmq.sh")

# amqp_raw leaves out the bind/unbind methods the permission table needs.
amqp_raw.SPEC.setdefault((40, 30), ("exchange.bind", [
    ("ticket", "short"), ("destination", "shortstr"), ("source", "shortstr"), ("routing_key", "shortstr"),
    ("nowait", "bit"), ("arguments", "table")]))
amqp_raw.SPEC.setdefault((40, 31), ("exchange.bind-ok", []))
amqp_raw.SPEC.setdefault((40, 40), ("exchange.unbind", [
    ("ticket", "short"), ("destination", "shortstr"), ("source", "shortstr"), ("routing_key", "shortstr"),
    ("nowait", "bit"), ("arguments", "table")]))
amqp_raw.SPEC.setdefault((40, 51), ("exchange.unbind-ok", []))
amqp_raw.SPEC.setdefault((50, 50), ("queue.unbind", [
    ("ticket", "short"), ("queue", "shortstr"), ("exchange", "shortstr"), ("routing_key", "shortstr"),
    ("arguments", "table")]))
amqp_raw.SPEC.setdefault((50, 51), ("queue.unbind-ok", []))
amqp_raw.NAMES.update({v[0]: k for k, v in amqp_raw.SPEC.items()})

LOGIN_REFUSED = ("ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
                 "For details see the broker logfile.")


# ---------------------------------------------------------------------------
# warrenctl / rabbitmqctl


def warrenctl_binary() -> str:
    """WARRENCTL_BIN; else the warrenctl next to the broker binary in use; else one in .build."""
    explicit = os.environ.get("WARRENCTL_BIN")
    if explicit:
        return explicit
    candidates = []
    warren = os.environ.get("WARREN_BIN")
    if warren:
        candidates.append(os.path.join(os.path.dirname(warren), "warrenctl"))
    candidates += [os.path.join(REPO, ".build", config, "warrenctl") for config in ("debug", "release")]
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("WARRENCTL_BIN is not set and no warrenctl was found beside WARREN_BIN or in .build")


@dataclass
class CtlResult:
    args: Tuple[str, ...]
    rc: int
    stdout: str
    stderr: str

    def __str__(self):
        return f"ctl {' '.join(self.args)} -> exit {self.rc}\nstdout: {self.stdout!r}\nstderr: {self.stderr!r}"

    @property
    def lines(self) -> List[str]:
        return self.stdout.splitlines()

    def json(self):
        return json.loads(self.stdout)


class Ctl:
    """warrenctl for a Warren started by the suite, rabbitmqctl for an external broker."""

    def __init__(self, broker):
        self.broker = broker
        self.is_warren = broker.is_warren
        if self.is_warren:
            self.tool = "warrenctl"
            self._prefix = [warrenctl_binary()]
            self._suffix = ["--data-dir", broker.data_dir]
        else:
            self.tool = "rabbitmqctl"
            self._prefix = [RABBITMQ_SH, "ctl"]
            self._suffix = []

    def run(self, *args: str, stdin: Optional[str] = None, timeout: float = 30.0,
            broker_needed: bool = True) -> CtlResult:
        """broker_needed=False leaves out --data-dir (for `help`, as a user would type it)."""
        proc = subprocess.run(
            [*self._prefix, *args, *(self._suffix if broker_needed else [])],
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return CtlResult(tuple(args), proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, stdin: Optional[str] = None) -> CtlResult:
        result = self.run(*args, stdin=stdin)
        assert result.rc == 0, str(result)
        return result

    def many(self, *calls: Sequence[str], broker_needed: bool = True) -> List[CtlResult]:
        """Runs independent commands side by side (rabbitmqctl takes half a second each)."""
        with ThreadPoolExecutor(max_workers=max(1, len(calls))) as pool:
            return list(pool.map(lambda call: self.run(*call, broker_needed=broker_needed), calls))

    def rows(self, *args: str) -> List[List[str]]:
        """The rows of a quiet tab-separated listing, header row left out."""
        result = self.ok("-q", *args)
        lines = [line for line in result.lines if line != ""]
        return [line.split("\t") for line in lines[1:]]

    def table(self, *args: str) -> List[Dict]:
        """A listing through --formatter json."""
        return self.ok("-q", *args, "--formatter", "json").json()

    def quietly(self, *args: str) -> CtlResult:
        """Cleanup: runs a command and ignores how it went."""
        try:
            return self.run("-q", *args)
        except Exception as e:  # noqa: BLE001 - cleanup must not mask the test's own failure
            return CtlResult(tuple(args), -1, "", str(e))


# ---------------------------------------------------------------------------
# AMQP


def raw_open(broker, user="guest", password="guest", vhost="/", timeout=5.0):
    """Handshake as `user`; returns (connection, None) on open-ok, or (None, Close) when the broker
    refuses the login or the vhost. (None, None) if the socket closed without a close method."""
    c = amqp_raw.RawConnection(broker.host, broker.port, timeout=timeout)
    try:
        c.send(amqp_raw.PROTOCOL_HEADER)
        start = c.expect("connection.start")
        c.start = start.args
        response = b"\x00" + user.encode() + b"\x00" + password.encode()
        c.send_method(0, "connection.start-ok",
                      client_properties={"product": "warren-admin-test",
                                         "capabilities": {"authentication_failure_close": True}},
                      mechanism="PLAIN", response=response, locale="en_US")
        f = _next_method(c)
        if f is None or f.is_method("connection.close"):
            return None, _closed(c, f)
        assert f.is_method("connection.tune"), f
        c.tune = f.args
        c.channel_max, c.frame_max, c.heartbeat = f.args["channel_max"], f.args["frame_max"], 0
        c.send_method(0, "connection.tune-ok", channel_max=c.channel_max, frame_max=c.frame_max, heartbeat=0)
        c.send_method(0, "connection.open", virtual_host=vhost)
        f = _next_method(c)
        if f is None or f.is_method("connection.close"):
            return None, _closed(c, f)
        assert f.is_method("connection.open-ok"), f
        return c, None
    except BaseException:
        c.sock.close()
        raise


def _next_method(c):
    while True:
        f = c.read_frame()
        if f is None or f.type != amqp_raw.FRAME_HEARTBEAT:
            return f


def _closed(c, f):
    close = None
    if f is not None:
        a = f.args
        close = amqp_raw.Close("connection", 0, a["reply_code"], a["reply_text"], a["class_id"], a["method_id"])
        try:
            c.send_method(0, "connection.close-ok")
        except OSError:
            pass
    c.sock.close()
    return close


def login_refusal(broker, user, password, vhost="/"):
    """None when the login and connection.open succeed, else (reply_code, reply_text)."""
    c, close = raw_open(broker, user, password, vhost)
    if c is not None:
        c.close()
        return None
    return (close.reply_code, close.reply_text) if close else ("socket closed", "")


class ChannelProbe:
    """One raw connection; each `try_` opens a fresh channel, sends one method and reports
    "ok" (the expected reply came) or the (code, text, class_id, method_id) of the channel.close."""

    def __init__(self, broker, user, password, vhost):
        conn, close = raw_open(broker, user, password, vhost)
        assert conn is not None, f"login as {user} to {vhost} refused: {close}"
        self.conn = conn
        self.channel = 0

    def try_(self, method: str, reply: Optional[str], **args):
        self.channel += 1
        ch = self.channel
        c = self.conn
        c.open_channel(ch)
        if method == "basic.publish":
            c.publish(ch, args["exchange"], args.get("routing_key", ""), b"probe")
        else:
            c.send_method(ch, method, **args)
        if reply is None:  # publish has no reply: a qos round trip shows whether the channel survived
            c.send_method(ch, "basic.qos", prefetch_size=0, prefetch_count=0)
            reply = "basic.qos-ok"
        while True:
            f = c.read_frame()
            assert f is not None, f"no answer to {method} {args} ({'EOF' if c.eof else 'timeout'})"
            if f.type == amqp_raw.FRAME_METHOD and f.channel == ch:
                break
        if f.is_method("channel.close"):
            c.send_method(ch, "channel.close-ok")
            a = f.args
            return a["reply_code"], a["reply_text"], a["class_id"], a["method_id"]
        if f.is_method("basic.get-ok"):
            c.read_content()
        replies = {"basic.get-ok", "basic.get-empty"} if method == "basic.get" else {reply}
        assert f.name in replies, f
        c.send_method(ch, "channel.close", reply_code=200, reply_text="", class_id=0, method_id=0)
        c.expect("channel.close-ok", ch)
        return "ok"

    def close(self):
        self.conn.close()


def wait_for(predicate, timeout=10.0, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------
# oslo.messaging with a private ConfigOpts and the given credentials


class OsloRpc:
    """An RPC server and client on their own control exchange, as `user`:`password`."""

    def __init__(self, broker, uid, user, password):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import oslo_messaging
            import oslo_messaging.opts
            from oslo_config import cfg
        self.om = oslo_messaging
        self.broker = broker
        self.user, self.password = user, password
        self.url = f"rabbit://{user}:{password}@{broker.host}:{broker.port}/"
        self.conf = cfg.ConfigOpts()
        self.conf([], project="warren-admin", default_config_files=[], default_config_dirs=[])
        for modname, attr, group in (
            ("oslo_messaging._tracing.client", "oslo_messaging_tracing", "oslo_messaging_tracing"),
            ("oslo_messaging._metrics.client", "oslo_messaging_metrics", "oslo_messaging_metrics"),
        ):
            try:
                mod = __import__(modname, fromlist=[attr])
            except ImportError:
                continue
            opts = getattr(mod, attr, None)
            if opts:
                self.conf.register_opts(opts, group=group)
        for group, opts in oslo_messaging.opts.list_opts():
            if group is None:
                self.conf.register_opts(opts)
        self.exchange = f"{uid}-ctl"
        self.conf.set_override("control_exchange", self.exchange)
        self.topic = f"{uid}-rpc"
        self.transport = oslo_messaging.get_rpc_transport(self.conf, url=self.url)
        self.servers = []
        self.queues = {self.topic}
        self.exchanges = {self.exchange}

    def serve(self, server, endpoints):
        target = self.om.Target(topic=self.topic, server=server)
        srv = self.om.get_rpc_server(self.transport, target, endpoints)
        self.servers.append(srv)
        self.queues.add(f"{self.topic}.{server}")
        self.exchanges.add(f"{self.topic}_fanout")
        srv.start()
        return srv

    def client(self, timeout=5):
        return self.om.get_rpc_client(self.transport, self.om.Target(topic=self.topic), timeout=timeout)

    def close(self):
        for srv in self.servers:
            try:
                srv.stop()
                srv.wait()
            except Exception:  # noqa: BLE001
                pass
        reply_q = getattr(self.transport._driver, "_reply_q", None)
        if reply_q:
            self.queues.add(reply_q)
        self.transport.cleanup()
        c, _ = raw_open(self.broker, self.user, self.password)
        if c is None:
            return
        try:
            n = 0
            for name, method in [(q, "queue.delete") for q in sorted(self.queues)] + \
                                [(x, "exchange.delete") for x in sorted(self.exchanges)]:
                n += 1
                c.open_channel(n)
                key = "queue" if method == "queue.delete" else "exchange"
                c.send_method(n, method, **{key: name})
                f = c.read_frame()
                if f is not None and f.is_method("channel.close"):
                    c.send_method(n, "channel.close-ok")
        finally:
            c.close()
