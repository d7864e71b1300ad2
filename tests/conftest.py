"""Shared fixtures: a per-run name prefix, the real libvirt daemons, and a cleanup safety net.

Tests that create libvirt objects name them with ``run_prefix`` (``plvt-<6 hex>-``) and remove
them in their own fixtures. At session end every domain, network, pool and volume whose name
starts with the prefix is removed anyway from every daemon the run used, so a failed or
interrupted test never leaves objects behind that would collide with a rerun or a developer's
own.

Every test that asks for ``system_uri`` (or ``system_daemon``) runs once against each real
daemon in ``tests/daemons.py``: the machine's own libvirtd (id ``libvirt9``) and libvirt 11.3 in
a Debian 13 root (id ``libvirt11``). A daemon that does not answer skips its variants, saying
how to start it, unless ``PULUMI_LIBVIRT_REQUIRE`` names it (``libvirt9,libvirt11``; CI sets
it): then they fail. The summary counts the tests run against each.

``libvirt_hosts`` (``tests/testhosts.py``) brings up three test hosts reached over qemu+ssh for
the tests of one program across several hosts; ``hosts`` in ``PULUMI_LIBVIRT_REQUIRE`` makes
their absence a failure too. They are torn down whole at the end of the session.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter

import pytest
from daemons import DAEMONS, Daemon, unavailable
from testhosts import libvirt_hosts  # noqa: F401 - the fixture

TEST_URI = "test:///default"
RUN_PREFIX = f"plvt-{secrets.token_hex(3)}-"


@pytest.fixture(scope="session")
def run_prefix() -> str:
    """Prefix for the names of every libvirt object this test run creates."""
    return RUN_PREFIX


def _open(uri: str, timeout: float = 10.0):
    """Open a libvirt connection, or return None when nothing answers within `timeout`."""
    import libvirt

    result: list = []

    def attempt() -> None:
        try:
            conn = libvirt.open(uri)
            conn.getLibVersion()
            result.append(conn)
        except libvirt.libvirtError:
            pass

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout)
    return result[0] if result else None


_versions: dict[str, str | None] = {}  # daemon name -> its libvirt version, None: no answer


def reach(name: str) -> Daemon:
    """The daemon `name` once it answers; skips its test (fails it when required) otherwise."""
    if name not in _versions:
        conn = _open(DAEMONS[name].uri)
        _versions[name] = None
        if conn is not None:
            number = conn.getLibVersion()
            conn.close()
            _versions[name] = f"{number // 1000000}.{number // 1000 % 1000}.{number % 1000}"
    daemon = DAEMONS[name]
    if _versions[name] is None:
        unavailable(name, f"{name}: no libvirtd answers on {daemon.uri}; {daemon.how_to_start}")
    return daemon


@pytest.fixture(scope="session", params=list(DAEMONS))
def system_daemon(request) -> Daemon:
    """Each real libvirt daemon in turn (test ids ``libvirt9``, ``libvirt11``)."""
    return reach(request.param)


@pytest.fixture(scope="session")
def system_uri(system_daemon: Daemon) -> str:
    """The URI of each real daemon in turn: ``qemu:///system``, then libvirt 11.3's socket.

    CI never skips: ``scripts/setup.sh`` and ``scripts/libvirt-root.sh`` start them first.
    """
    return system_daemon.uri


@pytest.fixture(params=[*DAEMONS, "test"])
def uri(request) -> str:
    """Every host in turn: each real daemon, then libvirt's test driver (no daemon)."""
    return TEST_URI if request.param == "test" else reach(request.param).uri


def virsh(uri: str, *args: str, check: bool = True) -> str:
    """``virsh -c URI ARGS``'s output; an AssertionError with its stderr on failure (unless
    ``check=False``). Pass the test's ``system_uri``: it names each daemon in turn."""
    import subprocess

    result = subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True,
                            check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"virsh {' '.join(args)}: {result.stderr}")
    return result.stdout


def pool_names(uri: str) -> set[str]:
    """The names of every pool on the daemon at `uri`."""
    return set(virsh(uri, "pool-list", "--all", "--name").split())


@pytest.fixture
def engine(system_uri: str):
    """A harness engine on each real daemon in turn (``system_uri``); whatever the test left in
    its state is destroyed."""
    from harness import Engine

    engine = Engine({"libvirt:uri": system_uri})
    yield engine
    try:
        engine.destroy()
    finally:
        engine.close()


def remove_prefixed(conn, prefix: str) -> list[str]:
    """Destroy and undefine every domain, network, pool and volume named `prefix`...

    Returns a description of each object removed. Errors on one object do not stop the rest.
    """
    import libvirt

    removed: list[str] = []

    def attempt(what: str, *steps) -> None:
        for step in steps:
            try:
                step()
            except libvirt.libvirtError:
                pass
        removed.append(what)

    for dom in conn.listAllDomains():
        if dom.name().startswith(prefix):
            flags = (
                libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
            )
            attempt(
                f"domain {dom.name()}",
                lambda d=dom: d.isActive() and d.destroy(),
                lambda d=dom, f=flags: d.undefineFlags(f),
            )
    for net in conn.listAllNetworks():
        if net.name().startswith(prefix):
            attempt(
                f"network {net.name()}",
                lambda n=net: n.isActive() and n.destroy(),
                lambda n=net: n.isPersistent() and n.undefine(),
            )
    for pool in conn.listAllStoragePools():
        ours = pool.name().startswith(prefix)
        if ours and not pool.isActive():
            try:
                pool.create()
            except libvirt.libvirtError:
                pass
        if pool.isActive():
            try:
                pool.refresh()
                volumes = pool.listAllVolumes()
            except libvirt.libvirtError:
                volumes = []
            for vol in volumes:
                if ours or vol.name().startswith(prefix):
                    attempt(f"volume {pool.name()}/{vol.name()}", lambda v=vol: v.delete(0))
        if ours:
            attempt(
                f"pool {pool.name()}",
                lambda p=pool: p.isActive() and p.destroy(),
                lambda p=pool: p.delete(0),
                lambda p=pool: p.isPersistent() and p.undefine(),
            )
    return removed


_daemon_of: dict[str, str] = {}  # test node id -> the daemon it runs against
_outcomes: dict[str, Counter] = {name: Counter() for name in DAEMONS}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(item, "callspec", None)
        for value in (params.params.values() if params else ()):
            if isinstance(value, str) and value in DAEMONS:
                _daemon_of[item.nodeid] = value


_seconds: Counter = Counter()  # daemon -> time its tests took (setup, call and teardown)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    daemon = _daemon_of.get(report.nodeid)
    if daemon is None:
        return
    _seconds[daemon] += report.duration
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _outcomes[daemon][report.outcome] += 1


def pytest_terminal_summary(terminalreporter) -> None:
    """One line per real daemon: how many tests ran against it, how they ended, how long."""
    for name, counts in _outcomes.items():
        if not counts:
            continue
        version = _versions.get(name)
        where = f"libvirt {version}" if version else "not reachable"
        tally = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        terminalreporter.write_line(
            f"{name} ({DAEMONS[name].uri}, {where}): {tally} in {_seconds[name]:.0f} s")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Safety net: remove whatever this run left on each daemon it used."""
    try:
        import libvirt  # noqa: F401
    except ImportError:
        return
    removed: list[str] = []
    for name, version in _versions.items():
        conn = _open(DAEMONS[name].uri, timeout=5.0) if version else None
        if conn is None:
            continue
        try:
            removed += [f"{what} ({name})" for what in remove_prefixed(conn, RUN_PREFIX)]
        finally:
            conn.close()
    if removed:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"cleanup: removed leftovers of {RUN_PREFIX}*: {', '.join(removed)}"
            )


@pytest.fixture
def make_loop_device(tmp_path):
    """``make_loop_device(size)``: a sparse file of ``size`` bytes attached to a loop device.

    A block device rather than the file: libvirt finds a mounted fs pool by its source device
    in the mount table, where a mounted file shows as the loop device mount(8) made for it.
    Detached after the test.
    """
    import subprocess
    from pathlib import Path

    attached: list[str] = []

    def make(size: int) -> Path:
        image = tmp_path / f"loop{len(attached)}.img"
        with image.open("wb") as handle:
            handle.truncate(size)
        device = subprocess.run(["losetup", "--find", "--show", str(image)],
                                capture_output=True, text=True, check=True).stdout.strip()
        attached.append(device)
        return Path(device)

    yield make
    for device in attached:
        subprocess.run(["losetup", "-d", device], check=False)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict:
    """Generated test images by name (see tests/imageserver.py)."""
    from imageserver import make_images

    return make_images(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="module")
def server(images):
    """An HTTP server on 127.0.0.1 serving ``images`` (modes: tests/imageserver.py)."""
    from imageserver import ImageServer

    with ImageServer() as srv:
        srv.files.update(images)
        yield srv


@pytest.fixture(scope="session")
def guest():
    """The tiny Debian guest (tests/guest.py): kernel, initramfs, cmdline; built once, cached."""
    from guest import build_guest

    return build_guest()


@pytest.fixture
def shared_dir(run_prefix: str):
    """A directory qemu (user libvirt-qemu) can reach: pytest's tmp_path is private to root."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp(prefix=run_prefix, dir="/var/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
