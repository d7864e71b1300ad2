"""The connection layer with several hosts, without namespaces: a host that accepts and never
answers, bounds, the probe, credentials in URIs, the ssh command line, and the harness's
scheduler. (The same over real ssh to test hosts: tests/test_hosts.py.)"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.schedule import run_graph

from pulumi_libvirt import connection
from pulumi_libvirt.connection import ssh
from pulumi_libvirt.connection import uri as uris
from pulumi_libvirt.providers import PoolLogic

TEST_URI = "test:///default"


@pytest.fixture
def silent_uri(tmp_path: Path) -> Iterator[str]:
    """A libvirt URI whose 'daemon' accepts connections and never says a word."""
    path = tmp_path / "silent.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"qemu+unix:///system?socket={path}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.fixture
def short_timeout() -> Iterator[float]:
    connection.configure(2)
    yield 2.0
    connection.configure(None)


def test_a_silent_host_fails_in_bounded_time_while_another_answers(
        silent_uri: str, short_timeout: float) -> None:
    results: dict[str, object] = {}

    def slow() -> None:
        started = time.monotonic()
        try:
            connection.run(silent_uri, lambda conn: conn.getLibVersion())
        except connection.LibvirtError as exc:
            results["error"], results["after"] = str(exc), time.monotonic() - started

    worker = threading.Thread(target=slow)
    worker.start()
    time.sleep(0.3)
    started = time.monotonic()
    assert connection.run(TEST_URI, lambda conn: conn.getLibVersion()) > 0
    assert time.monotonic() - started < 1.0  # not behind the silent host
    assert worker.is_alive()
    worker.join(10)
    assert results["error"] == (f"cannot connect to libvirt at {silent_uri}: no answer within "
                                "2 s (setting: libvirt:timeout)")
    assert short_timeout - 0.1 < results["after"] < short_timeout + 1.5
    # The attempt is older than the timeout now: the next caller is told at once.
    started = time.monotonic()
    with pytest.raises(connection.LibvirtError, match="no answer within 2 s"):
        connection.connect(silent_uri)
    assert time.monotonic() - started < 0.5


def test_a_preview_probe_waits_once_per_dead_host(silent_uri: str, short_timeout: float) -> None:
    started = time.monotonic()
    first = connection.probe(silent_uri)
    assert first is not None and silent_uri in first
    assert time.monotonic() - started < short_timeout + 1.5
    started = time.monotonic()
    assert connection.probe(silent_uri) == first  # remembered
    assert time.monotonic() - started < 0.1
    assert connection.probe(TEST_URI) is None


def test_timeout_setting(monkeypatch) -> None:
    monkeypatch.delenv("PULUMI_LIBVIRT_TIMEOUT", raising=False)
    assert connection.timeout() == 30
    monkeypatch.setenv("PULUMI_LIBVIRT_TIMEOUT", "12.5")
    assert connection.timeout() == 12.5
    connection.configure("7")
    try:
        assert connection.timeout() == 7
        with pytest.raises(connection.LibvirtError, match="libvirt:timeout: expected a positive"):
            connection.configure("-1")
        with pytest.raises(connection.LibvirtError, match="libvirt:timeout: expected a number"):
            connection.configure("soon")
    finally:
        connection.configure(None)


def test_credentials_in_uris() -> None:
    assert uris.warnings("qemu+ssh://root@kvm1/system?keyfile=/k") == []
    [warning] = uris.warnings("qemu+ssh://root@kvm1/system?no_verify=1")
    assert "host's ssh key is not verified" in warning
    [warning] = uris.warnings("qemu+ssh://kvm1/system?known_hosts=/kh")
    assert "ignores known_hosts=" in warning and "qemu+libssh://" in warning
    assert uris.warnings("qemu+libssh://kvm1/system?known_hosts=/kh") == []
    assert "not verified" in uris.warnings("qemu+libssh://kvm1/system?known_hosts_verify=ignore")[0]
    assert "TLS certificate" in uris.warnings("qemu+tls://kvm1/system?no_verify=1")[0]
    [problem] = uris.problems("qemu+ssh://root:hunter2@kvm1/system")
    assert "password" in problem and "hunter2" not in problem
    _inputs, problems = PoolLogic().check({}, {
        "name": "p", "type": "dir", "target": {"path": "/p"},
        "uri": "qemu+tcp://admin:hunter2@kvm1/system"})
    assert [p.path for p in problems] == ["uri"]
    assert "hunter2" not in problems[0].message


def test_ssh_command_line_is_libvirts() -> None:
    connection.configure(12)
    try:
        argv = ssh.ssh_argv("qemu+ssh://admin@kvm1:2222/system?keyfile=/k&no_verify=1&no_tty=1"
                            "&command=/opt/ssh")
    finally:
        connection.configure(None)
    assert argv[:argv.index("--")] == [
        "/opt/ssh", "-p", "2222", "-l", "admin", "-i", "/k", "-T", "-e", "none",
        "-o", "ConnectTimeout=12", "-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=5",
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"]
    assert argv[argv.index("--") + 1:argv.index("--") + 4] == ["kvm1", "sh", "-c"]
    auto = ssh.remote_command("qemu+ssh://kvm1/system")
    assert "virt-ssh-helper qemu:///system" in auto
    assert "nc $ARG -U /var/run/libvirt/libvirt-sock" in auto
    assert ssh.remote_command("qemu+ssh://kvm1/session?proxy=native") == (
        "virt-ssh-helper qemu:///session")
    assert "-U /run/l.sock" in ssh.remote_command("qemu+ssh://kvm1/system?socket=/run/l.sock")


def test_ssh_failure_is_told_in_ssh_words(tmp_path: Path) -> None:
    uri = f"qemu+ssh://nobody@127.0.0.1:1/system?command={tmp_path}/no-such-ssh"
    with pytest.raises(connection.LibvirtError) as error:
        connection.connect(uri)
    assert str(error.value).startswith(f"cannot connect to libvirt at {uri}: ")
    assert "no-such-ssh" in str(error.value)


def test_scheduler_runs_independent_work_together_and_dependents_after() -> None:
    order: list[str] = []
    running: set[str] = set()
    overlap: list[set[str]] = []
    lock = threading.Lock()

    def work(item: str) -> None:
        with lock:
            running.add(item)
            overlap.append(set(running))
        time.sleep(0.2)
        with lock:
            running.discard(item)
            order.append(item)

    # c after a and b; a, b and d independent.
    after = {"a": set(), "b": set(), "c": {"a", "b"}, "d": set()}
    started = time.monotonic()
    run_graph(["a", "b", "c", "d"], after.__getitem__, work, parallel=4)
    assert time.monotonic() - started < 0.6  # two waves, not four steps
    assert order.index("c") > max(order.index("a"), order.index("b"))
    assert any({"a", "b", "d"} <= seen for seen in overlap)

    def fail(item: str) -> None:
        if item == "a":
            raise RuntimeError("a failed")
        order.append(item)

    order.clear()
    with pytest.raises(RuntimeError, match="a failed"):
        run_graph(["a", "c"], after.__getitem__, fail)
    assert order == []  # c never started
