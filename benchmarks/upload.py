#!/usr/bin/env python3
"""Benchmark pulumi_libvirt.upload against baselines measured in the same run.

Serves two generated images over HTTP on 127.0.0.1 from a separate process (sendfile): a dense
one (no zeros) and a sparse raw one (``--data`` of it is data, the rest holes). Each round runs
every client once, in an order that rotates from round to round, and prints that round's
ratios; the summary gives the median and range of each ratio over ``--rounds`` rounds.

Clients (dense image):
  ceiling        HTTP receive + sha256 in one Python thread, no libvirt: what this machine does
                 at all for the job (requests, 1 MiB reads like ours, hashlib)
  ceiling-2t     the same with receive and sha256 in two threads (our pipeline, no libvirt)
  http           ours over HTTP, sha256 verified
  http-nodigest  ours over HTTP, no digest
  curl|virsh     ``curl URL | virsh vol-upload``: the C client fed by the same server
  virsh          ``virsh vol-upload`` of the local file
  file           ours from the local file, sha256 verified
Clients (sparse image): http, http-nodigest, virsh, virsh --sparse, curl|virsh, file.

Fairness: every run uploads into a fresh raw volume created the same way (allocation 0, so
it starts sparse), after ``sync`` and after reading the image once (page cache warm); the volume
is deleted right after the run, which frees its page cache, so each run starts from the same
memory state. CPU seconds per GiB are given for the client (our Python children time the transfer
itself, without interpreter start and imports; virsh and curl count whole processes, children
included), the HTTP server process, and the libvirt daemon serving ``--uri`` (from
/proc/<pid>/stat before and after the transfer, children included; other users of that
daemon add noise, in proportion to the time a run takes).

Targets: http >= 0.95x ceiling and >= 1.5x curl|virsh; on the sparse image, http faster than
virsh without --sparse and an allocation within 10% of the image's data; peak RSS <= 100 MB
whatever the size (``--rss-sizes``). On a machine shared with others, ``--quiet 0.2`` waits
before each round until others leave the CPU (each round line says how busy it was).

Quick run: ``python benchmarks/upload.py --size 0.25 --rounds 2 --rss-sizes ''``.
Everything it creates (pool, volumes, image files) is removed at the end.
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
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

MiB = 1024 * 1024
GiB = 1024 * MiB
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------
# Images and the HTTP server


def make_dense(path: Path, size: int) -> None:
    """``size`` bytes without zero runs (16 random 1 MiB blocks, cycled)."""
    blocks = [os.urandom(MiB) for _ in range(16)]
    with open(path, "wb") as f:
        for i in range(0, size, MiB):
            f.write(blocks[(i // MiB) % 16][: min(MiB, size - i)])


def make_sparse(path: Path, size: int, data: float) -> int:
    """A sparse file of ``size`` bytes: 1 MiB of random data every ``1/data`` MiB, holes
    elsewhere. Returns the bytes of data."""
    step = max(1, round(1 / data)) * MiB
    written = 0
    with open(path, "wb") as f:
        f.truncate(size)
        for offset in range(0, size, step):
            f.seek(offset)
            written += f.write(os.urandom(min(MiB, size - offset)))
    return written


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(8 * MiB):
            digest.update(block)
    return digest.hexdigest()


def warm(path: Path) -> None:
    """Read the file once so the next run finds it in the page cache."""
    with open(path, "rb", buffering=0) as f:
        while f.read(8 * MiB):
            pass


class _SendfileHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        path = Path(self.server.root) / self.path.lstrip("/")  # type: ignore[attr-defined]
        if not path.is_file():
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(path.stat().st_size))
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
# Children: one transfer each, result as JSON on stdout


def child(args: argparse.Namespace) -> None:
    if args.child == "noop":  # baseline RSS: the same imports, no upload
        import libvirt  # noqa: F401

        from pulumi_libvirt import upload  # noqa: F401

        print(json.dumps({"hwm_kib": _vm_hwm_kib()}))
        return
    others = (args.server_pid, args.daemon_pid)
    t0, cpu0, others0 = time.perf_counter(), _cpu_seconds(), [proc_cpu(p) for p in others]
    if args.child == "ceiling":
        import requests

        resp = requests.get(args.source, stream=True, headers={"Accept-Encoding": "identity"})
        resp.raise_for_status()
        digest, done = hashlib.sha256(), 0
        while block := resp.raw.read(args.read_size):
            digest.update(block)
            done += len(block)
        assert digest.hexdigest() == args.sha256, "ceiling: digest mismatch"
    elif args.child == "ceiling-2t":
        from pulumi_libvirt import upload
        from pulumi_libvirt.upload.pipeline import Pipeline
        from pulumi_libvirt.upload.source import _hash_stage

        digest = hashlib.sha256()
        with upload.open_source({"url": args.source}, chunk_size=args.chunk_size) as src:
            done = 0
            with Pipeline(src._items(), [_hash_stage(digest)], interrupt=src._interrupt) as out:
                for item in out:
                    done += item if isinstance(item, int) else len(item)
        assert digest.hexdigest() == args.sha256, "ceiling-2t: digest mismatch"
    else:
        import libvirt

        from pulumi_libvirt import upload

        conn = libvirt.open(args.uri)
        vol = conn.storagePoolLookupByName(args.pool).storageVolLookupByName(args.vol)
        source = {"url": args.source} if "://" in args.source else {"path": args.source}
        if args.sha256:
            source["sha256"] = args.sha256
        t0, cpu0, others0 = time.perf_counter(), _cpu_seconds(), [proc_cpu(p) for p in others]
        with upload.open_source(
            source, chunk_size=args.chunk_size, digest=bool(args.sha256)
        ) as src:
            done = src.upload_into(conn, vol).bytes
        conn.close()
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    server, daemon = (proc_cpu(p) - c for p, c in zip(others, others0, strict=True))
    print(json.dumps({"bytes": done, "seconds": seconds, "cpu": cpu, "server": server,
                      "daemon": daemon, "hwm_kib": _vm_hwm_kib()}))


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


# --------------------------------------------------------------------------------------------
# Measuring processes


def proc_cpu(pid: int | None, children: bool = True) -> float:
    """CPU seconds (user + system) of ``pid`` so far, with its waited-for children; 0 if gone."""
    if not pid:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLK_TCK


def daemon_pid(uri: str) -> int | None:
    """The pid of the daemon that serves ``uri``'s storage calls on this machine, or None.

    Asked of the socket itself (SO_PEERCRED: who listens there), so a second daemon on the
    machine, in its own namespaces, is never mistaken for it.
    """
    parts = urlsplit(uri)
    if parts.hostname or "+" in parts.scheme:
        return None  # remote: not measurable here
    given = parse_qs(parts.query).get("socket")
    paths = given or [f"/run/libvirt/{name}" for name in ("virtstoraged-sock", "libvirt-sock")]
    for path in paths:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(path)
                creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        except OSError:
            continue
        return struct.unpack("3i", creds)[0]
    return None


def busy(seconds: float = 1.0) -> float:
    """Fraction of the machine's CPU time (all CPUs) spent not idle over ``seconds``."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def wait_quiet(limit: float, patience: float) -> float:
    """Wait (at most ``patience`` seconds) until others keep less than ``limit`` of the CPU
    busy; return the last busy fraction seen."""
    deadline = time.monotonic() + patience
    while True:
        now = busy()
        if now < limit or time.monotonic() > deadline:
            return now


def run(cmd: list[str]) -> tuple[bytes, float, float]:
    """Run ``cmd``; return (stdout, wall seconds, CPU seconds of it and its children)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    out = proc.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"failed ({os.waitstatus_to_exitcode(status)}): {shlex.join(cmd)}")
    return out, wall, usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------------------------
# Parent


class Bench:
    def __init__(self, args: argparse.Namespace, conn, pool, port: int, server_pid: int) -> None:
        self.args, self.conn, self.pool = args, conn, pool
        self.port, self.server_pid = port, server_pid
        self.daemon = daemon_pid(args.uri)

    def url(self, image: Path) -> str:
        return f"http://127.0.0.1:{self.port}/{image.name}"

    def fresh_volume(self, size: int):
        name = f"{self.pool.name()}-{secrets.token_hex(3)}.raw"
        return self.pool.createXML(
            f"<volume><name>{name}</name><capacity>{size}</capacity><allocation>0</allocation>"
            f"<target><format type='raw'/></target></volume>",
            0,
        )

    def measure(self, image: Path, client: Callable[[object], tuple[float, float, dict]]) -> dict:
        """One run of ``client`` on ``image``: MiB/s, CPU s/GiB of client, server and daemon,
        the volume's allocation, the client's peak RSS."""
        size = image.stat().st_size
        vol = self.fresh_volume(size) if getattr(client, "volume", True) else None
        try:
            os.sync()
            warm(image)
            self.daemon = daemon_pid(self.args.uri)  # again: a daemon may be restarted
            server0, daemon0 = proc_cpu(self.server_pid), proc_cpu(self.daemon)
            wall, cpu, extra = client(vol)
            server, daemon = proc_cpu(self.server_pid) - server0, proc_cpu(self.daemon) - daemon0
            server, daemon = extra.pop("server_cpu", server), extra.pop("daemon_cpu", daemon)
            if daemon_pid(self.args.uri) != self.daemon or daemon < 0:
                self.daemon = None  # restarted during the run: its CPU is unknown
            allocation = None
            if vol is not None:
                allocation = vol.info()[2]
                if self.args.check:
                    self.check(vol, image)
            gib = size / GiB
            return {
                "rate": size / MiB / wall,
                "cpu": cpu / gib,
                "server": server / gib,
                "daemon": daemon / gib if self.daemon else None,
                "allocation": allocation,
                **extra,
            }
        finally:
            if vol is not None:
                vol.delete(0)

    def check(self, vol, image: Path) -> None:
        out = Path(self.args.work) / "check.raw"
        subprocess.run(
            ["virsh", "-q", "-c", self.args.uri, "vol-download", "--pool", self.pool.name(),
             vol.name(), str(out)],
            check=True,
        )
        assert sha256_of(out) == sha256_of(image), f"{vol.name()} differs from {image}"
        out.unlink()

    # -- clients: each takes the fresh volume, returns (wall s, client CPU s, extra)
    def child(self, kind: str, image: Path, sha: str, source: str):
        def go(vol) -> tuple[float, float, dict]:
            cmd = [sys.executable, os.path.abspath(__file__), "--uri", self.args.uri,
                   "--chunk-size", str(self.args.chunk_size), "--child", kind,
                   "--source", source, "--sha256", sha, "--server-pid", str(self.server_pid),
                   "--daemon-pid", str(self.daemon or 0)]
            if vol is not None:
                cmd += ["--pool", self.pool.name(), "--vol", vol.name()]
            out, _, _ = run(cmd)
            res = json.loads(out)
            assert res["bytes"] == image.stat().st_size
            # the transfer alone, timed inside the child: Python's start and imports excluded,
            # and so are the daemon's and server's CPU while the child starts
            extra = {"rss": res["hwm_kib"] / 1024, "server_cpu": res["server"],
                     "daemon_cpu": res["daemon"]}
            return res["seconds"], res["cpu"], extra

        return go

    def ours(self, image: Path, sha: str, http: bool = True):
        return self.child("ours", image, sha, self.url(image) if http else str(image))

    def ceiling(self, image: Path, sha: str, threads: bool = False):
        go = self.child("ceiling-2t" if threads else "ceiling", image, sha, self.url(image))
        go.volume = False  # type: ignore[attr-defined]
        return go

    def virsh(self, image: Path, *flags: str, http: bool = False):
        def go(vol) -> tuple[float, float, dict]:
            cmd = ["virsh", "-q", "-c", self.args.uri, "vol-upload", *flags,
                   "--pool", self.pool.name(), vol.name()]
            if http:
                line = f"curl -sSf {shlex.quote(self.url(image))} | {shlex.join(cmd)} /dev/stdin"
                _, wall, cpu = run(["bash", "-o", "pipefail", "-c", line])
            else:
                _, wall, cpu = run([*cmd, str(image)])
            return wall, cpu, {}

        return go


def summarize(title: str, rounds: list[dict[str, dict]], ratios: list[tuple[str, str, str]],
              image_bytes: int, data_bytes: int) -> None:
    keys = list(rounds[0])
    print(f"\n{title}: median (min-max) over {len(rounds)} rounds")
    print(f"  {'client':16} {'MiB/s':>22} {'CPU s/GiB client':>17} {'server':>7} "
          f"{'daemon':>7} {'alloc/data':>10} {'RSS MiB':>8}")
    for key in keys:
        runs = [r[key] for r in rounds]

        def med(field: str, runs: list[dict] = runs) -> float | None:
            values = [r[field] for r in runs if r.get(field) is not None]
            return statistics.median(values) if values else None

        rates = [r["rate"] for r in runs]
        alloc = med("allocation")
        daemon = med("daemon")
        rss = max((r["rss"] for r in runs if "rss" in r), default=None)
        print(
            f"  {key:16} {statistics.median(rates):7.0f} ({min(rates):5.0f}-{max(rates):5.0f})"
            f" {med('cpu'):17.2f} {med('server'):7.2f} "
            f"{daemon if daemon is not None else float('nan'):7.2f} "
            f"{(alloc / data_bytes) if alloc is not None else float('nan'):10.2f} "
            f"{rss if rss is not None else float('nan'):8.1f}"
        )
    for label, a, b in ratios:
        values = [r[a]["rate"] / r[b]["rate"] for r in rounds]
        print(f"  ratio {label:40} median {statistics.median(values):.2f}x "
              f"(min {min(values):.2f}, max {max(values):.2f}; rounds: "
              + " ".join(f"{v:.2f}" for v in values) + ")")
    print(f"  (image {image_bytes / MiB:.0f} MiB, of which data {data_bytes / MiB:.0f} MiB)")


def print_cpu_bound(rounds: list[dict[str, dict]]) -> None:
    """What the CPUs allow ``http`` at most: every process's CPU seconds per GiB (medians) shared
    by all CPUs, against the ceiling. On few cores libvirtd's share decides it; ``virsh (local
    file) / ceiling`` shows the same bound for libvirt's own C client."""

    def med(key: str, field: str) -> float:
        values = [r[key][field] for r in rounds if r[key].get(field) is not None]
        return statistics.median(values) if values else 0.0

    per_gib = med("http", "cpu") + med("http", "server") + med("http", "daemon")
    cpus = os.cpu_count() or 1
    bound = cpus / per_gib * 1024 if per_gib else float("nan")
    print(f"  CPU bound for http: {cpus} CPUs / {per_gib:.2f} CPU-s/GiB (client + server + "
          f"daemon) = {bound:.0f} MiB/s = {bound / med('ceiling', 'rate'):.2f}x ceiling")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", type=float, default=1.0, help="image size in GiB (both images)")
    ap.add_argument("--data", type=float, default=0.1, help="data fraction of the sparse image")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds (>= 5 to report)")
    ap.add_argument("--rss-sizes", default="0.5,2",
                    help="GiB sizes of sparse HTTP uploads whose peak RSS is reported")
    ap.add_argument("--uri", default="qemu:///system", help="libvirt URI (virsh -c too)")
    ap.add_argument("--chunk-size", type=int, default=None, help="bytes per chunk (default: ours)")
    ap.add_argument("--dir", default=None, help="where to put the tmp dir (default: system tmp)")
    ap.add_argument("--check", action="store_true", help="vol-download + sha256 after each run")
    ap.add_argument("--quiet", type=float, default=1.0,
                    help="before each round, wait until other processes keep less than this "
                         "fraction of the CPU busy (e.g. 0.2; default 1: do not wait)")
    ap.add_argument("--patience", type=float, default=300,
                    help="seconds to wait for --quiet at the most, per round")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--pool", help=argparse.SUPPRESS)
    ap.add_argument("--vol", help=argparse.SUPPRESS)
    ap.add_argument("--source", help=argparse.SUPPRESS)
    ap.add_argument("--sha256", help=argparse.SUPPRESS)
    ap.add_argument("--server-pid", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--daemon-pid", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    from pulumi_libvirt.upload import CHUNK_SIZE, READ_SIZE

    args.chunk_size = args.chunk_size or CHUNK_SIZE
    args.read_size = READ_SIZE  # the ceiling reads as ours does
    if args.child:
        child(args)
        return

    import libvirt

    conn = libvirt.open(args.uri)
    work = Path(tempfile.mkdtemp(prefix="plvbench-", dir=args.dir))
    args.work = str(work)
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
    try:
        bench = Bench(args, conn, pool, ports.get(timeout=10), server.pid)
        size = int(args.size * GiB)
        dense, sparse = images / "dense.raw", images / "sparse.raw"
        make_dense(dense, size)
        data_bytes = make_sparse(sparse, size, args.data)
        dense_sha, sparse_sha = sha256_of(dense), sha256_of(sparse)
        load = os.getloadavg()
        print(f"libvirt {conn.getLibVersion()} at {args.uri} (daemon pid {bench.daemon}), "
              f"messages {args.chunk_size // 1024} KiB, reads {args.read_size // 1024} KiB, "
              f"{os.cpu_count()} CPUs, "
              f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
        clients = {
            "dense": {
                "ceiling": bench.ceiling(dense, dense_sha),
                "ceiling-2t": bench.ceiling(dense, dense_sha, threads=True),
                "http": bench.ours(dense, dense_sha),
                "http-nodigest": bench.ours(dense, ""),
                "curl|virsh": bench.virsh(dense, http=True),
                "virsh": bench.virsh(dense),
                "file": bench.ours(dense, dense_sha, http=False),
            },
            "sparse": {
                "http": bench.ours(sparse, sparse_sha),
                "http-nodigest": bench.ours(sparse, ""),
                "virsh": bench.virsh(sparse),
                "virsh --sparse": bench.virsh(sparse, "--sparse"),
                "curl|virsh": bench.virsh(sparse, http=True),
                "file": bench.ours(sparse, sparse_sha, http=False),
            },
        }
        results: dict[str, list[dict[str, dict]]] = {"dense": [], "sparse": []}
        for i in range(args.rounds):
            before = wait_quiet(args.quiet, args.patience)
            for kind, image in (("dense", dense), ("sparse", sparse)):
                keys = list(clients[kind])
                shift = i % len(keys)  # rotate the order: no client always runs first
                this: dict[str, dict] = {}
                for key in keys[shift:] + keys[:shift]:
                    this[key] = bench.measure(image, clients[kind][key])
                results[kind].append({k: this[k] for k in keys})
            d, s = results["dense"][-1], results["sparse"][-1]
            print(
                f"round {i + 1}: dense http {d['http']['rate']:.0f} MiB/s = "
                f"{d['http']['rate'] / d['ceiling']['rate']:.2f}x ceiling, "
                f"{d['http']['rate'] / d['curl|virsh']['rate']:.2f}x curl|virsh; "
                f"sparse http {s['http']['rate']:.0f} MiB/s = "
                f"{s['http']['rate'] / s['virsh']['rate']:.2f}x virsh, alloc "
                f"{s['http']['allocation'] / data_bytes:.2f}x data; machine busy before "
                f"{before:.0%}, load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        summarize("dense image", results["dense"], [
            ("http / ceiling (1 thread)", "http", "ceiling"),
            ("http / ceiling-2t", "http", "ceiling-2t"),
            ("http / curl|virsh", "http", "curl|virsh"),
            ("http / virsh (local file)", "http", "virsh"),
            ("file / virsh (local file)", "file", "virsh"),
            ("virsh (local file) / ceiling", "virsh", "ceiling"),
        ], size, size)
        print_cpu_bound(results["dense"])
        summarize("sparse image", results["sparse"], [
            ("http / virsh (no --sparse)", "http", "virsh"),
            ("http-nodigest / virsh (no --sparse)", "http-nodigest", "virsh"),
            ("http / virsh --sparse", "http", "virsh --sparse"),
            ("http / curl|virsh", "http", "curl|virsh"),
            ("file / virsh --sparse", "file", "virsh --sparse"),
        ], size, data_bytes)
        dense.unlink()
        sparse.unlink()

        rss_sizes = [float(x) for x in args.rss_sizes.split(",") if x]
        if rss_sizes:
            out, _, _ = run([sys.executable, os.path.abspath(__file__), "--child", "noop"])
            print(f"\npeak RSS of a child that only imports: "
                  f"{json.loads(out)['hwm_kib'] / 1024:.1f} MiB")
        for gib in rss_sizes:
            image = images / f"rss-{gib:g}.raw"
            make_sparse(image, int(gib * GiB), args.data)
            res = bench.measure(image, bench.ours(image, sha256_of(image)))
            print(f"peak RSS uploading {gib:g} GiB over HTTP with sha256: {res['rss']:.1f} MiB "
                  f"({res['rate']:.0f} MiB/s)", flush=True)
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
