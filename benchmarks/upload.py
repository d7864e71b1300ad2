#!/usr/bin/env python3
"""Benchmark pulumi_libvirt.upload: throughput against ``virsh vol-upload`` and peak RSS.

Creates a transient dir pool (named ``plvbench-<hex>``) under a tmp dir, serves generated images
over HTTP on 127.0.0.1 from a separate process (sendfile), and:

1. uploads a ``--size`` GiB image with our code (HTTP, sha256 verified) and with
   ``virsh vol-upload`` (the C client reading the same file from disk: the baseline), alternating,
   ``--repeat`` times each; prints MiB/s of each and the ratio (target >= 0.95); also
   ``curl | virsh vol-upload`` (the C client fed over the same HTTP server: like for like with
   our HTTP path, server CPU included) and our upload from the local file, for reference;
2. measures the peak RSS of a child process uploading ``--rss-sizes`` GiB images over HTTP
   (target <= 100 MB and flat), next to the RSS of a child that only imports the modules.

Everything it creates (pool, volumes, image files) is removed at the end.
Quick run: ``python benchmarks/upload.py --size 0.25 --rss-sizes 0.125,0.25 --repeat 1``.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import multiprocessing
import os
import resource
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1024 * 1024
GiB = 1024 * MiB


# --------------------------------------------------------------------------------------------
# Image generation and HTTP serving


def make_image(path: Path, size: int) -> str:
    """Write ``size`` bytes of random-ish data (16 random 1 MiB blocks cycled); return sha256."""
    blocks = [os.urandom(MiB) for _ in range(16)]
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left, i = size, 0
        while left:
            block = blocks[i % 16][: min(MiB, left)]
            f.write(block)
            digest.update(block)
            left -= len(block)
            i += 1
    return digest.hexdigest()


class _SendfileHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        path = Path(self.server.root) / self.path.lstrip("/")  # type: ignore[attr-defined]
        if not path.is_file():
            self.send_error(404, "Not Found")
            return
        size = path.stat().st_size
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        with open(path, "rb") as f:
            self.wfile.flush()
            self.connection.sendfile(f)


def _serve(root: str, port_queue: multiprocessing.Queue) -> None:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SendfileHandler)
    srv.root = root  # type: ignore[attr-defined]
    port_queue.put(srv.server_address[1])
    srv.serve_forever()


# --------------------------------------------------------------------------------------------
# Child: one upload with our code, result as JSON on stdout


def child_upload(args: argparse.Namespace) -> None:
    import libvirt

    from pulumi_libvirt import upload

    if args.child == "noop":  # baseline RSS: the same imports, no upload
        print(json.dumps({"noop": True, "hwm_kib": _vm_hwm_kib()}))
        return
    conn = libvirt.open(args.uri)
    vol = conn.storagePoolLookupByName(args.pool).storageVolLookupByName(args.vol)
    source = {"url": args.source} if "://" in args.source else {"path": args.source}
    if args.sha256:
        source["sha256"] = args.sha256
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    with upload.open_source(source, chunk_size=args.chunk_size, digest=bool(args.sha256)) as src:
        result = src.upload_into(conn, vol)
    seconds = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    conn.close()
    print(
        json.dumps(
            {"bytes": result.bytes, "seconds": seconds, "cpu": cpu, "hwm_kib": _vm_hwm_kib()}
        )
    )


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads
    return usage.ru_utime + usage.ru_stime


def _vm_hwm_kib() -> int:
    """This process's peak RSS (VmHWM; unlike ru_maxrss it is reset by exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def run(cmd: list[str]) -> tuple[bytes, float, float]:
    """Run ``cmd``; return (stdout, wall seconds, CPU seconds user+sys of the child)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    out = proc.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return out, wall, usage.ru_utime + usage.ru_stime


def run_child(args: argparse.Namespace, *extra: str) -> tuple[dict, float]:
    """Run this script as a child; return (its JSON, its peak RSS in MiB).

    The child reports VmHWM from /proc: ``ru_maxrss`` (wait4 / RUSAGE_CHILDREN) survives exec,
    so it would report the parent's size at fork time when that is larger.
    """
    me = [sys.executable, os.path.abspath(__file__), "--uri", args.uri]
    out, _, _ = run([*me, "--chunk-size", str(args.chunk_size), *extra])
    res = json.loads(out)
    return res, res["hwm_kib"] / 1024


# --------------------------------------------------------------------------------------------
# Parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", type=float, default=2.0, help="throughput image size in GiB")
    ap.add_argument("--rss-sizes", default="1,4", help="comma-separated GiB sizes for RSS runs")
    ap.add_argument("--repeat", type=int, default=3, help="throughput runs of each client")
    ap.add_argument("--uri", default="qemu:///system")
    ap.add_argument("--chunk-size", type=int, default=None, help="bytes per chunk (default: ours)")
    ap.add_argument("--dir", default=None, help="where to put the tmp dir (default: system tmp)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--pool", help=argparse.SUPPRESS)
    ap.add_argument("--vol", help=argparse.SUPPRESS)
    ap.add_argument("--source", help=argparse.SUPPRESS)
    ap.add_argument("--sha256", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.chunk_size is None:
        from pulumi_libvirt.upload import CHUNK_SIZE

        args.chunk_size = CHUNK_SIZE
    if args.child:
        child_upload(args)
        return

    import libvirt

    conn = libvirt.open(args.uri)
    work = Path(tempfile.mkdtemp(prefix="plvbench-", dir=args.dir))
    os.chmod(work, 0o755)
    images, target = work / "images", work / "pool"
    images.mkdir()
    target.mkdir()
    name = f"plvbench-{secrets.token_hex(3)}"
    pool = conn.storagePoolCreateXML(
        f"<pool type='dir'><name>{name}</name><target><path>{target}</path></target></pool>", 0
    )
    ports: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(str(images), ports), daemon=True)
    server.start()
    port = ports.get(timeout=10)

    def new_volume(size: int):
        vname = f"{name}-{secrets.token_hex(3)}.raw"
        return pool.createXML(
            f"<volume><name>{vname}</name><capacity>{size}</capacity><allocation>0</allocation>"
            f"<target><format type='raw'/></target></volume>",
            0,
        )

    def ours(image: Path, sha: str, via_http: bool = True) -> tuple[float, float, float]:
        """Upload with our code in a child: (MiB/s, client CPU s per GiB, peak RSS MiB).

        ``sha`` empty: no sha256 given and no digest computed.
        """
        size = image.stat().st_size
        vol = new_volume(size)
        os.sync()  # start each run without the previous run's dirty pages
        try:
            source = f"http://127.0.0.1:{port}/{image.name}" if via_http else str(image)
            extra = ["--pool", name, "--vol", vol.name(), "--source", source, "--sha256", sha]
            res, rss = run_child(args, "--child", "upload", *extra)
            assert res["bytes"] == size
            return size / MiB / res["seconds"], res["cpu"] / (size / GiB), rss
        finally:
            vol.delete(0)

    def virsh(image: Path, via_http: bool = False) -> tuple[float, float]:
        """Upload with virsh vol-upload: (MiB/s, client CPU s per GiB).

        ``via_http``: virsh reads the image from curl, over the same HTTP server as ours.
        """
        size = image.stat().st_size
        vol = new_volume(size)
        os.sync()
        try:
            cmd = ["virsh", "-q", "-c", args.uri, "vol-upload", "--pool", name, vol.name()]
            if via_http:
                url = f"http://127.0.0.1:{port}/{image.name}"
                line = f"curl -sSf {shlex.quote(url)} | {shlex.join(cmd)} /dev/stdin"
                _, wall, cpu = run(["bash", "-o", "pipefail", "-c", line])
            else:
                _, wall, cpu = run([*cmd, str(image)])
            return size / MiB / wall, cpu / (size / GiB)
        finally:
            vol.delete(0)

    try:
        print(
            f"libvirt {conn.getLibVersion()}, chunk {args.chunk_size // 1024} KiB, "
            f"pool {name} at {target}",
            flush=True,
        )
        size = int(args.size * GiB)
        image = images / "bench.raw"
        t0 = time.perf_counter()
        sha = make_image(image, size)
        print(f"generated {size / GiB:g} GiB image in {time.perf_counter() - t0:.1f}s", flush=True)
        clients = {  # key: (label, run one upload -> (MiB/s, CPU s/GiB, ...))
            "virsh": ("virsh vol-upload (file)", lambda: virsh(image)),
            "virsh-http": ("curl | virsh vol-upload", lambda: virsh(image, via_http=True)),
            "http": ("ours HTTP, sha256 verified", lambda: ours(image, sha)),
            "http-nodigest": ("ours HTTP, no digest", lambda: ours(image, "")),
            "file": ("ours file, sha256 verified", lambda: ours(image, sha, via_http=False)),
            "file-nodigest": ("ours file, no digest", lambda: ours(image, "", via_http=False)),
        }
        runs: dict[str, list[tuple[float, ...]]] = {k: [] for k in clients}
        for i in range(args.repeat):  # interleaved, so load changes hit every client alike
            for key, (_, upload_once) in clients.items():
                runs[key].append(upload_once())
            print(
                f"run {i + 1}: "
                + ", ".join(
                    f"{k} {v[-1][0]:.0f} MiB/s ({v[-1][1]:.2f} CPU s/GiB)" for k, v in runs.items()
                ),
                flush=True,
            )
        med = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
        best = {k: max(r[0] for r in v) for k, v in runs.items()}
        cpu = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
        print(
            f"throughput, {size / GiB:g} GiB, {args.repeat} runs each: median / best MiB/s, "
            "client CPU s per GiB, ratio to virsh (median, best)"
        )
        for key, (label, _) in clients.items():
            ratio = (
                ""
                if key == "virsh"
                else (f"   {med[key] / med['virsh']:.2f}x, {best[key] / best['virsh']:.2f}x")
            )
            print(
                f"  {label:28} {med[key]:6.0f} / {best[key]:6.0f}   {cpu[key]:.2f}{ratio}",
                flush=True,
            )
        image.unlink()

        _, rss0 = run_child(args, "--child", "noop")
        print(f"peak RSS of a child that only imports: {rss0:.1f} MiB", flush=True)
        for gib in (float(x) for x in args.rss_sizes.split(",") if x):
            image = images / f"rss-{gib:g}.raw"
            sha = make_image(image, int(gib * GiB))
            rate, _, rss = ours(image, sha)
            print(
                f"peak RSS uploading {gib:g} GiB over HTTP: {rss:.1f} MiB ({rate:.0f} MiB/s)",
                flush=True,
            )
            image.unlink()
    finally:
        server.terminate()
        server.join()
        for vol in pool.listAllVolumes():
            vol.delete(0)
        pool.destroy()
        conn.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
