"""Shared fixtures: a per-run name prefix, the libvirt system URI, and a cleanup safety net.

Tests that create libvirt objects name them with ``run_prefix`` (``plvt-<6 hex>-``) and remove
them in their own fixtures. At session end every domain, network, pool and volume on
qemu:///system whose name starts with the prefix is removed anyway, so a failed or interrupted
test never leaves objects behind that would collide with a rerun or a developer's own.
"""

from __future__ import annotations

import secrets
import threading

import pytest

SYSTEM_URI = "qemu:///system"
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


@pytest.fixture(scope="session")
def system_uri() -> str:
    """``qemu:///system`` once it answers; skips when no libvirtd is reachable.

    CI never skips: ``scripts/setup.sh`` starts libvirtd (in a network namespace) first.
    """
    conn = _open(SYSTEM_URI)
    if conn is None:
        pytest.skip(f"libvirtd is not reachable on {SYSTEM_URI}; run scripts/setup.sh")
    conn.close()
    return SYSTEM_URI


def virsh(*args: str, check: bool = True) -> str:
    """``virsh -c qemu:///system ARGS``'s output; an AssertionError with its stderr on failure
    (unless ``check=False``)."""
    import subprocess

    result = subprocess.run(["virsh", "-c", SYSTEM_URI, *args], capture_output=True, text=True,
                            check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"virsh {' '.join(args)}: {result.stderr}")
    return result.stdout


@pytest.fixture
def engine(system_uri: str):
    """A harness engine on qemu:///system; whatever the test left in its state is destroyed."""
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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Safety net: remove whatever this run left on qemu:///system."""
    try:
        import libvirt  # noqa: F401
    except ImportError:
        return
    conn = _open(SYSTEM_URI, timeout=5.0)
    if conn is None:
        return
    try:
        removed = remove_prefixed(conn, RUN_PREFIX)
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
