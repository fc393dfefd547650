"""The launcher: start, start again, stop, and start after a crash.

Runs its own third stack (other ports, run dir under build/) so the shared
test stack of the session is not disturbed.
"""

import os
import signal
import subprocess
import time

import pytest

from conftest import TOP, Stack

SERVICES = ["slapd", "redis", "smtp-sink", "postfix", "dovecot", "nginx"]


def status(s):
    r = s.launcher("status", check=False)
    running = {}
    for line in r.stdout.splitlines()[1:]:
        parts = line.split()
        running[parts[0]] = "running" in line and int(parts[-1].rstrip(")"))
    return running


def processes_using(run):
    real = os.path.realpath(run) + "/"
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open("/proc/%s/stat" % p) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state in ("Z", "X"):
            continue  # killed, not yet reaped: holds nothing
        if real in cmd:
            found.append((int(p), cmd))
            continue
        try:
            fds = os.listdir("/proc/%s/fd" % p)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink("/proc/%s/fd/%s" % (p, fd))
            except OSError:
                continue
            if target.startswith(real):
                found.append((int(p), cmd))
                break
    return found


@pytest.fixture(scope="module")
def third_stack(tmp_path_factory):
    conf = tmp_path_factory.mktemp("stack") / "stack-restart.conf"
    base_conf = os.environ.get("MORTAR_STACK", os.path.join(TOP, "conf", "stack-test.conf"))
    if not os.path.isabs(base_conf):
        base_conf = os.path.join(TOP, base_conf)
    base = open(base_conf).read()
    lines = []
    for line in base.splitlines():
        k, sep, v = line.partition(" = ")
        if sep and k.endswith("_port"):
            # 10,000 away from the base stack, and below Linux's ephemeral
            # range (32768-60999): a listener there can find its port held
            # by some client's outgoing connection (test stack 2xxxx ->
            # 1xxxx; a demo stack's 8080 -> 18080).
            p = int(v)
            line = "%s = %d" % (k, p - 10000 if p >= 20000 else p + 10000)
        elif sep and k == "run_dir":
            # Beside the base stack's run dir: two suites on two base
            # stacks never share one.
            base_run = v if os.path.isabs(v) else os.path.join(TOP, v)
            line = "run_dir = " + base_run.rstrip("/") + "-restart"
        elif sep and k == "name":
            line = "name = restart"
        lines.append(line)
    conf.write_text("\n".join(lines) + "\n")
    s = Stack(str(conf))
    yield s
    s.launcher("stop", check=False)


def test_start_twice_stop_and_start_again(third_stack):
    s = third_stack
    r = s.launcher("start")
    assert "is up" in r.stdout
    s.load()
    first = status(s)
    assert all(first.get(name) for name in SERVICES), first

    # Starting again changes nothing: the same processes keep running.
    r = s.launcher("start")
    assert "already running" in r.stdout
    again = status(s)
    assert again == first

    # A real login works.
    s.imap("alice@" + s.domain).logout()

    s.launcher("stop")
    assert not any(status(s).values())
    assert processes_using(s.run) == []

    # ... and it comes back with its data: the same logins still work.
    s.launcher("start")
    s.load()
    s.imap("alice@" + s.domain).logout()


def test_start_after_a_crash(third_stack):
    s = third_stack
    s.launcher("start")
    s.load()
    before = status(s)
    # Crash: every process of the stack dies at once, leaving pid files,
    # sockets and lock files behind.
    for pid, _ in processes_using(s.run):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in [p for p in before.values() if p]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(1)
    assert not any(status(s).values())

    r = s.launcher("start")
    assert "is up" in r.stdout, r.stdout + r.stderr
    after = status(s)
    assert all(after.get(name) for name in SERVICES), after
    s.imap("alice@" + s.domain).logout()

    s.launcher("stop")
    assert processes_using(s.run) == []


def test_port_taken_by_another_program_is_named(third_stack):
    s = third_stack
    s.launcher("stop")
    import socket
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind((s.host, s.port("redis")))
    blocker.listen(1)
    try:
        r = s.launcher("start", check=False)
        assert r.returncode != 0
        assert "port %s:%d is taken" % (s.host, s.port("redis")) in r.stderr
    finally:
        blocker.close()
        s.launcher("stop", check=False)
