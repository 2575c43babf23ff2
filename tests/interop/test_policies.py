"""Interop: policies, operator policies and runtime parameters, as an operator and a client see them.

Every test that does not need a broker of its own runs against RabbitMQ 3.10 too
(AMQP_EXTERNAL_PORT=5673, rabbitmqctl through /work/shared/bench/rabbitmq.sh ctl): rabbitmqctl's
output, errors and exit statuses, and what policies do to queues, are the reference. Each test works
in a vhost of its own, deleted at the end, so policies never leak into other tests.
"""

import json
import time

import pika
import pytest

from admin_helpers import Ctl, wait_for
from conftest import start_warren, stop_warren
from test_admin import new_vhost, pika_params, undo  # noqa: F401 - fixture

OPENSTACK_PATTERN = r"^(?!(amq\.)|(.*_fanout_)|(reply_)).*"
OPENSTACK_DEFINITION = {
    "alternate-exchange": "unroutable", "expires": 3600000, "ha-mode": "all", "ha-promote-on-failure": "always",
    "ha-promote-on-shutdown": "always", "ha-sync-mode": "manual", "message-ttl": 600000,
    "queue-master-locator": "client-local"}


@pytest.fixture
def ctl(broker):
    return Ctl(broker)


@pytest.fixture
def vhost(broker, ctl, uid, undo):
    return new_vhost(ctl, undo, f"{uid}-vh")


def channel(broker, vhost):
    conn = pika.BlockingConnection(pika_params(broker, vhost=vhost))
    return conn, conn.channel()


def queue_rows(ctl, vhost, *columns):
    return {r[0]: r[1:] for r in ctl.rows("list_queues", "-p", vhost, "name", *columns)}


def message_count(ch, queue):
    return ch.queue_declare(queue, passive=True).method.message_count


def test_set_list_clear_policy_output(ctl, vhost):
    definition = '{"message-ttl":1000}'
    setp = ctl.run("set_policy", "-p", vhost, "--priority", "3", "--apply-to", "queues", "p1", "^q", definition)
    assert (setp.rc, setp.stdout) == (
        0, f'Setting policy "p1" for pattern "^q" to "{definition}" with priority "3" for vhost "{vhost}" ...\n'), str(setp)
    ctl.ok("set_policy", "-p", vhost, "p0", "^x", '{"max-length":5,"message-ttl":10}')
    listing = ctl.run("list_policies", "-p", vhost)
    assert listing.rc == 0
    lines = listing.stdout.splitlines()
    assert lines[0] == f'Listing policies for vhost "{vhost}" ...'
    assert lines[1] == "vhost\tname\tpattern\tapply-to\tdefinition\tpriority"
    assert sorted(lines[2:]) == sorted([
        f"{vhost}\tp1\t^q\tqueues\t{{\"message-ttl\":1000}}\t3",
        f"{vhost}\tp0\t^x\tall\t{{\"max-length\":5,\"message-ttl\":10}}\t0"])
    as_json = ctl.table("list_policies", "-p", vhost)
    assert {"vhost": vhost, "name": "p1", "pattern": "^q", "apply-to": "queues", "definition": definition,
            "priority": 3} in as_json
    clear = ctl.run("clear_policy", "-p", vhost, "p1")
    assert (clear.rc, clear.stdout) == (0, f'Clearing policy "p1" on vhost "{vhost}" ...\n'), str(clear)
    assert [r[1] for r in ctl.rows("list_policies", "-p", vhost)] == ["p0"]
    again = ctl.run("clear_policy", "-p", vhost, "p1")
    assert (again.rc, again.stderr) == (69, "Error:\nParameter does not exist\n"), str(again)


def test_policy_validation_errors(ctl, vhost):
    cases = [
        ('{"message-ttl":1000,"foo":1}', '[{<<"foo">>,1}] are not recognised policy settings'),
        ('{"message-ttl":-1}', "-1 is not a valid message TTL"),
        ('{"expires":0}', "0 is not a valid queue expiry"),
        ('{"max-length":"a"}', '<<"a">> is not a valid maximum length'),
        ('{"overflow":"x"}', '<<"x">> is not a valid overflow value'),
        ('{"ha-params":2}', "ha-mode must be specified to specify ha-params, ha-sync-mode or ha-promote-on-shutdown"),
        ("{}", "no policy provided"),
    ]
    results = ctl.many(*[("set_policy", "-p", vhost, "bad", "^q", d) for d, _ in cases])
    for (definition, message), r in zip(cases, results):
        assert r.rc == 69, str(r)
        assert r.stderr == f"Error:\nValidation failed\n\n{message}\n\n", str(r)
    notjson = ctl.run("set_policy", "-p", vhost, "bad", "^q", "notjson")
    assert (notjson.rc, notjson.stderr) == (69, "Error:\nJSON decoding error. Reason: badarg\n"), str(notjson)
    target = ctl.run("set_policy", "-p", vhost, "--apply-to", "foo", "bad", "^q", '{"max-length":1}')
    assert target.rc == 69
    assert "apply-to 'foo' unrecognised; should be 'queues', 'exchanges' or 'all'" in target.stderr
    op = ctl.run("set_operator_policy", "-p", vhost, "bad", "^q", '{"dead-letter-exchange":"x"}')
    assert op.rc == 69
    assert '[{<<"dead-letter-exchange">>,<<"x">>}] are not recognised policy settings' in op.stderr
    assert ctl.rows("list_policies", "-p", vhost) == []
    missing = ctl.run("list_policies", "-p", vhost + "-none")
    assert missing.rc == 65 and f"Virtual host '{vhost}-none' does not exist" in missing.stderr, str(missing)


def test_openstack_guide_policy(broker, ctl, vhost):
    ctl.ok("set_policy", "-p", vhost, "ha", OPENSTACK_PATTERN, json.dumps(OPENSTACK_DEFINITION))
    rows = ctl.table("list_policies", "-p", vhost)
    assert len(rows) == 1 and json.loads(rows[0]["definition"]) == OPENSTACK_DEFINITION
    conn, ch = channel(broker, vhost)
    try:
        for q in ("notifications.info", "reply_abc", "compute_fanout_123", "compute"):
            ch.queue_declare(q)
    finally:
        conn.close()
    expected = {"notifications.info": ["ha"], "reply_abc": [""], "compute_fanout_123": [""], "compute": ["ha"]}
    wait_for(lambda: queue_rows(ctl, vhost, "policy") == expected, timeout=10, what="policies applied")


def test_policy_applies_to_existing_queues_at_once(broker, ctl, vhost):
    conn, ch = channel(broker, vhost)
    try:
        ch.queue_declare("limited")
        for i in range(6):
            ch.basic_publish("", "limited", str(i).encode())
        wait_for(lambda: message_count(ch, "limited") == 6, what="6 messages")
        ctl.ok("set_policy", "-p", vhost, "--apply-to", "queues", "len", "^limited$", '{"max-length":2}')
        wait_for(lambda: message_count(ch, "limited") == 2, timeout=10, what="the policy's max-length")
        # the oldest were dropped
        assert [ch.basic_get("limited", auto_ack=True)[2] for _ in range(2)] == [b"4", b"5"]
        assert queue_rows(ctl, vhost, "policy") == {"limited": ["len"]}
        ctl.ok("clear_policy", "-p", vhost, "len")
        wait_for(lambda: queue_rows(ctl, vhost, "policy") == {"limited": [""]}, timeout=10, what="policy cleared")
        for i in range(5):
            ch.basic_publish("", "limited", b"x")
        wait_for(lambda: message_count(ch, "limited") == 5, what="no limit any more")
    finally:
        conn.close()


def test_policy_message_ttl_and_expiry(broker, ctl, vhost):
    ctl.ok("set_policy", "-p", vhost, "--apply-to", "queues", "ttl", "^ttl", '{"message-ttl":300}')
    ctl.ok("set_policy", "-p", vhost, "--apply-to", "queues", "exp", "^exp", '{"expires":700}')
    conn, ch = channel(broker, vhost)
    try:
        ch.queue_declare("ttl-q")
        ch.queue_declare("exp-q")
        wait_for(lambda: queue_rows(ctl, vhost, "policy") == {"ttl-q": ["ttl"], "exp-q": ["exp"]}, timeout=10,
                 what="policies applied")
        ch.basic_publish("", "ttl-q", b"short-lived")
        assert message_count(ch, "ttl-q") == 1
        # expired within the TTL plus a second, with no consumer
        wait_for(lambda: message_count(ch, "ttl-q") == 0, timeout=1.5, interval=0.05, what="expiry")
        # the unused queue goes after its expiry
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "exp-q" in queue_rows(ctl, vhost):
            time.sleep(0.1)
        assert "exp-q" not in queue_rows(ctl, vhost)
    finally:
        conn.close()


def test_arguments_policies_and_operator_policies_combine(broker, ctl, vhost):
    ctl.ok("set_policy", "-p", vhost, "user", "^c", '{"max-length":10}')
    ctl.ok("set_operator_policy", "-p", vhost, "op", "^c", '{"max-length":3}')
    conn, ch = channel(broker, vhost)
    try:
        ch.queue_declare("c-op")                                  # operator policy: 3
        ch.queue_declare("c-arg", arguments={"x-max-length": 2})  # argument: 2 (smaller)
        wait_for(lambda: queue_rows(ctl, vhost, "policy") == {"c-op": ["user"], "c-arg": ["user"]}, timeout=10,
                 what="policies applied")
        for i in range(6):
            ch.basic_publish("", "c-op", b"m")
            ch.basic_publish("", "c-arg", b"m")
        wait_for(lambda: (message_count(ch, "c-op"), message_count(ch, "c-arg")) == (3, 2), what="limits")
    finally:
        conn.close()
    listing = ctl.run("list_operator_policies", "-p", vhost)
    assert listing.stdout.splitlines() == [
        f'Listing operator policy overrides for vhost "{vhost}" ...',
        "vhost\tname\tpattern\tapply-to\tdefinition\tpriority",
        f"{vhost}\top\t^c\tall\t{{\"max-length\":3}}\t0"], str(listing)
    # rabbitmqctl lists operator policies among the vhost's parameters
    params = ctl.table("list_parameters", "-p", vhost)
    assert [(p["component"], p["name"]) for p in params] == [("operator_policy", "op")]
    assert json.loads(params[0]["value"])["definition"] == {"max-length": 3}
    cleared = ctl.run("clear_operator_policy", "-p", vhost, "op")
    assert (cleared.rc, cleared.stdout) == (0, f'Clearing operator policy "op" on vhost "{vhost}" ...\n')


def test_exchange_policies_are_listed(broker, ctl, vhost):
    ctl.ok("set_policy", "-p", vhost, "--apply-to", "exchanges", "ae", "^events$", '{"alternate-exchange":"un"}')
    conn, ch = channel(broker, vhost)
    try:
        ch.exchange_declare("events", "topic")
        ch.queue_declare("events")
    finally:
        conn.close()
    wait_for(lambda: {r[0]: r[1] for r in ctl.rows("list_exchanges", "-p", vhost, "name", "policy")}.get("events")
             == "ae", timeout=10, what="exchange policy")
    assert queue_rows(ctl, vhost, "policy") == {"events": [""]}


def test_parameters_and_global_parameters(ctl, vhost, undo):
    name = f"{vhost}-g"
    setg = ctl.run("set_global_parameter", name, '{"a":1}')
    undo(ctl, "clear_global_parameter", name)
    assert (setg.rc, setg.stdout) == (0, f'Setting global runtime parameter "{name}" to "{{"a":1}}" ...\n'), str(setg)
    rows = {r["name"]: r["value"] for r in ctl.table("list_global_parameters")}
    assert json.loads(rows[name]) == {"a": 1}
    bad = ctl.run("set_global_parameter", name, "x{")
    assert (bad.rc, bad.stderr) == (69, "Error:\nJSON decoding error. Reason: badarg\n"), str(bad)
    clear = ctl.run("clear_global_parameter", name)
    assert (clear.rc, clear.stdout) == (0, f'Clearing global runtime parameter "{name}" ...\n')
    again = ctl.run("clear_global_parameter", name)
    assert (again.rc, again.stderr) == (69, "Error:\nParameter does not exist\n")
    missing = ctl.run("clear_parameter", "-p", vhost, "vhost-limits", "nope")
    assert missing.rc == 69


@pytest.mark.warren_only
def test_policies_survive_restart_and_export(uid):
    b = start_warren()
    data_dir = b.data_dir
    try:
        ctl = Ctl(b)
        ctl.ok("set_policy", "--apply-to", "queues", "len", "^kept$", '{"max-length":1}')
        ctl.ok("set_operator_policy", "op", "^kept$", '{"message-ttl":60000}')
        ctl.ok("set_parameter", "federation-upstream", "up", '{"uri":"amqp://elsewhere"}')
        ctl.ok("set_global_parameter", "cluster_name", '"warren-test"')
        conn, ch = channel(b, "/")
        ch.queue_declare("kept", durable=True)
        conn.close()
        stop_warren(b, remove_data=False)
        b = start_warren(data_dir=data_dir)
        ctl = Ctl(b)
        assert [r[1] for r in ctl.rows("list_policies")] == ["len"]
        assert [r[1] for r in ctl.rows("list_operator_policies")] == ["op"]
        assert queue_rows(ctl, "/", "policy") == {"kept": ["len"]}
        conn, ch = channel(b, "/")
        for i in range(3):
            ch.basic_publish("", "kept", str(i).encode(), pika.BasicProperties(delivery_mode=2))
        wait_for(lambda: message_count(ch, "kept") == 1, what="max-length 1 after restart")
        conn.close()
        exported = ctl.ok("export_definitions", "-").json()
        assert [(p["name"], p["pattern"], p["apply-to"], p["definition"], p["priority"])
                for p in exported["policies"]] == [("len", "^kept$", "queues", {"max-length": 1}, 0)]
        assert sorted((p["component"], p["name"]) for p in exported["parameters"]) == [
            ("federation-upstream", "up"), ("operator_policy", "op")]
        assert {"name": "cluster_name", "value": "warren-test"} in exported["global_parameters"]
        # and an export imports into a fresh broker with the same policies
        other = start_warren()
        try:
            octl = Ctl(other)
            octl.ok("import_definitions", "-", stdin=json.dumps(exported))
            assert [r[1] for r in octl.rows("list_policies")] == ["len"]
            assert [r[1] for r in octl.rows("list_operator_policies")] == ["op"]
            assert [r[:2] for r in octl.rows("list_parameters")] == [
                ["federation-upstream", "up"], ["operator_policy", "op"]]
        finally:
            stop_warren(other)
    finally:
        stop_warren(b)
