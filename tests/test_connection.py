"""The connection layer: which host, one connection per URI, reconnecting, clear errors, and
providers that pickle without a connection."""

from __future__ import annotations

import base64
import os
import time
from concurrent.futures import ThreadPoolExecutor

import dill
import libvirt
import pytest
from daemons import Daemon, netns_of
from harness import ProviderHost
from pulumi.dynamic.dynamic import serialize_provider

from pulumi_libvirt import connection
from pulumi_libvirt.dynamic import LibvirtProvider
from pulumi_libvirt.providers import PoolLogic

TEST_URI = "test:///default"


def test_uri_resolution_order(monkeypatch) -> None:
    monkeypatch.delenv("LIBVIRT_DEFAULT_URI", raising=False)
    assert connection.resolve_uri() == "qemu:///system"
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", "qemu:///session")
    assert connection.resolve_uri() == "qemu:///session"
    assert connection.resolve_uri(configured="qemu+ssh://kvm1/system") == "qemu+ssh://kvm1/system"
    assert connection.resolve_uri("test:///default", "qemu+ssh://kvm1/system") == TEST_URI


def test_one_connection_per_uri_reopened_when_closed() -> None:
    first = connection.connect(TEST_URI)
    assert connection.connect(TEST_URI) is first
    first.close()  # dead now: the next call opens a new one
    second = connection.connect(TEST_URI)
    assert second is not first and second.isAlive()


def test_each_daemon_through_one_shared_connection(system_uri: str) -> None:
    """libvirt 11.3's socket URI takes the path the machine's own does: concurrent first callers
    share one opening, every caller gets that connection, and a dropped one is not closed under
    a caller still holding it."""
    connection.forget(system_uri)
    with ThreadPoolExecutor(4) as workers:
        conns = list(workers.map(lambda _: connection.connect(system_uri), range(8)))
        assert all(conn is conns[0] for conn in conns)
        versions = set(workers.map(
            lambda _: connection.run(system_uri, lambda conn: conn.getLibVersion()), range(8)))
    assert len(versions) == 1
    assert connection.probe(system_uri) is None
    connection.forget(system_uri)
    assert conns[0].getLibVersion() in versions  # still open for whoever holds it
    assert connection.connect(system_uri) is not conns[0]


def test_a_host_that_comes_back_is_reached_by_the_next_call(monkeypatch) -> None:
    """An opening begun while the host dropped packets fails, or answers, after the next call
    came: that call waits its own timeout (not what is left of the first caller's) and, when
    the earlier opening failed, tries once more. An opening older than the timeout fails the
    call at once."""
    from pulumi_libvirt.connection import hosts

    uri, real_open = "test:///default?comes-back", libvirt.open
    monkeypatch.setattr(hosts, "timeout", lambda: 1.0)
    outcomes = iter(["hang-then-fail", "answer", "hang-then-fail"])
    opened: list[float] = []

    def open_connection(_uri: str):
        opened.append(time.monotonic())
        if next(outcomes) == "hang-then-fail":
            time.sleep(1.2)
            raise connection.LibvirtError(f"cannot connect to libvirt at {uri}: refused")
        return real_open("test:///default")

    monkeypatch.setattr(hosts, "open_connection", open_connection)
    with pytest.raises(connection.LibvirtError, match="no answer within 0.3 s"):
        connection.connect(uri, bound=0.3)  # a probe gives up while the opening hangs on
    time.sleep(0.1)  # the host comes back; the opening begun 0.4 s ago fails at 1.2 s
    conn = connection.connect(uri)
    assert conn.isAlive() and len(opened) == 2
    connection.forget(uri)

    with pytest.raises(connection.LibvirtError, match="no answer within 1 s"):
        connection.connect(uri)
    started = time.monotonic()
    with pytest.raises(connection.LibvirtError, match="no answer within 1 s"):
        connection.connect(uri)  # the opening is older than the timeout: no second wait
    assert time.monotonic() - started < 0.1
    time.sleep(0.3)  # the opening ends before the next test


def test_errors_name_the_object_and_the_host() -> None:
    conn = connection.connect(TEST_URI)
    with pytest.raises(connection.LibvirtError) as error:
        with connection.described("pool 'images'", TEST_URI):
            conn.storagePoolLookupByName("images")
    assert str(error.value) == "pool 'images' not found on test:///default"
    with pytest.raises(connection.LibvirtError) as error:
        with connection.described("pool 'bad'", TEST_URI, "define"):
            conn.storagePoolDefineXML("<pool type='dir'><name>bad</name></pool>", 0)
    assert str(error.value).startswith("cannot define pool 'bad' on test:///default: ")
    with pytest.raises(connection.LibvirtError) as error:
        connection.connect("qemu+unix:///system?socket=/nonexistent/sock")
    assert "cannot connect to libvirt at qemu+unix:///system?socket=/nonexistent/sock" in str(
        error.value
    )


def test_a_refused_call_is_not_a_dead_connection(system_uri: str, run_prefix: str) -> None:
    """libvirt refuses a domain whose emulator is missing with a system error of the QEMU
    driver: the user sees that, once, and the connection stays as it was."""
    conn = connection.connect(system_uri)
    xml = (f"<domain type='qemu'><name>{run_prefix}no-emulator</name>"
           "<memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os>"
           "<devices><emulator>/nonexistent/qemu</emulator></devices></domain>")
    with pytest.raises(libvirt.libvirtError, match="Cannot check QEMU binary /nonexistent/qemu"):
        connection.run(system_uri, lambda c: c.defineXML(xml))
    assert connection.connect(system_uri) is conn


def test_provider_pickles_without_its_connection() -> None:
    provider = LibvirtProvider("Pool")
    logic = provider.logic()
    _id, outs = logic.create({"name": "pickled", "type": "dir", "target": {"path": "/pickled"}})
    try:
        assert connection.connect(TEST_URI) is not None  # a connection is open in this process
        blob = base64.b64decode(serialize_provider(provider))
        assert b"virConnect" not in blob and b"virStoragePool" not in blob
        copy = dill.loads(blob)
        assert type(copy) is LibvirtProvider
        assert vars(copy) == {"type_name": "Pool", "configured_uri": None}
    finally:
        PoolLogic(TEST_URI).delete(_id, outs)


def test_stack_config_uri_reaches_the_provider_host() -> None:
    provider = serialize_provider(LibvirtProvider("Pool"))
    props = {"__provider": provider, "name": "configured", "type": "dir",
             "target": {"path": "/configured"}}
    urn = "urn:pulumi:stack::project::pulumi-python:dynamic/libvirt:Pool::p"
    with ProviderHost(config={"libvirt:uri": TEST_URI}) as host:
        host.configure({"libvirt:uri": TEST_URI})
        checked = host.check(urn, {}, props)
        assert checked.failures == []
        id_, outs = host.create(urn, checked.inputs)
        assert outs["uri"] == TEST_URI
        host.delete(urn, id_, outs)


def test_reconnects_after_libvirtd_restart(system_daemon: Daemon) -> None:
    pid = system_daemon.libvirtd()
    owned = pid is not None and (
        netns_of(pid) == system_daemon.netns
        or os.environ.get("PULUMI_LIBVIRT_TEST_RESTART") == "1"
    )
    if not owned:
        pytest.skip("libvirtd was not started by scripts/setup.sh: not restarting someone's "
                    "daemon (set PULUMI_LIBVIRT_TEST_RESTART=1 to allow)")
    uri = system_daemon.uri
    before = connection.connect(uri)
    version = before.getLibVersion()
    system_daemon.restart(pid)
    for _ in range(100):
        try:
            libvirt.open(uri).close()
            break
        except libvirt.libvirtError:
            time.sleep(0.1)
    after = connection.run(uri, lambda conn: conn)
    assert after is not before
    assert after.getLibVersion() == version
    assert system_daemon.libvirtd() not in (None, pid)
