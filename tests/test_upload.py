"""Streaming upload (pulumi_libvirt.upload) against both real daemons and a local HTTP server
(tests/imageserver.py, which documents its modes).

A transient dir pool named with the run prefix lives under a tmp dir for the module; every test
creates its own volumes and removes them.
"""

from __future__ import annotations

import gc
import hashlib
import io
import os
import secrets
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

libvirt = pytest.importorskip("libvirt")

from imageserver import ZERO_RUNS_DATA, ImageServer  # noqa: E402

from pulumi_libvirt import upload  # noqa: E402

MiB = 1024 * 1024
FAST = upload.RetryPolicy(attempts=3, backoff=0.0, sleep=lambda _s: None)
CHUNK = 256 * 1024  # small chunks so the small test images span many


# --------------------------------------------------------------------------------------------
# HTTP server and images (tests/imageserver.py)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# libvirt pool and volumes


@pytest.fixture(scope="module")
def conn(system_uri):
    c = libvirt.open(system_uri)
    yield c
    c.close()


@pytest.fixture(scope="module")
def pool(conn, run_prefix, tmp_path_factory):
    target = tmp_path_factory.mktemp("pool")
    os.chmod(target, 0o755)
    name = f"{run_prefix}upload"
    p = conn.storagePoolCreateXML(
        f"<pool type='dir'><name>{name}</name><target><path>{target}</path></target></pool>", 0
    )
    yield p
    for vol in p.listAllVolumes():
        try:
            vol.delete(0)
        except libvirt.libvirtError:
            pass
    p.destroy()


@pytest.fixture
def make_volume(pool, run_prefix):
    made = []

    def make(capacity: int, fmt: str = "raw"):
        name = f"{run_prefix}{secrets.token_hex(4)}.{fmt}"
        vol = pool.createXML(
            f"<volume><name>{name}</name><capacity>{capacity}</capacity>"
            f"<allocation>0</allocation><target><format type='{fmt}'/></target></volume>",
            0,
        )
        made.append(vol)
        return vol

    yield make
    for vol in made:
        try:
            vol.delete(0)
        except libvirt.libvirtError:
            pass


def _download(pool, vol, tmp_path: Path) -> bytes:
    out = tmp_path / f"dl-{secrets.token_hex(4)}"
    subprocess.run(
        [
            "virsh",
            "-c",
            pool.connect().getURI(),  # the system_uri fixture's daemon
            "vol-download",
            "--pool",
            pool.name(),
            vol.name(),
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    data = out.read_bytes()
    out.unlink()
    return data


# --------------------------------------------------------------------------------------------
# Pure parts


def test_validate_source_accepts_good_dicts():
    assert upload.validate_source({"url": "https://h/x.qcow2"}) == []
    assert upload.validate_source({"url": "file:///srv/x.img", "sha256": "a" * 64}) == []
    assert upload.validate_source({"path": "/srv/x.img", "sha256": "AB" * 32}) == []
    assert upload.validate_source({"url": "http://h/x", "headers": {"Authorization": "t"}}) == []


@pytest.mark.parametrize(
    "source, field, words",
    [
        ({}, "url", "one of 'url' or 'path'"),
        ({"url": "http://h/x", "path": "/x"}, "url", "not both"),
        ({"url": "ftp://h/x"}, "url", "http, https or file"),
        ({"url": "http:///x"}, "url", "no host"),
        ({"url": 3}, "url", "must be a string"),
        ({"path": "rel/x.img"}, "path", "absolute"),
        ({"path": "/x", "sha256": "abc"}, "sha256", "64 hexadecimal characters, got 3"),
        ({"path": "/x", "sha256": "g" * 64}, "sha256", "hexadecimal"),
        ({"url": "http://h/x", "headers": ["a"]}, "headers", "dict"),
        ({"url": "http://h/x", "headers": {"A": 1}}, "headers", "must be a string"),
        ({"url": "http://h/x", "headers": {"A": "x\r\nB: y"}}, "headers", "line breaks"),
        ({"path": "/x", "headers": {"A": "b"}}, "headers", "only used with http"),
        ({"url": "http://h/x", "sha": "a"}, "sha", "did you mean 'sha256'"),
    ],
)
def test_validate_source_names_the_field(source, field, words):
    problems = upload.validate_source(source)
    assert any(f == field and words in m for f, m in problems), problems
    with pytest.raises(upload.SourceError, match=f"source.{field}"):
        upload.open_source(source)


def test_validate_source_skips_unknowns():
    class Unknown:
        pass

    problems = upload.validate_source(
        {"url": Unknown(), "sha256": Unknown()}, is_unknown=lambda v: isinstance(v, Unknown)
    )
    assert problems == []
    assert upload.validate_source("x") == [("source", "must be a dict with either 'url' or 'path'")]


def test_sniff_format(images):
    assert upload.sniff_format(images["disk.qcow2"].read_bytes()[:65536]) == "qcow2"
    assert upload.sniff_format(images["random.raw"].read_bytes()[:65536]) in ("raw",)
    assert upload.sniff_format(b"KDMV" + bytes(100)) == "vmdk"
    assert upload.sniff_format(b"vhdxfile" + bytes(100)) == "vhdx"
    assert upload.sniff_format(bytes(0x40) + b"\x7f\x10\xda\xbe") == "vdi"
    assert upload.sniff_format(bytes(0x8001) + b"CD001" + bytes(10)) == "iso"
    assert upload.sniff_format(b"") == "raw"
    upload.check_format("iso", "raw")  # an ISO is raw data
    upload.check_format("raw", "iso")
    upload.check_format("qcow2", None)
    with pytest.raises(upload.SourceError, match="image is qcow2 but the volume format is raw"):
        upload.check_format("qcow2", "raw")
    with pytest.raises(upload.SourceError, match="volume format is qcow2 but the image is raw"):
        upload.check_format("raw", "qcow2")


def test_split_zeros_finds_aligned_blocks_only():
    from pulumi_libvirt.upload.sparse import MIN_HOLE, split_zeros

    block = MIN_HOLE
    data = b"x" * 100 + bytes(3 * block) + b"y" * 10
    # at offset 0 the zeros from 100 cover two whole aligned blocks: [block, 3 * block)
    pieces = split_zeros(data, 0)
    assert pieces == [data[:block], 2 * block, data[3 * block :]]
    assert b"".join(p if isinstance(p, bytes) else bytes(p) for p in pieces) == data
    # the same bytes found at an offset that aligns their zero run: three blocks
    assert split_zeros(data, block - 100) == [data[:100], 3 * block, data[-10:]]
    dense = os.urandom(4 * block)
    assert split_zeros(dense, 0) == [dense]
    assert split_zeros(bytes(block - 1), 0) == [bytes(block - 1)]  # too short for a hole
    assert split_zeros(bytes(2 * block), 0) == [2 * block]


def test_pipeline_failing_stage_stops_reader_and_caller():
    """A stage that fails mid-way: the caller gets its error, the endless reader is stopped
    (its iterator closed, in its own thread) and no thread is left."""
    from pulumi_libvirt.upload.pipeline import Pipeline

    closed = threading.Event()

    def endless():
        try:
            while True:
                yield b"x" * 1024
        finally:
            closed.set()

    seen = []

    def fails_at_100(item) -> None:
        seen.append(item)
        if len(seen) == 100:
            raise ValueError("stage broke")

    received = 0
    with pytest.raises(ValueError, match="stage broke"):
        with Pipeline(endless(), [fails_at_100]) as items:
            for _item in items:
                received += 1
    assert received < 100 and closed.is_set()
    assert not [t for t in threading.enumerate() if t.name.startswith("upload-")]


# --------------------------------------------------------------------------------------------
# Uploads


def test_url_upload_is_byte_identical(server, images, conn, pool, make_volume, tmp_path):
    data = images["random.raw"].read_bytes()
    url = server.url("normal", "random.raw")
    src = upload.open_source({"url": url, "sha256": _sha(data)}, chunk_size=CHUNK)
    with src:
        assert src.size == len(data)
        assert src.format == "raw"
        src.check_format("raw")
        vol = make_volume(src.size)
        result = src.upload_into(conn, vol)
    assert result.bytes == len(data) == result.sent
    assert result.sha256 == _sha(data)
    assert result.resumes == 0
    assert _sha(_download(pool, vol, tmp_path)) == _sha(data)
    assert [r[1] for r in server.requests_for(url)] == [None]  # one GET, no Range


def test_qcow2_url_upload(server, images, conn, pool, make_volume, tmp_path):
    data = images["disk.qcow2"].read_bytes()
    with upload.open_source({"url": server.url("normal", "disk.qcow2")}) as src:
        assert src.format == "qcow2"
        src.check_format("qcow2")
        vol = make_volume(src.size, "qcow2")
        result = src.upload_into(conn, vol)
    assert result.sha256 == _sha(data)
    assert _sha(_download(pool, vol, tmp_path)) == _sha(data)
    info = subprocess.run(
        ["qemu-img", "info", "--output=json", vol.path()], capture_output=True, text=True
    )
    assert '"format": "qcow2"' in info.stdout


def test_file_upload_is_byte_identical(images, conn, pool, make_volume, tmp_path):
    path = images["random.raw"]
    data = path.read_bytes()
    for source in ({"path": str(path)}, {"url": path.as_uri(), "sha256": _sha(data)}):
        with upload.open_source(source, chunk_size=CHUNK) as src:
            assert isinstance(src, upload.FileSource)
            assert src.size == len(data)
            vol = make_volume(src.size)
            result = src.upload_into(conn, vol)
        assert result.sha256 == _sha(data)
        assert result.sparse  # the host supports sparse streams
        assert _sha(_download(pool, vol, tmp_path)) == _sha(data)


class _RecordingConn:
    """A libvirt connection whose streams record whether they were finished or aborted."""

    def __init__(self, conn) -> None:
        self._conn = conn
        self.streams: list[_RecordingStream] = []

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def newStream(self, flags: int = 0):  # noqa: N802 (libvirt's API)
        stream = _RecordingStream(self._conn.newStream(flags))
        self.streams.append(stream)
        return stream


class _RecordingStream:
    def __init__(self, stream) -> None:
        self._stream = stream
        self.ended: list[str] = []

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def abort(self):
        self.ended.append("abort")
        return self._stream.abort()

    def finish(self):
        self.ended.append("finish")
        return self._stream.finish()


def _sockets_to(port: int) -> list[str]:
    """This process's open TCP sockets whose peer is 127.0.0.1:``port`` (with their state)."""
    peers = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state, inode = fields[2], fields[3], fields[9]
        if remote == f"0100007F:{port:04X}":
            peers[inode] = state
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:[") and target[8:-1] in peers:
            found.append(f"fd {fd} (tcp state {peers[target[8:-1]]})")
    return found


def _opened(path: Path) -> list[str]:
    """This process's file descriptors open on ``path``."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path.resolve()):
                found.append(f"fd {fd} ({path.name})")
        except OSError:
            continue
    return found


def test_sha256_mismatch(images, conn, make_volume):
    """A wrong digest fails the upload, and leaves nothing open: the stream aborted, the
    image file closed, no connection to the server (the garbage collector held off, so that
    only explicit closing counts)."""
    data = images["small.raw"].read_bytes()
    wrong = "0" * 64
    threads = threading.active_count()
    recording = _RecordingConn(conn)
    with ImageServer() as server:  # its own port: no other test's connections
        server.files.update(images)
        port = server.server_address[1]
        left_open = []
        gc.disable()
        try:
            for source in (
                {"url": server.url("normal", "small.raw"), "sha256": wrong},
                {"path": str(images["small.raw"]), "sha256": wrong},
            ):
                src = upload.open_source(source, chunk_size=CHUNK)
                vol = make_volume(src.size)
                with pytest.raises(upload.IntegrityError) as err:
                    src.upload_into(recording, vol)
                # the source is still referenced: only its own closing counts
                left_open += _sockets_to(port) + _opened(images["small.raw"])
                assert wrong in str(err.value) and _sha(data) in str(err.value)
        finally:
            gc.enable()
    assert [s.ended for s in recording.streams] == [["abort"], ["abort"]]
    assert left_open == []
    assert threading.active_count() == threads
    conn.getLibVersion()  # the connection is still fine after aborted streams


def test_404_is_clear(server):
    url = server.url("normal", "missing.img")
    with pytest.raises(upload.TransferError) as err:
        upload.open_source({"url": url, "headers": {"Authorization": "Bearer s3cr3t"}})
    assert str(err.value) == f"GET {url} returned 404 Not Found"
    assert server.requests_for(url)[0][3] == "Bearer s3cr3t"  # headers were sent
    assert "s3cr3t" not in str(err.value)


def test_connection_refused_is_clear():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        url = f"http://127.0.0.1:{port}/img.raw?token=secret"
        with pytest.raises(upload.TransferError) as err:
            upload.open_source({"url": url}, retry=FAST)
    msg = str(err.value)
    assert f"http://127.0.0.1:{port}/img.raw" in msg and "connection refused" in msg
    assert "secret" not in msg  # the query may hold credentials


def test_resume_with_range_after_drop(server, images, conn, pool, make_volume, tmp_path, capfd):
    data = images["random.raw"].read_bytes()
    url = server.url("drop", "random.raw")
    source = {"url": url, "sha256": _sha(data), "headers": {"Authorization": "Bearer t0k"}}
    with upload.open_source(source, retry=FAST, chunk_size=CHUNK) as src:
        vol = make_volume(src.size)
        result = src.upload_into(conn, vol, progress=upload.StderrProgress("vol", interval=60))
    assert result.resumes == 1 and src.restarts == 0
    ranges = [r[1] for r in server.requests_for(url)]
    assert ranges[0] is None and ranges[1] == f"bytes={int(len(data) * 0.3)}-", ranges
    assert [r[2] for r in server.requests_for(url)] == [200, 206]
    assert [r[3] for r in server.requests_for(url)] == ["Bearer t0k"] * 2  # headers on resume too
    assert _sha(_download(pool, vol, tmp_path)) == _sha(data)
    assert "retry 1/3" in capfd.readouterr().err


def test_restart_when_server_ignores_range(server, images, conn, pool, make_volume, tmp_path):
    data = images["random.raw"].read_bytes()
    url = server.url("norange-drop", "random.raw")
    with upload.open_source(
        {"url": url, "sha256": _sha(data)}, retry=FAST, chunk_size=CHUNK
    ) as src:
        vol = make_volume(src.size)
        result = src.upload_into(conn, vol)
    assert src.restarts == 1 and result.resumes == 1
    assert [r[2] for r in server.requests_for(url)] == [200, 200]
    assert server.requests_for(url)[1][1] is not None  # we did ask for a Range
    assert result.sha256 == _sha(data)
    assert _sha(_download(pool, vol, tmp_path)) == _sha(data)


def test_gives_up_after_bounded_retries(images, conn, make_volume):
    """After giving up, nothing of the upload is left open: the libvirt stream was aborted
    and no connection to the server remains (checked on the server's own port, with the
    garbage collector held off, so that only explicit closing counts)."""
    sleeps: list[float] = []
    policy = upload.RetryPolicy(attempts=3, backoff=0.5, max_backoff=1.0, sleep=sleeps.append)
    recording = _RecordingConn(conn)
    with ImageServer() as server:  # its own port: no other test's connections
        server.files.update(images)
        url = server.url("alwaysdrop", "random.raw")
        port = server.server_address[1]
        gc.disable()
        try:
            with upload.open_source({"url": url}, retry=policy, chunk_size=CHUNK) as src:
                vol = make_volume(src.size)
                with pytest.raises(upload.TransferError) as err:
                    src.upload_into(recording, vol)
            left_open = _sockets_to(port)
        finally:
            gc.enable()
    msg = str(err.value)
    reached = int(os.path.getsize(images["random.raw"]) * 0.3)
    assert url in msg and f"after {reached} of" in msg and "gave up after 3 retries" in msg
    assert sleeps == [0.5, 1.0, 1.0]  # exponential, capped
    assert len(server.requests_for(url)) == 4  # the first try and 3 retries
    assert [s.ended for s in recording.streams] == [["abort"]]
    assert left_open == []
    vol.delete(0)  # the volume is the caller's to delete, and it can be


@pytest.mark.parametrize("mode", ["nolength", "chunked"])
def test_no_content_length(mode, server, images, conn, pool, make_volume, tmp_path):
    data = images["random.raw"].read_bytes()
    with upload.open_source({"url": server.url(mode, "random.raw")}, chunk_size=CHUNK) as src:
        assert src.size is None
        vol = make_volume(4 * MiB)
        result = src.upload_into(conn, vol)
    assert result.bytes == len(data) and result.sha256 == _sha(data)
    back = _download(pool, vol, tmp_path)
    assert back[: len(data)] == data and not back[len(data) :].strip(b"\0")


def test_no_content_length_too_big_for_volume(server, images, conn, make_volume):
    with upload.open_source({"url": server.url("nolength", "random.raw")}) as src:
        vol = make_volume(2 * MiB)
        with pytest.raises(
            upload.CapacityError, match=f"larger than the volume's capacity {2 * MiB} bytes"
        ):
            src.upload_into(conn, vol)


def test_known_size_too_big_for_volume(images, conn, make_volume):
    with upload.open_source({"path": str(images["random.raw"])}) as src:
        vol = make_volume(MiB)
        with pytest.raises(upload.CapacityError, match=f"capacity {MiB} bytes"):
            src.upload_into(conn, vol)
    assert vol.info()[2] == 0  # nothing written


def test_sparse_file_upload(images, conn, pool, make_volume, tmp_path):
    path = images["sparse.raw"]
    data = path.read_bytes()
    with upload.open_source({"path": str(path), "sha256": _sha(data)}) as src:
        assert src.info.data_size == src.info.space_needed  # known from the holes, not read
        vol = make_volume(src.size)
        result = src.upload_into(conn, vol)
    assert result.sent == src.info.data_size  # what the pool had to make room for
    assert result.sparse and result.bytes == len(data) == 8 * MiB
    assert result.sent < 3 * MiB  # 2 MiB of data + a small run, not 8 MiB
    assert result.sha256 == _sha(data)  # holes hashed as zeros
    vol_alloc = vol.info()[2]
    assert vol_alloc < 4 * MiB, vol_alloc  # the volume stayed sparse
    assert _sha(_download(pool, vol, tmp_path)) == _sha(data)


class _NoSparseVolume:
    """A volume proxy whose host refuses sparse streams (as an old libvirt would)."""

    def __init__(self, vol) -> None:
        self._vol = vol

    def __getattr__(self, name):
        return getattr(self._vol, name)

    def upload(self, stream, offset, length, flags=0):
        if flags:
            raise libvirt.libvirtError(f"unsupported flags (0x{flags:x}) in function upload")
        return self._vol.upload(stream, offset, length, flags)


def test_sparse_fallback_to_plain_stream(images, conn, pool, make_volume, tmp_path, capfd):
    path = images["sparse.raw"]
    data = path.read_bytes()
    with upload.open_source({"path": str(path)}) as src:
        vol = make_volume(src.size)
        result = src.upload_into(conn, _NoSparseVolume(vol), progress=upload.StderrProgress("v"))
    assert not result.sparse and result.sent == len(data)
    assert _sha(_download(pool, vol, tmp_path)) == _sha(data)
    assert "sparse upload refused" in capfd.readouterr().err


def test_format_mismatch_raises_before_writing(server, images, make_volume):
    with upload.open_source({"url": server.url("normal", "disk.qcow2")}) as src:
        vol = make_volume(src.size)
        with pytest.raises(upload.SourceError) as err:
            src.check_format("raw")
    assert "qcow2" in str(err.value) and "raw" in str(err.value)
    with upload.open_source({"path": str(images["small.raw"])}) as src:
        with pytest.raises(upload.SourceError, match="volume format is qcow2 but the image is raw"):
            src.check_format("qcow2")
    assert vol.info()[2] == 0  # not a byte written


def test_progress_lines_on_stderr(server, images, conn, make_volume, capfd):
    url = server.url("normal", "random.raw")
    with upload.open_source({"url": url}, chunk_size=CHUNK) as src:
        vol = make_volume(src.size)
        src.upload_into(conn, vol, progress=upload.StderrProgress("volume 'x'", interval=0))
    lines = capfd.readouterr().err.splitlines()
    ours = [line for line in lines if line.startswith("volume 'x': ")]
    assert ours[0].startswith("volume 'x': uploading (3.0 MiB)")
    assert any("%" in line and "MiB/s" in line and "ETA" in line for line in ours)
    assert "done, 3.0 MiB" in ours[-1]
    assert len(ours) > 5


def test_progress_is_rate_limited():
    now = [0.0]
    out = io.StringIO()
    p = upload.StderrProgress("v", interval=5, stream=out, clock=lambda: now[0])
    p.start(None)
    for i in range(100):
        now[0] = i * 0.1  # 10 s in total
        p.update(i * MiB)
    p.finish(100 * MiB, ok=True)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines  # start, one update (at t=5), done
    assert lines[1] == "v: 50.0 MiB, 10.0 MiB/s"


def test_tls_error_is_clear_and_not_retried(images, tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    srv = ImageServer()
    srv.files.update(images)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    sleeps: list[float] = []
    try:
        url = f"https://127.0.0.1:{srv.server_address[1]}/normal/x/small.raw"
        with pytest.raises(upload.TransferError) as err:
            upload.open_source({"url": url}, retry=upload.RetryPolicy(sleep=sleeps.append))
    finally:
        srv.shutdown()
        srv.server_close()
    assert str(err.value).startswith(f"GET {url} failed: TLS error: ")
    assert "certificate" in str(err.value)
    assert sleeps == []  # a certificate problem is not retried


def test_server_error_is_retried(server, images, conn, make_volume):
    url = server.url("flaky", "small.raw")
    sleeps: list[float] = []
    with upload.open_source({"url": url}, retry=upload.RetryPolicy(sleep=sleeps.append)) as src:
        vol = make_volume(src.size)
        result = src.upload_into(conn, vol)
    assert [r[2] for r in server.requests_for(url)] == [503, 200]
    assert sleeps == [0.5] and result.sha256 == _sha(images["small.raw"].read_bytes())
    with pytest.raises(
        upload.TransferError, match="failed: the server answered 503 Service Unavailable"
    ):
        upload.open_source(
            {"url": server.url("flaky", "small.raw")},
            retry=upload.RetryPolicy(attempts=0, sleep=sleeps.append),
        )


def test_digest_can_be_skipped(server, images, conn, pool, make_volume, tmp_path):
    data = images["random.raw"].read_bytes()
    with upload.open_source({"url": server.url("normal", "random.raw")}, digest=False) as src:
        vol = make_volume(src.size)
        result = src.upload_into(conn, vol)
    assert result.sha256 is None and result.bytes == len(data)
    assert _sha(_download(pool, vol, tmp_path)) == _sha(data)
    source = {"path": str(images["small.raw"]), "sha256": "0" * 64}
    with upload.open_source(source, digest=False) as src:  # a given sha256 is always checked
        with pytest.raises(upload.IntegrityError):
            src.upload_into(conn, make_volume(src.size))


# --------------------------------------------------------------------------------------------
# Zero runs become holes; the digest covers every byte


def _allocated(vol) -> int:
    return vol.info()[2]


@pytest.mark.parametrize("via", ["http", "file"])
@pytest.mark.parametrize("digest", [True, False], ids=["sha256", "no-digest"])
def test_zero_runs_arrive_as_holes(via, digest, server, images, conn, pool, make_volume, tmp_path):
    path = images["zeros.raw"]
    data = path.read_bytes()
    assert os.stat(path).st_blocks * 512 >= len(data)  # zeros written out: no holes in the file
    source = {"url": server.url("normal", "zeros.raw")} if via == "http" else {"path": str(path)}
    if digest:
        source["sha256"] = _sha(data)
    with upload.open_source(source, chunk_size=CHUNK, digest=digest) as src:
        vol = make_volume(src.size)
        result = src.upload_into(conn, vol)
    assert result.sparse and result.bytes == len(data)
    assert result.sha256 == (_sha(data) if digest else None)  # zeros hashed too
    assert ZERO_RUNS_DATA <= result.sent < ZERO_RUNS_DATA + 256 * 1024  # data and odd edges
    assert _allocated(vol) < ZERO_RUNS_DATA * 1.1 + 64 * 1024, _allocated(vol)
    assert vol.info()[1] == len(data)
    assert _sha(_download(pool, vol, tmp_path)) == _sha(data)


def test_bigger_raw_volume_keeps_its_capacity(server, images, conn, pool, make_volume, tmp_path):
    data = images["zeros.raw"].read_bytes()
    with upload.open_source({"url": server.url("normal", "zeros.raw")}) as src:
        vol = make_volume(64 * MiB)
        src.upload_into(conn, vol)
    assert vol.info()[1] == 64 * MiB  # libvirt truncates where a sparse stream ends: not here
    assert _allocated(vol) < 3 * MiB
    back = _download(pool, vol, tmp_path)
    assert back[: len(data)] == data and len(back) == 64 * MiB
    assert not back[len(data) :].strip(b"\0")


@pytest.mark.parametrize("target", ["qcow2-volume", "used-raw-volume"])
def test_zeros_overwrite_what_the_volume_held(target, server, images, conn, pool, make_volume,
                                              tmp_path):
    """A hole keeps the bytes under it: where the volume is not known to read as zeros (a
    fresh qcow2 volume's header, a raw volume written before) zeros are sent as data."""
    data = images["zeros.raw"].read_bytes()
    if target == "qcow2-volume":
        vol = make_volume(len(data), "qcow2")
        assert _allocated(vol) > 0  # its header, in the first MiB, where the image has zeros
    else:
        vol = make_volume(len(data))
        with upload.open_source({"path": str(images["random.raw"])}) as src:
            src.upload_into(conn, vol)
    with upload.open_source({"url": server.url("normal", "zeros.raw"), "sha256": _sha(data)},
                            chunk_size=CHUNK) as src:
        result = src.upload_into(conn, vol)
    assert result.sent >= MiB  # at least the zeros over the old bytes went as data
    assert _sha(_download(pool, vol, tmp_path)) == _sha(data)


def test_wrong_sha256_with_zero_runs(server, images, conn, pool, make_volume):
    data = images["zeros.raw"].read_bytes()
    for source in ({"url": server.url("normal", "zeros.raw"), "sha256": "0" * 64},
                   {"path": str(images["zeros.raw"]), "sha256": "0" * 64}):
        with upload.open_source(source) as src:
            vol = make_volume(src.size)
            with pytest.raises(upload.IntegrityError, match=f"got {_sha(data)}"):
                src.upload_into(conn, vol)


def test_bytes_source(conn, pool, images, make_volume, tmp_path):
    data = images["zeros.raw"].read_bytes()
    src = upload.BytesSource(bytearray(data), "seed.iso", _sha(data))
    assert (src.size, src.format, src.description) == (len(data), "raw", "seed.iso")
    vol = make_volume(src.size)
    result = src.upload_into(conn, vol)
    assert result.sent < 3 * MiB and result.sha256 == _sha(data)
    assert _sha(_download(pool, vol, tmp_path)) == _sha(data)
    with pytest.raises(upload.IntegrityError):
        upload.BytesSource(data, "seed.iso", "0" * 64).upload_into(conn, make_volume(len(data)))


# --------------------------------------------------------------------------------------------
# Stages: a failure anywhere stops the others promptly


def _upload_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("upload-")]


def _stalled_upload(images, conn, volume, progress=None):
    """Upload from a server that stalls after 30% (the reader blocks in a socket read).

    Returns what upload_into raised, the seconds it took, the sockets left open to the server
    and the libvirt streams it used.
    """
    recording = _RecordingConn(conn)
    error: BaseException | None = None
    with ImageServer() as server:  # its own port: no other test's connections
        server.files.update(images)
        gc.disable()  # only explicit closing counts
        try:
            src = upload.open_source(
                {"url": server.url("stall", "random.raw")}, chunk_size=CHUNK
            )
            started = time.monotonic()
            try:
                src.upload_into(recording, volume, progress=progress)
            except BaseException as e:  # noqa: BLE001 (KeyboardInterrupt is the point)
                error = e
            seconds = time.monotonic() - started
            left_open = _sockets_to(server.server_address[1])
        finally:
            gc.enable()
    return error, seconds, left_open, recording.streams


def test_writer_failure_stops_a_blocked_reader(images, conn, make_volume):
    """The reader waits on a server that stalls; the volume fills up: the upload fails at once
    (not after the 60 s read timeout) and no thread, socket or stream is left."""
    # the server sends 900 KB and stalls: the reader has handed over the first 64 KiB and
    # waits for the rest of its 1 MiB read
    vol = make_volume(32 * 1024)
    error, seconds, left_open, streams = _stalled_upload(images, conn, vol)
    assert isinstance(error, upload.CapacityError), error
    assert seconds < 10 and left_open == [] and _upload_threads() == []
    assert [s.ended for s in streams] == [["abort"]]
    conn.getLibVersion()


def test_cancel_stops_every_stage(images, conn, make_volume):
    """An interrupt in the caller (Ctrl-C, a cancelled deployment) while the reader is blocked."""

    class Cancel(upload.Progress):
        def update(self, done: int) -> None:
            if done >= 64 * 1024:  # the first bytes are in; the reader waits on the server
                raise KeyboardInterrupt

    error, seconds, left_open, streams = _stalled_upload(
        images, conn, make_volume(4 * MiB), Cancel()
    )
    assert isinstance(error, KeyboardInterrupt), error
    assert seconds < 10 and left_open == [] and _upload_threads() == []
    assert [s.ended for s in streams] == [["abort"]]


def test_reader_failure_stops_the_upload(server, images, conn, make_volume):
    """A source that breaks mid-way (the file shrinks under us): its error, promptly."""
    path = images["random.raw"].parent / "shrinking.raw"
    path.write_bytes(images["random.raw"].read_bytes())
    with upload.open_source({"path": str(path)}, chunk_size=CHUNK) as src:
        os.truncate(path, MiB)
        vol = make_volume(src.size)
        with pytest.raises(upload.TransferError, match="file shrank to"):
            src.upload_into(conn, vol)
    assert _upload_threads() == []
