"""Interop: OpenStack oslo.messaging with its rabbit (kombu/py-amqp) driver.

RPC servers and clients (call, cast, fanout cast, timeouts, remote exceptions) and
notifications (Notifier with the 'messaging' driver, notification listeners). Each test gets
its own oslo.config ConfigOpts and its own control exchange, so nothing is shared with other
tests or with the global CONF.
"""

import threading
import time
import warnings

import amqp
import pytest

pytest.importorskip("oslo_messaging")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # oslo.service warns that eventlet is deprecated on import
    import oslo_messaging
    import oslo_messaging.opts
    from oslo_config import cfg

TIMEOUT = 5.0
PRIORITIES = ("audit", "debug", "info", "warn", "error", "critical", "sample")


class CustomFailure(Exception):
    """Not in allowed_remote_exmods: the client sees it as a RemoteError."""


def wait_for(predicate, timeout=TIMEOUT, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class OsloEnv:
    def __init__(self, broker, uid):
        self.broker = broker
        self.uid = uid
        self.url = f"rabbit://guest:guest@{broker.host}:{broker.port}/"
        self.conf = cfg.ConfigOpts()
        self.conf([], project="warren-interop", default_config_files=[], default_config_dirs=[])
        self._register_global_only_opts()
        # the drivers read control_exchange once, when the transport is made: register the
        # [DEFAULT] options ourselves so the override is in place before that
        for group, opts in oslo_messaging.opts.list_opts():
            if group is None:
                self.conf.register_opts(opts)
        self.exchange = f"{uid}-ctl"
        self.conf.set_override("control_exchange", self.exchange)
        self.servers = []
        self.transports = []
        self.queues = set()
        self.exchanges = {self.exchange}
        self._rpc_transport = None
        self._notify_transport = None

    def _register_global_only_opts(self):
        # oslo.messaging registers its tracing/metrics options on the global cfg.CONF only,
        # yet reads them from the ConfigOpts it is handed; give our private one the same opts.
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

    @property
    def rpc_transport(self):
        if self._rpc_transport is None:
            self._rpc_transport = oslo_messaging.get_rpc_transport(self.conf, url=self.url)
            self.transports.append(self._rpc_transport)
        return self._rpc_transport

    @property
    def notify_transport(self):
        if self._notify_transport is None:
            self._notify_transport = oslo_messaging.get_notification_transport(self.conf, url=self.url)
            self.transports.append(self._notify_transport)
        return self._notify_transport

    def rpc_server(self, topic, server, endpoints):
        target = oslo_messaging.Target(topic=topic, server=server)
        # no executor argument: 'threading' is the default (and passing it is deprecated)
        srv = oslo_messaging.get_rpc_server(self.rpc_transport, target, endpoints)
        self.servers.append(srv)
        self.queues.update({topic, f"{topic}.{server}"})
        self.exchanges.add(f"{topic}_fanout")
        srv.start()
        return srv

    def rpc_client(self, topic, timeout=TIMEOUT):
        return oslo_messaging.get_rpc_client(self.rpc_transport, oslo_messaging.Target(topic=topic), timeout=timeout)

    def listener(self, topic, endpoints, allow_requeue=False):
        lst = oslo_messaging.get_notification_listener(
            self.notify_transport, [oslo_messaging.Target(topic=topic)], endpoints, allow_requeue=allow_requeue)
        self.servers.append(lst)
        self.queues.update(f"{topic}.{p}" for p in PRIORITIES)
        lst.start()
        return lst

    def notifier(self, topic, publisher_id="compute.host1"):
        self.queues.update(f"{topic}.{p}" for p in PRIORITIES)
        return oslo_messaging.Notifier(self.notify_transport, publisher_id=publisher_id,
                                       driver="messaging", topics=[topic])

    def exchange_exists(self, name):
        c = amqp.Connection(f"{self.broker.host}:{self.broker.port}", userid="guest", password="guest")
        c.connect()
        try:
            c.channel().exchange_declare(name, "topic", passive=True)
            return True
        except amqp.exceptions.NotFound:
            return False
        finally:
            c.close()

    def close(self):
        for srv in self.servers:
            try:
                srv.stop()
                srv.wait()
            except Exception:
                pass
        for t in self.transports:
            reply_q = getattr(t._driver, "_reply_q", None)  # the reply queue (older releases also declared a reply_ exchange)
            if reply_q:
                self.queues.add(reply_q)
                self.exchanges.add(reply_q)
            t.cleanup()
        c = amqp.Connection(f"{self.broker.host}:{self.broker.port}", userid="guest", password="guest")
        c.connect()
        try:
            for q in sorted(self.queues):
                try:
                    c.channel().queue_delete(q)
                except amqp.exceptions.ChannelError:
                    pass
            for x in sorted(self.exchanges):
                try:
                    c.channel().exchange_delete(x)
                except amqp.exceptions.ChannelError:
                    pass
        finally:
            c.close()


@pytest.fixture
def env(broker, uid):
    e = OsloEnv(broker, uid)
    yield e
    e.close()


class CalcEndpoint:
    def __init__(self, name):
        self.name = name
        self.casts = []
        self.lock = threading.Lock()

    def add(self, ctxt, a, b):
        return a + b

    def describe(self, ctxt, items):
        return {"server": self.name, "count": len(items), "items": items, "user": ctxt.get("user"),
                "nested": {"ok": True, "none": None, "floats": [0.5, 1.5]}}

    def whoami(self, ctxt):
        return self.name

    def fail_builtin(self, ctxt, why):
        raise ValueError(why)

    def fail_custom(self, ctxt, why):
        raise CustomFailure(why)

    def record(self, ctxt, value):
        with self.lock:
            self.casts.append(value)


def test_rpc_call_returns_results(env, uid):
    topic = f"{uid}-rpc"
    ep = CalcEndpoint("s1")
    srv = env.rpc_server(topic, "s1", [ep])
    assert srv.executor_type == "threading"
    assert env.exchange_exists(env.exchange)  # our own control exchange, not "openstack"
    client = env.rpc_client(topic)
    assert client.call({}, "add", a=2, b=40) == 42
    result = client.call({"user": "alice"}, "describe", items=["a", 1, None, {"k": [1, 2]}])
    assert result == {"server": "s1", "count": 4, "items": ["a", 1, None, {"k": [1, 2]}], "user": "alice",
                      "nested": {"ok": True, "none": None, "floats": [0.5, 1.5]}}
    # many calls in a row reuse the same reply queue
    assert [client.call({}, "add", a=i, b=i) for i in range(10)] == [2 * i for i in range(10)]
    # a call addressed to one server
    assert client.prepare(server="s1").call({}, "whoami") == "s1"


def test_rpc_call_remote_exceptions(env, uid):
    topic = f"{uid}-rpc"
    env.rpc_server(topic, "s1", [CalcEndpoint("s1")])
    client = env.rpc_client(topic)
    # a builtin exception type is rebuilt on the client side
    with pytest.raises(ValueError, match="bad value"):
        client.call({}, "fail_builtin", why="bad value")
    # any other exception arrives as RemoteError carrying the remote type and message
    with pytest.raises(oslo_messaging.RemoteError) as ei:
        client.call({}, "fail_custom", why="custom trouble")
    assert ei.value.exc_type == "CustomFailure"
    assert "custom trouble" in ei.value.value
    # an unknown method is reported back by the server's dispatcher
    with pytest.raises(oslo_messaging.RemoteError) as ei:
        client.call({}, "no_such_method")
    assert ei.value.exc_type == "NoSuchMethod"
    assert "no_such_method" in ei.value.value
    # the server is still serving after all that
    assert client.call({}, "add", a=1, b=1) == 2


def test_rpc_cast_is_recorded_by_server(env, uid):
    topic = f"{uid}-rpc"
    ep = CalcEndpoint("s1")
    env.rpc_server(topic, "s1", [ep])
    client = env.rpc_client(topic)
    for i in range(5):
        assert client.cast({}, "record", value=f"cast-{i}") is None  # cast returns at once
    wait_for(lambda: len(ep.casts) == 5, what="5 casts")
    assert sorted(ep.casts) == [f"cast-{i}" for i in range(5)]


def test_topic_calls_are_shared_and_fanout_cast_reaches_every_server(env, uid):
    topic = f"{uid}-rpc"
    ep1, ep2 = CalcEndpoint("s1"), CalcEndpoint("s2")
    env.rpc_server(topic, "s1", [ep1])
    env.rpc_server(topic, "s2", [ep2])
    client = env.rpc_client(topic)

    # the topic queue is shared: calls are spread over both servers
    answers = [client.call({}, "whoami") for _ in range(10)]
    assert len(answers) == 10 and set(answers) == {"s1", "s2"}
    # server-addressed casts go to that server only
    client.prepare(server="s2").cast({}, "record", value="only-s2")
    wait_for(lambda: ep2.casts == ["only-s2"], what="directed cast")
    # a fanout cast reaches both
    client.prepare(fanout=True).cast({}, "record", value="everyone")
    wait_for(lambda: "everyone" in ep1.casts and "everyone" in ep2.casts, what="fanout cast on both servers")
    time.sleep(0.2)
    assert ep1.casts == ["everyone"]
    assert ep2.casts == ["only-s2", "everyone"]


def test_call_without_server_times_out_quickly(env, uid):
    env.rpc_server(f"{uid}-rpc", "s1", [CalcEndpoint("s1")])  # something is listening, just not there
    client = env.rpc_client(f"{uid}-nobody", timeout=1)
    start = time.monotonic()
    with pytest.raises(oslo_messaging.MessagingTimeout):
        client.call({}, "add", a=1, b=2)
    elapsed = time.monotonic() - start
    assert 0.9 <= elapsed < 4, elapsed
    # the transport is fine afterwards
    assert env.rpc_client(f"{uid}-rpc").call({}, "add", a=1, b=2) == 3


class NotificationEndpoint:
    def __init__(self, requeue_first=False):
        self.events = []
        self.requeue_first = requeue_first
        self.lock = threading.Lock()

    def _record(self, priority, ctxt, publisher_id, event_type, payload, metadata):
        with self.lock:
            if self.requeue_first and not any(e[2] == event_type for e in self.events if e[0] == "requeued"):
                self.events.append(("requeued", publisher_id, event_type, payload))
                return oslo_messaging.NotificationResult.REQUEUE
            self.events.append((priority, publisher_id, event_type, payload, metadata))
        return oslo_messaging.NotificationResult.HANDLED

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        return self._record("info", ctxt, publisher_id, event_type, payload, metadata)

    def error(self, ctxt, publisher_id, event_type, payload, metadata):
        return self._record("error", ctxt, publisher_id, event_type, payload, metadata)

    def handled(self):
        with self.lock:
            return [e for e in self.events if e[0] != "requeued"]


def test_notifications_info_and_error(env, uid):
    topic = f"{uid}-notif"
    ep = NotificationEndpoint()
    notifier = env.notifier(topic)
    # sent before any listener exists: the notifier declares the topic.priority queue itself
    notifier.info({}, "compute.instance.early", {"early": True})
    env.listener(topic, [ep])
    notifier.info({"user": "bob"}, "compute.instance.create.end", {"id": "vm-1", "flavor": {"ram": 512}})
    notifier.error({}, "compute.instance.create.error", {"id": "vm-2", "reason": "no host"})
    notifier.warn({}, "compute.instance.ignored", {"id": "vm-3"})  # endpoint has no warn()
    wait_for(lambda: len(ep.handled()) == 3, what="3 notifications")
    time.sleep(0.2)
    events = ep.handled()
    assert len(events) == 3
    by_type = {e[2]: e for e in events}
    assert set(by_type) == {"compute.instance.early", "compute.instance.create.end", "compute.instance.create.error"}
    early = by_type["compute.instance.early"]
    assert early[0] == "info" and early[1] == "compute.host1" and early[3] == {"early": True}
    create = by_type["compute.instance.create.end"]
    assert create[0] == "info"
    assert create[3] == {"id": "vm-1", "flavor": {"ram": 512}}
    assert set(create[4]) >= {"message_id", "timestamp"}
    err = by_type["compute.instance.create.error"]
    assert err[0] == "error" and err[3] == {"id": "vm-2", "reason": "no host"}


def test_notification_requeue(env, uid):
    topic = f"{uid}-notif"
    ep = NotificationEndpoint(requeue_first=True)
    env.listener(topic, [ep], allow_requeue=True)
    env.notifier(topic, publisher_id="net.agent").info({}, "port.update", {"port": 7})
    # first delivery is requeued (basic.reject requeue=true), the redelivery is handled
    wait_for(lambda: len(ep.handled()) == 1, what="redelivered notification")
    assert ep.events[0][:3] == ("requeued", "net.agent", "port.update")
    assert ep.handled()[0][:4] == ("info", "net.agent", "port.update", {"port": 7})
