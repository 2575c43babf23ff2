"""Interop: users, vhosts, permissions, warrenctl and the config file, as a user sees them.

Every behavioural test here runs against RabbitMQ 3.10 too (AMQP_EXTERNAL_PORT=5673, rabbitmqctl
through /work/shared/bench/rabbitmq.sh ctl) and RabbitMQ's answers are the reference: reply codes
and texts on the wire, and rabbitmqctl's output, errors and exit statuses. Tests that need a
Warren process of their own (config file, restart, no broker running) are `warren_only`.

Tests that change global state (guest's password, importing definitions with their own users
and vhost `dev`) use `isolated_broker`: a fresh Warren, or RabbitMQ with the changes undone.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading

import pika
import pytest

from admin_helpers import (LOGIN_REFUSED, ChannelProbe, Ctl, OsloRpc, login_refusal, raw_open, wait_for,
                           warrenctl_binary)
from conftest import (REPO, Broker, free_port, start_warren, stop_process, stop_warren, wait_for_port,
                      warren_binary)

FIXTURE = os.path.join(REPO, "tests", "fixtures", "rabbitmq-3.10-definitions.json")
DONE_ADDING_USER = ("Done. Don't forget to grant the user permissions to some virtual hosts! "
                    "See '{tool} help set_permissions' to learn more.\n")


@pytest.fixture
def ctl(broker):
    return Ctl(broker)


@pytest.fixture
def isolated_broker():
    """A Warren of the test's own, or the external broker (whose changes the test must undo)."""
    if not os.environ.get("AMQP_EXTERNAL_PORT"):
        b = start_warren()
        yield b
        stop_warren(b)
    else:
        yield Broker("127.0.0.1", int(os.environ["AMQP_EXTERNAL_PORT"]), None, None, None)


@pytest.fixture
def undo():
    """undo(ctl, *args): a command run (quietly, side by side) when the test ends."""
    pending = []
    yield lambda c, *args: pending.append((c, args))
    by_ctl = {}
    for c, args in pending:
        by_ctl.setdefault(id(c), (c, []))[1].append(("-q", *args))
    for c, calls in by_ctl.values():
        try:
            c.many(*calls)
        except Exception:  # noqa: BLE001 - cleanup never hides the test's result
            pass


def pika_params(broker, user="guest", password="guest", vhost="/"):
    return pika.ConnectionParameters(broker.host, broker.port, vhost, pika.PlainCredentials(user, password),
                                     connection_attempts=1, socket_timeout=5, blocked_connection_timeout=5)


def new_user(ctl, undo, name, password="pw", vhost=None, perms=None):
    ctl.ok("add_user", name, password)
    undo(ctl, "delete_user", name)
    if perms is not None:
        ctl.ok("set_permissions", "-p", vhost or "/", name, *perms)
    return name


def setup(ctl, undo, vhosts=(), users=(), perms=()):
    """Adds vhosts and (name, password) users side by side, then sets the (vhost, user, configure,
    write, read) permissions; everything is removed when the test ends."""
    first = [("-q", "add_vhost", v) for v in vhosts] + [("-q", "add_user", u, pw) for u, pw in users]
    for v in vhosts:
        undo(ctl, "delete_vhost", v)
    for u, _ in users:
        undo(ctl, "delete_user", u)
    for result in ctl.many(*first):
        assert result.rc == 0, str(result)
    for result in ctl.many(*[("-q", "set_permissions", "-p", v, u, c, w, r) for v, u, c, w, r in perms]):
        assert result.rc == 0, str(result)


def new_vhost(ctl, undo, name, guest=True):
    ctl.ok("add_vhost", name)
    undo(ctl, "delete_vhost", name)
    if guest:
        ctl.ok("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    return name


def body_rows(result, info_lines):
    """Splits a listing: checks the informational lines, returns (header, set of row tuples)."""
    lines = result.stdout.split("\n")
    assert lines[:len(info_lines)] == info_lines, str(result)
    assert lines[-1] == "", str(result)
    rest = lines[len(info_lines):-1]
    return rest[0], {tuple(line.split("\t")) for line in rest[1:]}


# ---------------------------------------------------------------------------
# 1. The OpenStack install guide


class Calc:
    def __init__(self):
        self.casts = []
        self.lock = threading.Lock()

    def add(self, ctxt, a, b):
        return a + b

    def whoami(self, ctxt):
        return "controller"

    def record(self, ctxt, value):
        with self.lock:
            self.casts.append(value)


def test_openstack_install_guide_sequence(isolated_broker, uid):
    """rabbitmqctl add_user openstack RABBIT_PASS; set_permissions openstack ".*" ".*" ".*";
    change_password guest RABBIT_PASS; then nova & co talk oslo.messaging RPC as openstack."""
    pytest.importorskip("oslo_messaging")
    b = isolated_broker
    ctl = Ctl(b)
    try:
        added = ctl.run("add_user", "openstack", "RABBIT_PASS")
        assert added.rc == 0, str(added)
        assert added.stdout == 'Adding user "openstack" ...\n' + DONE_ADDING_USER.format(tool=ctl.tool)
        granted = ctl.run("set_permissions", "openstack", ".*", ".*", ".*")
        assert (granted.rc, granted.stdout) == (0, 'Setting permissions for user "openstack" in vhost "/" ...\n')
        changed = ctl.run("change_password", "guest", "RABBIT_PASS")
        assert (changed.rc, changed.stdout, changed.stderr) == (0, 'Changing password for user "guest" ...\n', "")

        # guest's old password no longer works, the new one does
        with pytest.raises(pika.exceptions.ProbableAuthenticationError):
            pika.BlockingConnection(pika_params(b, "guest", "guest"))
        assert login_refusal(b, "guest", "guest") == (403, LOGIN_REFUSED)
        assert login_refusal(b, "guest", "RABBIT_PASS") is None

        rpc = OsloRpc(b, uid, "openstack", "RABBIT_PASS")
        try:
            calc = Calc()
            rpc.serve("controller", [calc])
            client = rpc.client()
            assert client.call({}, "add", a=2, b=40) == 42
            assert client.prepare(server="controller").call({}, "whoami") == "controller"
            client.cast({}, "record", value="cast-1")
            client.prepare(fanout=True).cast({}, "record", value="fanout-1")
            wait_for(lambda: sorted(calc.casts) == ["cast-1", "fanout-1"], timeout=5, what="casts")
        finally:
            rpc.close()
    finally:
        if not ctl.is_warren:
            ctl.many(("-q", "change_password", "guest", "guest"), ("-q", "delete_user", "openstack"))


# ---------------------------------------------------------------------------
# 2. Authentication


def test_wrong_password_and_unknown_user_get_403(broker, ctl, uid, undo):
    user = new_user(ctl, undo, f"{uid}-u", "right", perms=(".*", ".*", ".*"))
    assert login_refusal(broker, user, "right") is None
    assert login_refusal(broker, user, "wrong") == (403, LOGIN_REFUSED)
    assert login_refusal(broker, user, "") == (403, LOGIN_REFUSED)
    assert login_refusal(broker, f"{uid}-nobody", "right") == (403, LOGIN_REFUSED)
    for credentials in ((user, "wrong"), (f"{uid}-nobody", "x")):
        with pytest.raises(pika.exceptions.ProbableAuthenticationError):
            pika.BlockingConnection(pika_params(broker, *credentials))


def test_authenticate_user(broker, ctl, uid, undo):
    user = new_user(ctl, undo, f"{uid}-u", "s3cret")
    nobody = f"{uid}-nobody"
    ok, quiet, bad, unknown, piped = ctl.many(
        ("authenticate_user", user, "s3cret"),
        ("-q", "authenticate_user", user, "s3cret"),
        ("authenticate_user", user, "wrong"),
        ("authenticate_user", nobody, "s3cret"),
        ("authenticate_user", user),  # the password from standard input
    )
    assert (ok.rc, ok.stdout, ok.stderr) == (0, f'Authenticating user "{user}" ...\nSuccess\n', ""), str(ok)
    assert (quiet.rc, quiet.stdout) == (0, "Success\n"), str(quiet)
    assert bad.rc == 65, str(bad)
    assert bad.stdout == f'Authenticating user "{user}" ...\n'
    assert bad.stderr == f"Error:\nError: failed to authenticate user \"{user}\"\nuser '{user}' - invalid credentials\n"
    assert unknown.rc == 65, str(unknown)
    assert unknown.stderr == (f"Error:\nError: failed to authenticate user \"{nobody}\"\n"
                              f"user '{nobody}' - invalid credentials\n")
    # nothing on stdin: no password (rabbitmqctl exits 70 here, 65 for add_user)
    assert piped.rc != 0 and piped.stderr == "Error:\nPassword is not provided via argument or stdin\n", str(piped)
    from_stdin = ctl.run("authenticate_user", user, stdin="s3cret\n")
    assert from_stdin.rc == 0 and from_stdin.stdout.endswith("Success\n"), str(from_stdin)


def test_passwords_from_standard_input(broker, ctl, uid, undo):
    user = f"{uid}-u"
    added = ctl.run("add_user", user, stdin="piped-pw\n")
    undo(ctl, "delete_user", user)
    assert added.rc == 0, str(added)
    ctl.ok("set_permissions", user, ".*", ".*", ".*")
    assert login_refusal(broker, user, "piped-pw") is None
    changed = ctl.run("change_password", user, stdin="piped-2\n")
    assert changed.rc == 0, str(changed)
    assert login_refusal(broker, user, "piped-2") is None
    assert login_refusal(broker, user, "piped-pw") == (403, LOGIN_REFUSED)
    none = ctl.run("add_user", f"{uid}-v", stdin="")
    undo(ctl, "delete_user", f"{uid}-v")
    assert none.rc == 65, str(none)
    assert none.stderr == "Error:\nPassword is not provided via argument or stdin\n"


def test_clear_password_makes_login_impossible(broker, ctl, uid, undo):
    user = new_user(ctl, undo, f"{uid}-u", "pw", perms=(".*", ".*", ".*"))
    assert login_refusal(broker, user, "pw") is None
    cleared = ctl.run("clear_password", user)
    assert (cleared.rc, cleared.stdout, cleared.stderr) == (0, f'Clearing password for user "{user}" ...\n', "")
    assert login_refusal(broker, user, "pw") == (403, LOGIN_REFUSED)
    assert login_refusal(broker, user, "") == (403, LOGIN_REFUSED)
    assert ctl.run("authenticate_user", user, "pw").rc == 65
    # the user is still there, with its permissions: a new password brings login back
    ctl.ok("change_password", user, "again")
    assert login_refusal(broker, user, "again") is None


def test_delete_user_ends_login_and_closes_its_connections(broker, ctl, uid, undo):
    user = new_user(ctl, undo, f"{uid}-u", "pw", perms=(".*", ".*", ".*"))
    conn, refused = raw_open(broker, user, "pw")
    assert refused is None
    try:
        deleted = ctl.run("delete_user", user)
        assert (deleted.rc, deleted.stdout, deleted.stderr) == (0, f'Deleting user "{user}" ...\n', "")
        close = conn.wait_close(5)
        assert close is not None, "the deleted user's connection stayed open"
        assert (close.reply_code, close.reply_text) == (320, f"CONNECTION_FORCED - user '{user}' is deleted")
    finally:
        conn.sock.close()
    assert login_refusal(broker, user, "pw") == (403, LOGIN_REFUSED)
    assert user not in [row[0] for row in ctl.rows("list_users")]
    again = ctl.run("delete_user", user)
    assert (again.rc, again.stderr) == (67, f'Error:\nUser "{user}" does not exist\n'), str(again)


# ---------------------------------------------------------------------------
# 3. Vhosts


def test_add_list_delete_vhost(broker, ctl, uid, undo):
    vhost = f"{uid}-vh"
    added = ctl.run("add_vhost", vhost)
    undo(ctl, "delete_vhost", vhost)
    assert (added.rc, added.stdout, added.stderr) == (0, f'Adding vhost "{vhost}" ...\n', "")
    assert ctl.run("add_vhost", vhost).rc == 0  # adding it again is fine
    listed = ctl.ok("list_vhosts")
    header, rows = body_rows(listed, ["Listing vhosts ..."])
    assert header == "name"
    assert {("/",), (vhost,)} <= rows

    ctl.ok("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    conn, refused = raw_open(broker, vhost=vhost)
    assert refused is None
    try:
        deleted = ctl.run("delete_vhost", vhost)
        assert (deleted.rc, deleted.stdout) == (0, f'Deleting vhost "{vhost}" ...\n'), str(deleted)
        close = conn.wait_close(5)
        assert close is not None and (close.reply_code, close.reply_text) == (
            320, f"CONNECTION_FORCED - vhost '{vhost}' is deleted"), close
    finally:
        conn.sock.close()
    assert (vhost,) not in set(map(tuple, ctl.rows("list_vhosts")))
    assert login_refusal(broker, "guest", "guest", vhost) == (530, f"NOT_ALLOWED - vhost {vhost} not found")
    missing = ctl.run("delete_vhost", vhost)
    assert missing.rc == 65, str(missing)
    assert f"Virtual host '{vhost}' does not exist" in missing.stderr


def test_connection_open_refusals(broker, ctl, uid, undo):
    vhost, user = f"{uid}-vh", f"{uid}-u"
    setup(ctl, undo, [vhost], [(user, "pw")])
    missing = f"{uid}-missing"

    _, close = raw_open(broker, user, "pw", missing)
    assert close is not None
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (
        530, f"NOT_ALLOWED - vhost {missing} not found", 10, 40)
    _, close = raw_open(broker, user, "pw", vhost)
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (
        530, f"NOT_ALLOWED - access to vhost '{vhost}' refused for user '{user}'", 10, 40)
    assert login_refusal(broker, user, "pw", "/") == (530, f"NOT_ALLOWED - access to vhost '/' refused for user '{user}'")
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError):
        pika.BlockingConnection(pika_params(broker, user, "pw", vhost))

    # permissions that allow nothing still let the user in
    ctl.ok("set_permissions", "-p", vhost, user, "", "", "")
    assert login_refusal(broker, user, "pw", vhost) is None


def test_vhosts_are_isolated(broker, ctl, uid, undo):
    v1, v2 = f"{uid}-one", f"{uid}-two"
    setup(ctl, undo, [v1, v2], perms=[(v, "guest", ".*", ".*", ".*") for v in (v1, v2)])
    c1 = pika.BlockingConnection(pika_params(broker, vhost=v1))
    c2 = pika.BlockingConnection(pika_params(broker, vhost=v2))
    try:
        ch1, ch2 = c1.channel(), c2.channel()
        ch1.queue_declare("shared-name")
        ch2.queue_declare("shared-name")
        ch1.basic_publish("", "shared-name", b"in one")
        ch2.basic_publish("", "shared-name", b"in two (a)")
        ch2.basic_publish("", "shared-name", b"in two (b)")
        wait_for(lambda: ch1.queue_declare("shared-name", passive=True).method.message_count == 1, timeout=5)
        wait_for(lambda: ch2.queue_declare("shared-name", passive=True).method.message_count == 2, timeout=5)
        assert ctl.rows("list_queues", "-p", v1, "name", "messages") == [["shared-name", "1"]]
        assert ctl.rows("list_queues", "-p", v2, "name", "messages") == [["shared-name", "2"]]
        assert ch1.basic_get("shared-name", auto_ack=True)[2] == b"in one"
        assert ch1.basic_get("shared-name", auto_ack=True)[0] is None
        assert ch2.basic_get("shared-name", auto_ack=True)[2] == b"in two (a)"

        ch1.exchange_declare("only-in-one", "topic")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
            ch2.exchange_declare("only-in-one", "topic", passive=True)
        assert (ei.value.reply_code, ei.value.reply_text) == (404, f"NOT_FOUND - no exchange 'only-in-one' in vhost '{v2}'")
        names = {row[0] for row in ctl.rows("list_exchanges", "-p", v2, "name")}
        assert "only-in-one" not in names and "amq.topic" in names
    finally:
        c1.close()
        c2.close()


# ---------------------------------------------------------------------------
# 4. Permissions on the wire

# Resource names say what the user may do with them: configure (c), write (w), read (r).
PATTERNS = (r"^[^-]*c[^-]*-", r"^[^-]*w[^-]*-", r"^[^-]*r[^-]*-")


def test_permissions_set_side_by_side_all_apply_when_the_commands_return(broker, ctl, uid, undo):
    """Eight set_permissions at once on a new vhost: once they have returned, every user may use it.
    (Each command used to hand the vhost the rules as of its own change; when two updates reached
    the vhost in the other order, the older rules stayed and a user was refused, about one round
    in twenty-five.)"""
    users = [f"{uid}-u{i}" for i in range(8)]
    setup(ctl, undo, [], [(u, "pw") for u in users])
    for round in range(6):
        vhost = f"{uid}-vh{round}"
        setup(ctl, undo, [vhost], [], [(vhost, u, ".*", ".*", ".*") for u in users])
        for u in users:
            probe = ChannelProbe(broker, u, "pw", vhost)
            assert probe.try_("queue.declare", "queue.declare-ok", queue="mine", exclusive=True) == "ok", (round, u)
            probe.close()


def test_permission_table(broker, ctl, uid, undo):
    vhost, user = f"{uid}-vh", f"{uid}-u"
    setup(ctl, undo, [vhost], [(user, "pw")], [(vhost, "guest", ".*", ".*", ".*"), (vhost, user, *PATTERNS)])
    admin = ChannelProbe(broker, "guest", "guest", vhost)
    for q in ("n-q", "c-q", "w-q", "r-q"):
        assert admin.try_("queue.declare", "queue.declare-ok", queue=q) == "ok"
    for x in ("n-x", "c-x", "w-x", "r-x"):
        assert admin.try_("exchange.declare", "exchange.declare-ok", exchange=x, type="fanout") == "ok"
    admin.close()

    def refused(kind, name, class_id, method_id):
        return (403, f"ACCESS_REFUSED - access to {kind} '{name}' in vhost '{vhost}' refused for user '{user}'",
                class_id, method_id)

    cases = [
        # queue.declare: configure on the queue; passive needs nothing
        ("queue.declare", "queue.declare-ok", dict(queue="n-q", passive=True), "ok"),
        ("queue.declare", "queue.declare-ok", dict(queue="n-q"), refused("queue", "n-q", 50, 10)),
        ("queue.declare", "queue.declare-ok", dict(queue="c-q"), "ok"),
        ("queue.declare", "queue.declare-ok", dict(queue="c-new"), "ok"),
        # with a dead-letter exchange: also read on the queue and write on that exchange
        ("queue.declare", "queue.declare-ok", dict(queue="c-dlq", arguments={"x-dead-letter-exchange": "w-x"}),
         refused("queue", "c-dlq", 50, 10)),
        ("queue.declare", "queue.declare-ok", dict(queue="cr-dlq", arguments={"x-dead-letter-exchange": "r-x"}),
         refused("exchange", "r-x", 50, 10)),
        ("queue.declare", "queue.declare-ok", dict(queue="cr-dlq", arguments={"x-dead-letter-exchange": "w-x"}),
         "ok"),
        # exchange.declare: configure on the exchange; passive needs nothing
        ("exchange.declare", "exchange.declare-ok", dict(exchange="n-x", type="fanout", passive=True), "ok"),
        ("exchange.declare", "exchange.declare-ok", dict(exchange="amq.topic", type="topic", passive=True), "ok"),
        ("exchange.declare", "exchange.declare-ok", dict(exchange="n-x", type="fanout"),
         refused("exchange", "n-x", 40, 10)),
        ("exchange.declare", "exchange.declare-ok", dict(exchange="c-x", type="fanout"), "ok"),
        ("exchange.declare", "exchange.declare-ok", dict(exchange="c-new-x", type="direct"), "ok"),
        # with an alternate exchange: also read on the exchange and write on the alternate
        ("exchange.declare", "exchange.declare-ok",
         dict(exchange="c-ae", type="fanout", arguments={"alternate-exchange": "w-x"}),
         refused("exchange", "c-ae", 40, 10)),
        ("exchange.declare", "exchange.declare-ok",
         dict(exchange="cr-ae", type="fanout", arguments={"alternate-exchange": "r-x"}),
         refused("exchange", "r-x", 40, 10)),
        ("exchange.declare", "exchange.declare-ok",
         dict(exchange="cr-ae", type="fanout", arguments={"alternate-exchange": "w-x"}), "ok"),
        # queue.bind / unbind: write on the queue (checked first), read on the exchange
        ("queue.bind", "queue.bind-ok", dict(queue="w-q", exchange="r-x"), "ok"),
        ("queue.bind", "queue.bind-ok", dict(queue="r-q", exchange="r-x"), refused("queue", "r-q", 50, 20)),
        ("queue.bind", "queue.bind-ok", dict(queue="w-q", exchange="w-x"), refused("exchange", "w-x", 50, 20)),
        ("queue.bind", "queue.bind-ok", dict(queue="n-q", exchange="n-x"), refused("queue", "n-q", 50, 20)),
        ("queue.unbind", "queue.unbind-ok", dict(queue="r-q", exchange="r-x"), refused("queue", "r-q", 50, 50)),
        ("queue.unbind", "queue.unbind-ok", dict(queue="w-q", exchange="w-x"), refused("exchange", "w-x", 50, 50)),
        ("queue.unbind", "queue.unbind-ok", dict(queue="w-q", exchange="r-x"), "ok"),
        # exchange.bind / unbind: write on the destination, read on the source
        ("exchange.bind", "exchange.bind-ok", dict(destination="w-x", source="r-x"), "ok"),
        ("exchange.bind", "exchange.bind-ok", dict(destination="r-x", source="r-x"),
         refused("exchange", "r-x", 40, 30)),
        ("exchange.bind", "exchange.bind-ok", dict(destination="w-x", source="w-x"),
         refused("exchange", "w-x", 40, 30)),
        ("exchange.unbind", "exchange.unbind-ok", dict(destination="r-x", source="r-x"),
         refused("exchange", "r-x", 40, 40)),
        ("exchange.unbind", "exchange.unbind-ok", dict(destination="w-x", source="r-x"), "ok"),
        # basic.publish: write on the exchange; the default exchange is amq.default; permissions
        # are checked before existence
        ("basic.publish", None, dict(exchange="w-x", routing_key="k"), "ok"),
        ("basic.publish", None, dict(exchange="r-x", routing_key="k"), refused("exchange", "r-x", 60, 40)),
        ("basic.publish", None, dict(exchange="", routing_key="w-q"), refused("exchange", "amq.default", 60, 40)),
        ("basic.publish", None, dict(exchange="amq.direct", routing_key="w-q"),
         refused("exchange", "amq.direct", 60, 40)),
        ("basic.publish", None, dict(exchange="n-missing"), refused("exchange", "n-missing", 60, 40)),
        # basic.get / consume, queue.purge: read on the queue
        ("basic.get", "basic.get-empty", dict(queue="r-q"), "ok"),
        ("basic.get", "basic.get-empty", dict(queue="w-q"), refused("queue", "w-q", 60, 70)),
        ("basic.get", "basic.get-empty", dict(queue="n-missing"), refused("queue", "n-missing", 60, 70)),
        ("basic.consume", "basic.consume-ok", dict(queue="r-q"), "ok"),
        ("basic.consume", "basic.consume-ok", dict(queue="w-q"), refused("queue", "w-q", 60, 20)),
        ("queue.purge", "queue.purge-ok", dict(queue="r-q"), "ok"),
        ("queue.purge", "queue.purge-ok", dict(queue="w-q"), refused("queue", "w-q", 50, 30)),
        # queue.delete / exchange.delete: configure
        ("queue.delete", "queue.delete-ok", dict(queue="r-q"), refused("queue", "r-q", 50, 40)),
        ("queue.delete", "queue.delete-ok", dict(queue="c-q"), "ok"),
        ("queue.delete", "queue.delete-ok", dict(queue="n-missing"), refused("queue", "n-missing", 50, 40)),
        ("exchange.delete", "exchange.delete-ok", dict(exchange="r-x"), refused("exchange", "r-x", 40, 20)),
        ("exchange.delete", "exchange.delete-ok", dict(exchange="c-x"), "ok"),
    ]
    probe = ChannelProbe(broker, user, "pw", vhost)
    try:
        failures = []
        for method, reply, args, expected in cases:
            got = probe.try_(method, reply, **args)
            if got != expected:
                failures.append(f"{method} {args}: expected {expected}, got {got}")
        # a server-named queue needs configure on the name the broker picked
        got = probe.try_("queue.declare", "queue.declare-ok", queue="")
        if not (isinstance(got, tuple) and got[0] == 403 and re.fullmatch(
                rf"ACCESS_REFUSED - access to queue 'amq\.gen-[A-Za-z0-9_-]{{22}}' in vhost '{re.escape(vhost)}' "
                rf"refused for user '{re.escape(user)}'", got[1])):
            failures.append(f"queue.declare '': expected 403 naming an amq.gen- queue, got {got}")
        assert not failures, "\n".join(failures)
    finally:
        probe.close()


def test_permission_changes_apply_at_once(broker, ctl, uid, undo):
    vhost, user = f"{uid}-vh", f"{uid}-u"
    setup(ctl, undo, [vhost], [(user, "pw")], [(vhost, user, "^mine-", ".*", ".*")])
    probe = ChannelProbe(broker, user, "pw", vhost)
    declare = lambda q: probe.try_("queue.declare", "queue.declare-ok", queue=q)  # noqa: E731
    publish = lambda: probe.try_("basic.publish", None, exchange="", routing_key="mine-q")  # noqa: E731
    refused = lambda q: (403, f"ACCESS_REFUSED - access to queue '{q}' in vhost '{vhost}' refused for user '{user}'",  # noqa: E731
                         50, 10)
    try:
        assert declare("mine-q") == "ok"
        assert declare("other-q") == refused("other-q")
        assert publish() == "ok"
        # widen configure, take write away: the same connection sees it on its next channel
        ctl.ok("set_permissions", "-p", vhost, user, ".*", "", ".*")
        assert declare("other-q") == "ok"
        assert publish() == (403, f"ACCESS_REFUSED - access to exchange 'amq.default' in vhost '{vhost}' "
                                  f"refused for user '{user}'", 60, 40)
        ctl.ok("set_permissions", "-p", vhost, user, "", r"^amq\.default$", "")
        assert publish() == "ok"
        assert declare("mine-2") == refused("mine-2")
        # no permissions at all: the connection stays open, passive declares still answer
        ctl.ok("clear_permissions", "-p", vhost, user)
        assert probe.try_("queue.declare", "queue.declare-ok", queue="mine-q", passive=True) == "ok"
        assert declare("mine-3") == refused("mine-3")
        assert login_refusal(broker, user, "pw", vhost) == (
            530, f"NOT_ALLOWED - access to vhost '{vhost}' refused for user '{user}'")
    finally:
        probe.close()


# ---------------------------------------------------------------------------
# 5. warrenctl's output and errors, as rabbitmqctl's


def test_user_and_permission_listings(broker, ctl, uid, undo):
    vhost, user, plain = f"{uid}-vh", f"{uid}-u", f"{uid}-plain"
    setup(ctl, undo, [vhost], [(user, "pw"), (plain, "pw")], [(vhost, user, "^a", "", ".*")])
    tagged = ctl.run("set_user_tags", user, "management", "monitoring")
    assert (tagged.rc, tagged.stdout) == (0, f'Setting tags for user "{user}" to [management, monitoring] ...\n')

    users, users_json, perms, perms_json, of_user, of_plain = ctl.many(
        ("list_users",),
        ("list_users", "--formatter", "json"),
        ("list_permissions", "-p", vhost),
        ("-q", "list_permissions", "--vhost", vhost, "--formatter", "json"),
        ("list_user_permissions", user),
        ("-q", "list_user_permissions", plain),
    )
    header, rows = body_rows(users, ["Listing users ..."])
    assert header == "user\ttags"
    assert {(user, "[management, monitoring]"), (plain, "[]")} <= rows
    lines = users_json.stdout.split("\n")
    assert lines[0] == "[" and lines[-2:] == ["]", ""], str(users_json)
    assert all(line.startswith("{") if i == 0 else line.startswith(",{") for i, line in enumerate(lines[1:-2]))
    parsed = users_json.json()
    assert {"user": user, "tags": ["management", "monitoring"]} in parsed
    assert {"user": plain, "tags": []} in parsed

    assert perms.stdout == (f'Listing permissions for vhost "{vhost}" ...\n'
                            f"user\tconfigure\twrite\tread\n{user}\t^a\t\t.*\n"), str(perms)
    assert perms_json.stdout == f'[\n{{"user":"{user}","configure":"^a","write":"","read":".*"}}\n]\n'
    assert of_user.stdout == (f'Listing permissions for user "{user}" ...\n'
                              f"vhost\tconfigure\twrite\tread\n{vhost}\t^a\t\t.*\n"), str(of_user)
    assert of_plain.rc == 0


def test_empty_listings_print_no_header_row(broker, ctl, uid, undo):
    """rabbitmqctl prints no header row for an empty result: an empty line for the permission
    listings, nothing at all for the queue and consumer listings."""
    vhost, user = f"{uid}-vh", f"{uid}-u"
    setup(ctl, undo, [vhost], [(user, "pw")])
    perms, of_user, queues, quiet_queues, consumers = ctl.many(
        ("list_permissions", "-p", vhost), ("list_user_permissions", user), ("list_queues", "-p", vhost),
        ("-q", "list_queues", "-p", vhost), ("-q", "list_consumers", "-p", vhost))
    assert perms.stdout == f'Listing permissions for vhost "{vhost}" ...\n\n', str(perms)
    assert of_user.stdout == f'Listing permissions for user "{user}" ...\n\n', str(of_user)
    assert queues.stdout == f"Timeout: 60.0 seconds ...\nListing queues for vhost {vhost} ...\n", str(queues)
    assert quiet_queues.stdout == "", str(quiet_queues)
    assert consumers.stdout == "", str(consumers)


def test_queue_exchange_binding_connection_channel_consumer_listings(broker, ctl, uid, undo):
    vhost = new_vhost(ctl, undo, f"{uid}-vh")
    c, _ = raw_open(broker, vhost=vhost)
    try:
        c.open_channel(1)
        c.rpc(1, "queue.declare", "queue.declare-ok", queue="q-durable", durable=True)
        c.rpc(1, "queue.declare", "queue.declare-ok", queue="q-consumed")
        c.rpc(1, "queue.declare", "queue.declare-ok", queue="q-doomed")
        c.rpc(1, "exchange.declare", "exchange.declare-ok", exchange="x-topic", type="topic")
        c.rpc(1, "exchange.declare", "exchange.declare-ok", exchange="x-fan", type="fanout")
        c.rpc(1, "queue.bind", "queue.bind-ok", queue="q-durable", exchange="x-topic", routing_key="k.#")
        c.rpc(1, "exchange.bind", "exchange.bind-ok", destination="x-fan", source="x-topic", routing_key="r")
        for i in range(3):
            c.publish(1, "", "q-durable", b"m%d" % i)
        c.publish(1, "", "q-consumed", b"taken")
        c.publish(1, "", "q-doomed", b"d1")
        c.publish(1, "", "q-doomed", b"d2")
        c.open_channel(2)
        c.rpc(2, "basic.consume", "basic.consume-ok", queue="q-consumed", consumer_tag="ctag-1")
        deliver = c.expect("basic.deliver", 2)  # delivered, not acknowledged
        assert deliver.args["consumer_tag"] == "ctag-1"
        c.read_content()
        local_port = c.sock.getsockname()[1]

        (queues, queues_default, exchanges, bindings, bindings_json, connections, channels, consumers,
         consumer_columns) = ctl.many(
            ("list_queues", "-p", vhost, "name", "messages", "consumers", "durable"),
            ("-q", "list_queues", "-p", vhost),
            ("list_exchanges", "-p", vhost, "name", "type"),
            ("-q", "list_bindings", "-p", vhost),
            ("-q", "list_bindings", "-p", vhost, "--formatter", "json"),
            ("-q", "list_connections", "user", "vhost", "peer_port"),
            ("-q", "list_channels", "vhost", "user", "number", "consumer_count", "messages_unacknowledged"),
            ("-q", "list_consumers", "-p", vhost),
            ("-q", "list_consumers", "-p", vhost, "queue_name", "consumer_tag", "ack_required"),
        )
        header, rows = body_rows(queues, ["Timeout: 60.0 seconds ...", f"Listing queues for vhost {vhost} ..."])
        assert header == "name\tmessages\tconsumers\tdurable"
        assert rows == {("q-durable", "3", "0", "true"), ("q-consumed", "1", "1", "false"),
                        ("q-doomed", "2", "0", "false")}
        header, rows = body_rows(queues_default, [])
        assert (header, rows) == ("name\tmessages", {("q-durable", "3"), ("q-consumed", "1"), ("q-doomed", "2")})

        header, rows = body_rows(exchanges, [f"Listing exchanges for vhost {vhost} ..."])
        assert header == "name\ttype"
        assert {("", "direct"), ("amq.direct", "direct"), ("amq.fanout", "fanout"), ("amq.topic", "topic"),
                ("amq.headers", "headers"), ("amq.match", "headers"), ("x-topic", "topic"),
                ("x-fan", "fanout")} <= rows

        header, rows = body_rows(bindings, [])
        assert header == "source_name\tsource_kind\tdestination_name\tdestination_kind\trouting_key\targuments"
        assert rows == {
            ("", "exchange", "q-durable", "queue", "q-durable", "[]"),
            ("", "exchange", "q-consumed", "queue", "q-consumed", "[]"),
            ("", "exchange", "q-doomed", "queue", "q-doomed", "[]"),
            ("x-topic", "exchange", "q-durable", "queue", "k.#", "[]"),
            ("x-topic", "exchange", "x-fan", "exchange", "r", "[]"),
        }
        assert {"source_name": "x-topic", "source_kind": "exchange", "destination_name": "x-fan",
                "destination_kind": "exchange", "routing_key": "r", "arguments": []} in bindings_json.json()

        header, rows = body_rows(connections, [])
        assert header == "user\tvhost\tpeer_port"
        assert ("guest", vhost, str(local_port)) in rows

        header, rows = body_rows(channels, [])
        assert header == "vhost\tuser\tnumber\tconsumer_count\tmessages_unacknowledged"
        assert {row for row in rows if row[0] == vhost} == {(vhost, "guest", "1", "0", "0"),
                                                            (vhost, "guest", "2", "1", "1")}

        header, rows = body_rows(consumers, [])
        assert header == "queue_name\tchannel_pid\tconsumer_tag\tack_required\tprefetch_count\tactive\targuments"
        assert [(r[0], r[2], r[3], r[4], r[5], r[6]) for r in rows] == [("q-consumed", "ctag-1", "true", "0", "true",
                                                                         "[]")]
        assert body_rows(consumer_columns, [])[1] == {("q-consumed", "ctag-1", "true")}

        # purge_queue and delete_queue
        purged, deleted = ctl.many(("purge_queue", "-p", vhost, "q-durable"), ("delete_queue", "-p", vhost, "q-doomed"))
        assert (purged.rc, purged.stdout, purged.stderr) == (0, f"Purging queue 'q-durable' in vhost '{vhost}' ...\n", "")
        assert (deleted.rc, deleted.stdout) == (0, f"Deleting queue 'q-doomed' on vhost '{vhost}' ...\n"
                                                   "Queue was successfully deleted with 2 ready messages\n"), str(deleted)
        assert set(map(tuple, ctl.rows("list_queues", "-p", vhost, "name", "messages"))) == {
            ("q-durable", "0"), ("q-consumed", "1")}
        no_purge, no_delete = ctl.many(("purge_queue", "-p", vhost, "nope"), ("delete_queue", "-p", vhost, "nope"))
        assert no_purge.rc == 69, str(no_purge)
        assert no_purge.stderr.startswith("Error:\n") and re.search(r"not.found", no_purge.stderr, re.I), str(no_purge)
        assert (no_delete.rc, no_delete.stderr) == (64, "Error:\nQueue not found\n"), str(no_delete)
    finally:
        c.close()


def test_close_connection(broker, ctl, uid, undo):
    """rabbitmqctl list_connections pid ...; close_connection <pid> "reason"."""
    c, _ = raw_open(broker)
    try:
        port = str(c.sock.getsockname()[1])
        pids = [row[0] for row in ctl.rows("list_connections", "pid", "peer_port") if row[1] == port]
        assert len(pids) == 1, pids
        closed = ctl.run("close_connection", pids[0], "maintenance window")
        assert (closed.rc, closed.stdout, closed.stderr) == (
            0, f"Closing connection {pids[0]}, reason: maintenance window...\n", ""), str(closed)
        close = c.wait_close(5)
        assert close is not None, "the connection was not closed"
        assert (close.scope, close.reply_code, close.reply_text) == (
            "connection", 320, "CONNECTION_FORCED - maintenance window")
        assert c.wait_eof(5)
    finally:
        c.sock.close()


def test_export_definitions(broker, ctl, uid, undo):
    vhost, user = f"{uid}-vh", f"{uid}-u"
    setup(ctl, undo, [vhost], [(user, "pw")], [(vhost, "guest", ".*", ".*", ".*"), (vhost, user, "^u-", ".*", "")])
    ctl.ok("set_user_tags", user, "monitoring")
    conn = pika.BlockingConnection(pika_params(broker, vhost=vhost))
    try:
        ch = conn.channel()
        ch.queue_declare("u-orders", durable=True, arguments={"x-max-length": 10})
        ch.exchange_declare("u-events", "topic", durable=True)
        ch.queue_bind("u-orders", "u-events", "order.#")
    finally:
        conn.close()

    out_dir = tempfile.mkdtemp(prefix="warren-export-")
    os.chmod(out_dir, 0o777)  # Debian's rabbitmqctl writes as the rabbitmq user
    path = os.path.join(out_dir, "definitions.json")
    try:
        to_stdout, to_file = ctl.many(("export_definitions", "-"), ("export_definitions", path))
        assert to_stdout.rc == 0, str(to_stdout)
        definitions = to_stdout.json()
        assert (to_file.rc, to_file.stdout) == (
            0, f'Exporting definitions in JSON to a file at "{path}" ...\n'), str(to_file)
        with open(path) as f:
            from_file = json.load(f)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    for doc in (definitions, from_file):
        assert {"users", "vhosts", "permissions", "queues", "exchanges", "bindings"} <= set(doc)
        exported_user = [u for u in doc["users"] if u["name"] == user]
        assert len(exported_user) == 1 and exported_user[0]["tags"] == ["monitoring"]
        assert exported_user[0]["hashing_algorithm"] == "rabbit_password_hashing_sha256"
        assert exported_user[0]["password_hash"]
        assert vhost in [v["name"] for v in doc["vhosts"]]
        assert {"user": user, "vhost": vhost, "configure": "^u-", "write": ".*", "read": ""} in doc["permissions"]
        assert {"name": "u-orders", "vhost": vhost, "durable": True, "auto_delete": False,
                "arguments": {"x-max-length": 10}} in [{k: q.get(k) for k in ("name", "vhost", "durable",
                                                                               "auto_delete", "arguments")}
                                                       for q in doc["queues"]]
        assert {"name": "u-events", "vhost": vhost, "type": "topic", "durable": True, "auto_delete": False,
                "arguments": {}} in [{k: x.get(k) for k in ("name", "vhost", "type", "durable", "auto_delete",
                                                             "arguments")} for x in doc["exchanges"]]
        assert {"source": "u-events", "vhost": vhost, "destination": "u-orders", "destination_type": "queue",
                "routing_key": "order.#", "arguments": {}} in doc["bindings"]


def fixture_definitions():
    with open(FIXTURE) as f:
        return json.load(f)


def undo_fixture_import(ctl):
    """Removes what importing the fixture added to RabbitMQ (its users but guest, vhost dev, its
    queues and exchanges in /, its global parameter)."""
    d = fixture_definitions()
    calls = [("-q", "delete_user", u["name"]) for u in d["users"] if u["name"] != "guest"]
    calls += [("-q", "delete_vhost", v["name"]) for v in d["vhosts"] if v["name"] != "/"]
    calls += [("-q", "clear_global_parameter", p["name"]) for p in d["global_parameters"]]
    ctl.many(*calls)
    c, _ = raw_open(ctl.broker)
    if c is not None:
        deletions = [("queue.delete", {"queue": q["name"]}) for q in d["queues"] if q["vhost"] == "/"]
        deletions += [("exchange.delete", {"exchange": x["name"]}) for x in d["exchanges"] if x["vhost"] == "/"]
        for n, (method, args) in enumerate(deletions, start=1):
            c.open_channel(n)
            c.send_method(n, method, **args)
            c.read_frame()
        c.close()


def test_import_rabbitmq_definitions(isolated_broker):
    b = isolated_broker
    ctl = Ctl(b)
    if not ctl.is_warren:
        present = {row[0] for row in ctl.rows("list_users")} & {"admin", "alice", "bob", "monitor", "nopass"}
        assert not present, f"RabbitMQ already has the fixture's users {present}; not touching them"
    try:
        imported = ctl.run("import_definitions", FIXTURE)
        assert imported.rc == 0, str(imported)
        assert imported.stdout.startswith(f'Importing definitions in JSON from a file at "{FIXTURE}" ...\n')
        # RabbitMQ imports asynchronously: wait until the last things it imports are there
        wait_for(lambda: ("orders", "exchange", "orders.created", "queue", "order.created", "[]") in {
            tuple(r) for r in ctl.rows("list_bindings", "-p", "dev")}, timeout=15, interval=0.2,
            what="the imported bindings")

        # its users log in with their passwords, where their permissions allow
        assert login_refusal(b, "admin", "admin-secret", "/") is None
        assert login_refusal(b, "admin", "admin-secret", "dev") is None
        assert login_refusal(b, "alice", "alice-secret", "/") is None
        assert login_refusal(b, "bob", "bob-secret", "dev") is None
        assert login_refusal(b, "monitor", "monitor-secret", "dev") is None
        assert login_refusal(b, "guest", "guest", "/") is None
        assert login_refusal(b, "alice", "wrong", "/") == (403, LOGIN_REFUSED)
        assert login_refusal(b, "nopass", "", "/") == (403, LOGIN_REFUSED)
        assert login_refusal(b, "bob", "bob-secret", "/") == (530, "NOT_ALLOWED - access to vhost '/' refused for user 'bob'")
        users, vhosts, perms, types, durable = [
            {tuple(line.split("\t")) for line in r.lines[1:] if line} for r in ctl.many(
                ("-q", "list_users"), ("-q", "list_vhosts", "name", "description"),
                ("-q", "list_permissions", "-p", "dev"), ("-q", "list_exchanges", "-p", "dev", "name", "type", "durable"),
                ("-q", "list_queues", "-p", "dev", "name", "durable"))]
        assert {("admin", "[administrator]"), ("alice", "[management, policymaker]"), ("bob", "[]"),
                ("monitor", "[monitoring]"), ("nopass", "[]"), ("guest", "[administrator]")} <= users
        assert ("dev", "Development") in vhosts
        assert perms == {("admin", ".*", ".*", ".*"), ("bob", "", r"^amq\.topic$", r"^bob\..*"), ("monitor", "", "", ".*")}
        assert {("orders", "direct", "true"), ("events", "topic", "true"), ("broadcast", "fanout", "true"),
                ("by-header", "headers", "true")} <= types
        assert {("orders.created", "true"), ("orders.work", "true"), ("scratch", "false")} <= durable

        # its policies, parameters and global parameters are kept
        assert ctl.rows("list_policies", "-p", "dev") == [
            ["dev", "ttl-policy", r"^ttl\.", "queues", '{"max-length":1000,"message-ttl":60000}', "1"]]
        assert ctl.rows("list_parameters", "-p", "dev") == [["vhost-limits", "limits", '{"max-connections":100}']]
        assert ["test_param", '"hello"'] in ctl.rows("list_global_parameters")

        # its queues and exchanges exist in both vhosts, with their types
        d = fixture_definitions()
        probe = ChannelProbe(b, "admin", "admin-secret", "/")
        probe_dev = ChannelProbe(b, "admin", "admin-secret", "dev")
        try:
            missing = []
            for q in d["queues"]:
                p = probe if q["vhost"] == "/" else probe_dev
                if p.try_("queue.declare", "queue.declare-ok", queue=q["name"], passive=True) != "ok":
                    missing.append(f"queue {q['name']} in {q['vhost']}")
            for x in d["exchanges"]:
                p = probe if x["vhost"] == "/" else probe_dev
                if p.try_("exchange.declare", "exchange.declare-ok", exchange=x["name"], type=x["type"],
                          passive=True) != "ok":
                    missing.append(f"exchange {x['name']} in {x['vhost']}")
            assert not missing, missing
        finally:
            probe.close()
            probe_dev.close()

        # and its bindings route
        conn = pika.BlockingConnection(pika_params(b, "admin", "admin-secret", "dev"))
        try:
            ch = conn.channel()
            ch.basic_publish("orders", "order.created", b"o-1")
            ch.basic_publish("events", "order.eu.work", b"w-1")
            got = wait_for(lambda: ch.basic_get("orders.created", auto_ack=True)[2], timeout=5, what="routed")
            assert got == b"o-1"
            assert wait_for(lambda: ch.basic_get("orders.work", auto_ack=True)[2], timeout=5) == b"w-1"
        finally:
            conn.close()
    finally:
        if not ctl.is_warren:
            undo_fixture_import(ctl)


def test_errors_and_exit_statuses(broker, ctl, uid, undo):
    user = new_user(ctl, undo, f"{uid}-u", "pw")
    nobody, novh = f"{uid}-nobody", f"{uid}-novh"
    (exists, del_user, chpw, tags, perm_user, perm_vhost, list_perm_vhost, del_vhost, few, bad_column,
     user_perms) = ctl.many(
        ("add_user", user, "pw"),
        ("delete_user", nobody),
        ("change_password", nobody, "x"),
        ("set_user_tags", nobody, "administrator"),
        ("set_permissions", nobody, ".*", ".*", ".*"),
        ("set_permissions", "-p", novh, user, ".*", ".*", ".*"),
        ("list_permissions", "-p", novh),
        ("delete_vhost", novh),
        ("set_permissions", user, ".*", ".*"),
        ("list_vhosts", "bogus"),
        ("list_user_permissions", nobody),
    )
    assert (exists.rc, exists.stdout, exists.stderr) == (
        70, f'Adding user "{user}" ...\n', f'Error:\nUser "{user}" already exists\n'), str(exists)
    assert (del_user.rc, del_user.stdout, del_user.stderr) == (
        67, f'Deleting user "{nobody}" ...\n', f'Error:\nUser "{nobody}" does not exist\n'), str(del_user)
    assert (chpw.rc, chpw.stderr) == (67, f'Error:\nUser "{nobody}" does not exist\n'), str(chpw)
    assert (tags.rc, tags.stderr) == (67, f'Error:\nUser "{nobody}" does not exist\n'), str(tags)
    assert (perm_user.rc, perm_user.stderr) == (67, f"Error:\nUser {nobody} does not exist\n"), str(perm_user)
    assert (perm_vhost.rc, perm_vhost.stderr) == (69, f"Error:\nVirtual host {novh} does not exist\n"), str(perm_vhost)
    assert list_perm_vhost.rc == 65 and f"Virtual host '{novh}' does not exist" in list_perm_vhost.stderr, \
        str(list_perm_vhost)
    assert del_vhost.rc == 65 and f"Virtual host '{novh}' does not exist" in del_vhost.stderr, str(del_vhost)
    assert few.rc == 64 and few.stdout == "", str(few)
    assert bad_column.rc == 64 and "Info key(s) bogus are not supported" in bad_column.stderr, str(bad_column)
    assert user_perms.rc != 0 and nobody in user_perms.stderr, str(user_perms)
    unknown = ctl.run("no_such_command", broker_needed=False)
    assert unknown.rc == 64 and "no_such_command" in unknown.stdout + unknown.stderr, str(unknown)


def test_help(broker, ctl):
    overview, add_user = ctl.many(("help",), ("help", "add_user"), broker_needed=False)
    assert overview.rc == 0, str(overview)
    for command in ("add_user", "authenticate_user", "change_password", "clear_password", "delete_user",
                    "list_users", "set_user_tags", "set_permissions", "clear_permissions", "list_permissions",
                    "list_user_permissions", "add_vhost", "delete_vhost", "list_vhosts", "list_queues",
                    "list_exchanges", "list_bindings", "list_connections", "list_channels", "list_consumers",
                    "purge_queue", "delete_queue", "close_connection", "export_definitions",
                    "import_definitions", "await_startup", "set_vm_memory_high_watermark", "set_disk_free_limit"):
        assert re.search(rf"^\s+{command}\s", overview.stdout, re.M), f"help does not list {command}"
    assert re.search(r"^\s+add_user\s+Creates a new user in the internal database", overview.stdout, re.M)
    assert add_user.rc == 0, str(add_user)
    assert re.search(r"add_user .*<username> \[?<password>", add_user.stdout), add_user.stdout
    assert "Creates a new user in the internal database" in add_user.stdout


@pytest.mark.warren_only
def test_warrenctl_without_a_running_broker():
    data_dir = tempfile.mkdtemp(prefix="warren-nobroker-")
    try:
        run = subprocess.run([warrenctl_binary(), "list_users", "--data-dir", data_dir], capture_output=True,
                             text=True, timeout=30)
        assert run.returncode == 69, run
        assert f"{data_dir}/warren.sock" in run.stderr, run.stderr
        assert run.stdout in ("", "Listing users ...\n"), run.stdout
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# 6. The config file


def launch(args, timeout=20.0):
    """The broker binary with exactly these arguments (no --port added)."""
    log_path = tempfile.mktemp(prefix="warren-admin-", suffix=".log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([warren_binary(), *args], stdout=log, stderr=subprocess.STDOUT)
    return proc, log_path


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def startup_failure(tmp_path, conf_text):
    """Starts the broker with this config file, expects it to refuse; returns what it printed."""
    conf = tmp_path / "warren.conf"
    conf.write_text(conf_text)
    port = free_port()
    proc, log = launch(["--config", str(conf), "--data-dir", str(tmp_path / "data"), "--port", str(port)])
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        stop_process(proc)
        raise AssertionError(f"the broker started despite a bad config:\n{read(log)}")
    output = read(log)
    assert proc.returncode != 0, output
    return output


@pytest.mark.warren_only
def test_config_file_sets_listener_default_user_and_heartbeat(tmp_path):
    port = free_port()
    conf = tmp_path / "warren.conf"
    conf.write_text(f"# a rabbitmq.conf\nlisteners.tcp.default = 127.0.0.1:{port}\ndefault_user = admin\n"
                    "default_pass = s3cret\nloopback_users = none\nheartbeat = 10\n")
    data_dir = str(tmp_path / "data")
    proc, log = launch(["--config", str(conf), "--data-dir", data_dir])
    try:
        wait_for_port("127.0.0.1", port, proc)
        b = Broker("127.0.0.1", port, data_dir, proc, log)
        assert login_refusal(b, "admin", "s3cret") is None
        assert login_refusal(b, "guest", "guest") == (403, LOGIN_REFUSED)
        c, _ = raw_open(b, "admin", "s3cret")
        assert c.tune["heartbeat"] == 10, c.tune
        c.close()
        ctl = Ctl(b)
        assert ctl.rows("list_users") == [["admin", "[administrator]"]]
        assert ctl.rows("list_user_permissions", "admin") == [["/", ".*", ".*", ".*"]]
    finally:
        stop_process(proc)


@pytest.mark.warren_only
@pytest.mark.parametrize("lines, line_number, word", [
    (["heartbeat = 10", "no_such.setting = 1"], 2, "no_such.setting"),
    (["# comment", "", "heartbeat = soon"], 3, "heartbeat"),
    (["listeners.tcp.default = 127.0.0.1:99999"], 1, "listeners.tcp.default"),
])
def test_config_errors_stop_startup_naming_the_line(tmp_path, lines, line_number, word):
    output = startup_failure(tmp_path, "\n".join(lines) + "\n")
    assert f":{line_number}:" in output and word in output, output


@pytest.mark.warren_only
def test_flags_override_the_config_file(tmp_path):
    file_port, flag_port = free_port(), free_port()
    conf = tmp_path / "warren.conf"
    conf.write_text(f"listeners.tcp.default = 127.0.0.1:{file_port}\ndefault_user = admin\ndefault_pass = s3cret\n")
    b = start_warren(["--config", str(conf)], port=flag_port)
    try:
        assert b.port == flag_port
        assert login_refusal(b, "admin", "s3cret") is None
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", file_port), timeout=1).close()
    finally:
        stop_warren(b)


# ---------------------------------------------------------------------------
# 7. Restarts


@pytest.mark.warren_only
def test_users_vhosts_permissions_survive_restarts(fresh_broker):
    b = fresh_broker
    ctl = Ctl(b)
    ctl.ok("add_user", "carol", "carol-pw")
    ctl.ok("set_user_tags", "carol", "monitoring")
    ctl.ok("add_user", "dave", "dave-pw")
    ctl.ok("add_vhost", "prod", "--description", "Production")
    ctl.ok("set_permissions", "-p", "prod", "carol", "^carol-", ".*", ".*")
    ctl.ok("set_permissions", "-p", "prod", "dave", ".*", ".*", ".*")
    ctl.ok("change_password", "guest", "new-guest-pw")
    before = ctl.many(("-q", "list_users"), ("-q", "list_vhosts", "name", "description"),
                      ("-q", "list_permissions", "-p", "prod"), ("-q", "list_user_permissions", "carol"))

    def restart(broker, sig):
        stop_process(broker.proc, sig=sig)
        return start_warren(data_dir=broker.data_dir)

    b2 = restart(b, signal.SIGTERM)
    try:
        ctl2 = Ctl(b2)
        after = ctl2.many(("-q", "list_users"), ("-q", "list_vhosts", "name", "description"),
                          ("-q", "list_permissions", "-p", "prod"), ("-q", "list_user_permissions", "carol"))
        assert [r.stdout for r in after] == [r.stdout for r in before]
        assert login_refusal(b2, "guest", "guest") == (403, LOGIN_REFUSED)
        assert login_refusal(b2, "guest", "new-guest-pw") is None
        probe = ChannelProbe(b2, "carol", "carol-pw", "prod")
        assert probe.try_("queue.declare", "queue.declare-ok", queue="carol-q") == "ok"
        assert probe.try_("queue.declare", "queue.declare-ok", queue="other")[0] == 403
        probe.close()

        # more changes, then a crash
        ctl2.ok("delete_user", "dave")
        ctl2.ok("clear_permissions", "-p", "prod", "carol")
        ctl2.ok("change_password", "carol", "carol-pw-2")
        ctl2.ok("add_vhost", "staging")
        b3 = restart(b2, signal.SIGKILL)
    finally:
        stop_process(b2.proc)
    try:
        ctl3 = Ctl(b3)
        assert {r[0] for r in ctl3.rows("list_users")} == {"guest", "carol"}
        assert {r[0] for r in ctl3.rows("list_vhosts")} == {"/", "prod", "staging"}
        assert login_refusal(b3, "dave", "dave-pw", "prod") == (403, LOGIN_REFUSED)
        assert login_refusal(b3, "carol", "carol-pw-2", "prod") == (
            530, "NOT_ALLOWED - access to vhost 'prod' refused for user 'carol'")
        assert ctl3.run("authenticate_user", "carol", "carol-pw-2").rc == 0
    finally:
        stop_process(b3.proc)


def test_topic_permissions_limit_routing_keys_on_topic_exchanges(broker, ctl, uid):
    """set_topic_permissions: on a topic exchange, publishes need the routing key to match the
    write pattern and bindings the binding key to match the read pattern."""
    user = f"{uid}-topic"
    with_undo = []
    try:
        ctl.ok("add_user", user, "pw")
        with_undo.append(("delete_user", user))
        ctl.ok("set_permissions", user, ".*", ".*", ".*")
        ctl.ok("set_topic_permissions", user, "amq.topic", "^allowed\\.", "^readable\\.")
        probe = ChannelProbe(broker, user, "pw", "/")
        try:
            assert probe.try_("basic.publish", None, exchange="amq.topic", routing_key="allowed.x") == "ok"
            assert probe.try_("basic.publish", None, exchange="amq.topic", routing_key="denied.x") == (
                403, f"ACCESS_REFUSED - access to topic 'denied.x' in exchange 'amq.topic' in vhost '/' "
                f"refused for user '{user}'", 60, 40)
            # Other exchange types are not limited by topic permissions.
            assert probe.try_("basic.publish", None, exchange="amq.direct", routing_key="denied.x") == "ok"
            q = f"{uid}-topic-q"
            assert probe.try_("queue.declare", "queue.declare-ok", queue=q, auto_delete=False) == "ok"
            assert probe.try_("queue.bind", "queue.bind-ok", queue=q, exchange="amq.topic",
                              routing_key="readable.#") == "ok"
            assert probe.try_("queue.bind", "queue.bind-ok", queue=q, exchange="amq.topic",
                              routing_key="secret.#") == (
                403, f"ACCESS_REFUSED - access to topic 'secret.#' in exchange 'amq.topic' in vhost '/' "
                f"refused for user '{user}'", 50, 20)
            assert probe.try_("queue.delete", "queue.delete-ok", queue=q) == "ok"
        finally:
            probe.close()
    finally:
        for args in with_undo:
            ctl.quietly(*args)
