"""Interop: oslo.messaging's rabbit driver with the options OpenStack deployments turn on.

amqp_durable_queues, rabbit_transient_queues_ttl, rabbit_quorum_queue,
rabbit_transient_quorum_queue, rabbit_stream_fanout (which oslo.messaging only allows together
with rabbit_transient_quorum_queue and a prefetch count) and use_queue_manager: all off, each on,
and all on. Under each, RPC call, cast and fanout cast and notifications work, and the queues the
driver declared have the types and arguments the options ask for. Also: the transient queues of a
stopped RPC server disappear after rabbit_transient_queues_ttl.

Runs against RabbitMQ 3.10 too (AMQP_EXTERNAL_PORT=5673)."""

import time

import pytest

pytest.importorskip("oslo_messaging")

from admin_helpers import Ctl  # noqa: E402
from test_oslo_messaging import CalcEndpoint, NotificationEndpoint, OsloEnv, wait_for  # noqa: E402

ALL_ON = {
    "amqp_durable_queues": True, "rabbit_transient_queues_ttl": 60, "rabbit_quorum_queue": True,
    "rabbit_transient_quorum_queue": True, "rabbit_stream_fanout": True, "use_queue_manager": True,
}
CONFIGURATIONS = {
    "all-off": {},
    "durable": {"amqp_durable_queues": True},
    "transient-ttl": {"rabbit_transient_queues_ttl": 60},
    "quorum": {"rabbit_quorum_queue": True},
    "transient-quorum": {"rabbit_transient_quorum_queue": True},
    "stream-fanout": {"rabbit_transient_quorum_queue": True, "rabbit_stream_fanout": True},
    "queue-manager": {"use_queue_manager": True},
    "all-on": ALL_ON,
}


class OptionsEnv(OsloEnv):
    def __init__(self, broker, uid, options):
        super().__init__(broker, uid)
        import oslo_messaging.opts
        for group, opts in oslo_messaging.opts.list_opts():
            if group == "oslo_messaging_rabbit":
                self.conf.register_opts(opts, group=group)
        # queue-manager names are hostname:processname:N: the uid makes them ours
        self.conf.set_override("processname", uid, group="oslo_messaging_rabbit")
        if options.get("rabbit_stream_fanout"):
            self.conf.set_override("rabbit_qos_prefetch_count", 10, group="oslo_messaging_rabbit")
        if options.get("use_queue_manager"):
            # the queue manager keeps its counter in shared memory under an oslo.concurrency lock
            import tempfile
            from oslo_concurrency import lockutils
            lockutils.set_defaults(lock_path=tempfile.gettempdir())
        for name, value in options.items():
            self.conf.set_override(name, value, group="oslo_messaging_rabbit")

    def our_queues(self):
        """name -> (type, arguments) of every queue whose name carries this test's uid."""
        rows = Ctl(self.broker).rows("list_queues", "name", "type", "arguments", "durable")
        return {r[0]: (r[1], r[2], r[3]) for r in rows if self.uid in r[0]}

    def close(self):
        super().close()
        # queues named by the queue manager or kept by design (streams, quorum): delete ours
        leftovers = [name for name in self.our_queues()]
        if leftovers:
            import amqp
            c = amqp.Connection(f"{self.broker.host}:{self.broker.port}", userid="guest", password="guest")
            c.connect()
            try:
                for q in leftovers:
                    try:
                        c.channel().queue_delete(q)
                    except amqp.exceptions.ChannelError:
                        pass
            finally:
                c.close()


@pytest.fixture
def queue_manager_identity(monkeypatch):
    """oslo.messaging's queue manager names the process by its process group's /proc entry; when
    the suite runs in a group whose leader has exited (started in the background), that entry is
    gone, so the process's own pid stands in, as oslo.messaging itself does when it has no group."""
    import os
    if not os.path.exists(f"/proc/{os.getpgrp()}/stat"):
        monkeypatch.setattr(os, "getpgrp", os.getpid)


@pytest.mark.parametrize("configuration", list(CONFIGURATIONS))
def test_rpc_and_notifications_under_driver_options(broker, uid, configuration, queue_manager_identity):
    options = CONFIGURATIONS[configuration]
    env = OptionsEnv(broker, uid, options)
    try:
        topic = f"{uid}-rpc"
        ep1, ep2 = CalcEndpoint("s1"), CalcEndpoint("s2")
        env.rpc_server(topic, "s1", [ep1])
        env.rpc_server(topic, "s2", [ep2])
        client = env.rpc_client(topic, timeout=10)
        assert client.call({}, "add", a=2, b=40) == 42
        assert {client.call({}, "whoami") for _ in range(8)} == {"s1", "s2"}
        assert client.prepare(server="s2").call({}, "whoami") == "s2"
        client.cast({}, "record", value="cast")
        client.prepare(fanout=True).cast({}, "record", value="everyone")
        wait_for(lambda: "everyone" in ep1.casts and "everyone" in ep2.casts, timeout=10, what="fanout cast")
        wait_for(lambda: (ep1.casts + ep2.casts).count("cast") == 1, timeout=10, what="cast")

        ntopic = f"{uid}-notif"
        nep = NotificationEndpoint()
        env.listener(ntopic, [nep])
        env.notifier(ntopic).info({}, "compute.instance.create.end", {"id": "vm-1"})
        wait_for(lambda: len(nep.handled()) == 1, timeout=10, what="notification")
        assert nep.handled()[0][2:4] == ("compute.instance.create.end", {"id": "vm-1"})

        queues = env.our_queues()
        topic_type, topic_args, topic_durable = queues[topic]
        if options.get("rabbit_quorum_queue"):
            assert topic_type == "quorum" and topic_durable == "true", queues[topic]
        else:
            assert topic_type == "classic", queues[topic]
            assert topic_durable == ("true" if options.get("amqp_durable_queues") else "false")
        fanout = [name for name in queues if "_fanout" in name]
        assert fanout, queues
        for name in fanout:
            kind, arguments, durable = queues[name]
            if options.get("rabbit_stream_fanout"):
                assert kind == "stream", (name, queues[name])
            elif options.get("rabbit_transient_quorum_queue"):
                assert kind == "quorum", (name, queues[name])
            else:
                assert kind == "classic", (name, queues[name])
            if not options.get("rabbit_stream_fanout"):
                ttl = options.get("rabbit_transient_queues_ttl", 1800)
                assert f'"x-expires",{ttl * 1000}' in arguments, (name, arguments)
        if options.get("use_queue_manager") and not options.get("rabbit_stream_fanout"):
            assert all(f":{uid}:" in name for name in fanout), fanout
    finally:
        env.close()


def test_queues_of_a_stopped_rpc_server_expire(broker, uid):
    env = OptionsEnv(broker, uid, {"rabbit_transient_queues_ttl": 2})
    try:
        topic = f"{uid}-rpc"
        server = env.rpc_server(topic, "s1", [CalcEndpoint("s1")])
        client = env.rpc_client(topic)
        assert client.call({}, "add", a=1, b=2) == 3
        reply_queue = env.rpc_transport._driver._reply_q
        assert reply_queue in env.our_queues() or reply_queue.startswith("reply_")
        server.stop()
        server.wait()
        env.servers.remove(server)
        env.rpc_transport.cleanup()  # the client side goes too: nothing uses the reply queue
        env.transports.clear()
        env._rpc_transport = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            names = {r[0] for r in Ctl(broker).rows("list_queues", "name")}
            if reply_queue not in names and not any("_fanout" in n and uid in n for n in names):
                break
            time.sleep(0.5)
        assert reply_queue not in names, "reply queue still there"
        assert not [n for n in names if "_fanout" in n and uid in n], "fanout queue still there"
        # the topic queue is not transient: it stays for the next server
        assert topic in names
    finally:
        env.close()
