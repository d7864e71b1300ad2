"""Shared fixtures: a per-run name prefix, the real libvirt daemons, and a cleanup safety net.

Tests that create libvirt objects name them with ``run_prefix`` (``plvt-<6 hex>-``) and remove
them in their own fixtures. At session end every domain, network, pool and volume whose name
starts with the prefix is removed anyway from every daemon the run used, so a failed or
interrupted test never leaves objects behind that would collide with a rerun or a developer's
own. Objects of earlier runs that could not clean up (killed, or their daemon crashed) are
swept away the first time a run reaches a daemon, sparing those of runs going on beside it
(``tests/leftovers.py``).

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

import re
import secrets
import threading
from collections import Counter

import pytest
from daemons import DAEMONS, Daemon, unavailable
from leftovers import hold_run_lock, release_run_lock, remove_prefixed, sweep_earlier_runs
from testhosts import libvirt_hosts  # noqa: F401 - the fixture

TEST_URI = "test:///default"
RUN_PREFIX = f"plvt-{secrets.token_hex(3)}-"
_run_lock = hold_run_lock(RUN_PREFIX)  # tells later runs this prefix's objects are in use


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
_swept: dict[str, list[str]] = {}  # daemon name -> what earlier runs left there, removed


def reach(name: str) -> Daemon:
    """The daemon `name` once it answers; skips its test (fails it when required) otherwise."""
    if name not in _versions:
        conn = _open(DAEMONS[name].uri)
        _versions[name] = None
        if conn is not None:
            number = conn.getLibVersion()
            try:
                _swept[name] = sweep_earlier_runs(conn, RUN_PREFIX)
            finally:
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


_REWRITTEN_FIELD = re.compile(r"(?:: |; )([A-Za-z_][\w.\[\]]*): (?:wrote|not written)")


def rewritten_fields(stderr: str) -> list[str]:
    """The fields the provider's warnings about what libvirt stored otherwise than written
    name in ``stderr`` (at create, adopt or update, and at each preview), in order."""
    found = []
    for line in stderr.splitlines():
        if "libvirt stored some of what the program wrote otherwise" in line or (
                "no change planned for what libvirt stores otherwise" in line):
            found += _REWRITTEN_FIELD.findall(line)
    return found


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
    """One line per real daemon: how many tests ran against it, how they ended, how long; and
    what earlier runs had left there."""
    for name, removed in _swept.items():
        if removed:
            terminalreporter.write_line(
                f"{name}: removed what earlier test runs left: {', '.join(removed)}")
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
        _remove_own_leftovers(session)
    finally:
        release_run_lock(RUN_PREFIX, _run_lock)


def _remove_own_leftovers(session: pytest.Session) -> None:
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
