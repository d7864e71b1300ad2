"""A threaded HTTP image server on 127.0.0.1 for upload tests, and the images it serves.

Files are served under ``/<mode>/<uid>/<file>`` where mode is one of:

- ``normal``: Content-Length, ETag, Range support;
- ``drop``: like normal, but the first response for that path dies at 30%;
- ``alwaysdrop``: every response dies at 30%;
- ``norange-drop``: ignores Range (always 200) and the first response dies at 30%;
- ``nolength``: no Content-Length, body delimited by closing the connection;
- ``chunked``: Transfer-Encoding: chunked;
- ``flaky``: the first request for that path answers 503, later ones like normal;
- ``stall``: no Content-Length; sends 30% of the body, then nothing until the client leaves,
  the server stops or 60 s pass: a read that only an interrupt ends early.

Unknown files answer 404. The server logs (path, Range header, status, Authorization header).
"""

from __future__ import annotations

import hashlib
import http.server
import os
import secrets
import select
import socket
import subprocess
import threading
import time
from pathlib import Path

MiB = 1024 * 1024


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ImageServer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        srv = self.server
        parts = self.path.split("/", 3)  # "", mode, uid, name
        rng = self.headers.get("Range")
        auth = self.headers.get("Authorization")
        mode = parts[1] if len(parts) == 4 else ""
        path = srv.files.get(parts[3]) if len(parts) == 4 else None
        if path is None:
            srv.log.append((self.path, rng, 404, auth))
            self.send_error(404, "Not Found")
            return
        first = self.path not in srv.dropped
        if mode == "flaky" and first:
            srv.dropped.add(self.path)
            srv.log.append((self.path, rng, 503, auth))
            self.send_error(503, "Service Unavailable")
            return
        data = path.read_bytes()
        size = len(data)
        drop = mode == "alwaysdrop" or (mode in ("drop", "norange-drop") and first)
        start, status = 0, 200
        if mode == "stall":
            srv.log.append((self.path, rng, 200, auth))
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data[: int(size * 0.3)])
            self.wfile.flush()
            deadline = time.monotonic() + 60
            while not srv.stopping.is_set() and time.monotonic() < deadline:
                readable, _, _ = select.select([self.connection], [], [], 0.1)
                if readable and not self.connection.recv(1):
                    break  # the client went away
            self.close_connection = True
            return
        if rng and mode not in ("norange-drop", "nolength", "chunked"):
            start = int(rng.split("=")[1].split("-")[0])
            status = 206
        srv.log.append((self.path, rng, status, auth))
        self.send_response(status)
        self.send_header("ETag", f'"{hashlib.md5(data).hexdigest()}"')
        body = data[start:]
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        if mode == "nolength":
            self.send_header("Connection", "close")
            self.close_connection = True
        elif mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if drop:
            srv.dropped.add(self.path)
            cut = max(0, int(size * 0.3) - start)
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if mode == "chunked":
            for i in range(0, len(body), 100_000):
                piece = body[i : i + 100_000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(body)


class ImageServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # quiet (TLS test, drops)
        pass

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, Path] = {}
        self.dropped: set[str] = set()
        self.stopping = threading.Event()
        self.log: list[tuple[str, str | None, int, str | None]] = []

    def url(self, mode: str, name: str) -> str:
        """A fresh URL (new uid, so drop-once state is per test) for a served file."""
        return f"http://127.0.0.1:{self.server_address[1]}/{mode}/{secrets.token_hex(4)}/{name}"

    def requests_for(self, url: str) -> list[tuple[str, str | None, int, str | None]]:
        path = "/" + url.split("/", 3)[3]
        return [entry for entry in self.log if entry[0] == path]

    def __enter__(self) -> ImageServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


def make_images(d: Path) -> dict[str, Path]:
    """Test images in directory ``d``: random raw files, a qcow2 with data, a sparse file."""
    raw = d / "random.raw"
    raw.write_bytes(os.urandom(3 * MiB + 12345))  # not a multiple of any chunk size
    small = d / "small.raw"
    small.write_bytes(os.urandom(300_000))
    # qcow2 with data: converted from a random raw file
    seed = d / "seed.raw"
    seed.write_bytes(os.urandom(MiB) + bytes(MiB) + os.urandom(512 * 1024))
    qcow = d / "disk.qcow2"
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(seed), str(qcow)],
        check=True,
        capture_output=True,
    )
    # sparse: 8 MiB with 1 MiB of data at 0 and at 4 MiB, a trailing hole, and a tiny gap
    sparse = d / "sparse.raw"
    with open(sparse, "wb") as f:
        f.truncate(8 * MiB)
        f.write(os.urandom(MiB))
        f.seek(4 * MiB)
        f.write(os.urandom(MiB))
        f.seek(4 * MiB + MiB + 8192)  # 8 KiB gap: below MIN_HOLE, sent as data
        f.write(os.urandom(100_000))
    return {
        "random.raw": raw,
        "small.raw": small,
        "disk.qcow2": qcow,
        "sparse.raw": sparse,
        "zeros.raw": make_zero_runs(d / "zeros.raw"),
    }


#: Bytes of data in ``make_zero_runs``'s image (what a sparse copy of it must allocate, about).
ZERO_RUNS_DATA = 2 * MiB + 100_000


def make_zero_runs(path: Path) -> Path:
    """16 MiB written in full (no holes in the file) with large runs of zeros: zeros first
    (where a fresh qcow2 volume has its header), data, zeros, 100 KB of data at an odd offset,
    zeros, data, and zeros to the end."""
    with open(path, "wb") as f:
        f.write(bytes(MiB))
        f.write(os.urandom(MiB))
        f.write(bytes(4 * MiB + 1000))
        f.write(os.urandom(100_000))
        f.write(bytes(12 * MiB - f.tell()))
        f.write(os.urandom(MiB))
        f.write(bytes(16 * MiB - f.tell()))
    return path
