#!/usr/bin/env python3
"""One program over several libvirt hosts: parallel creation and refresh through the provider
host, against serial calls, over qemu+ssh to test hosts (scripts/test-hosts.sh). Run as root.

    python benchmarks/hosts.py [--hosts 3] [--domains 100] [--volumes 30] [--set bench]
                               [--delay-ms D] [--ssh-modes N]

Brings up the test hosts (unless they are up), then:

- parallel: ``Engine.up`` of one program with a dir pool per host, the volumes and the domains
  (defined, never started) spread over the hosts, through the SDK's provider host (4 workers),
  registrations concurrent as in ``pulumi up``;
- serial (the baseline): the same Check and Create calls sent one at a time to a provider host,
  and the same calls 4 at a time (the provider host's workers; the pools first);
- refresh: ``Engine.refresh`` of everything (Read of each resource, concurrent);

and prints each time, the resources per second and the ratios. Domains use ``Domain`` when the
package has it, else a stand-in provider that defines the same minimal domain through the same
connection layer (tests/probes.py). The test hosts answer as fast as this machine can; with
``--delay-ms D`` every byte to and from their sshd is held D ms each way (a network between).
``--ssh-modes N`` also measures N fresh qemu+ssh connections
opened inside the provider host (4 at a time) per way of starting ssh. Issue 14's targets:
parallel creation at least 3x serial; refresh of 100 domains over 3 hosts within 10 s.

On this 2-core machine the hosts' daemons share the cores with the provider (their CPU time is
printed): without ``--delay-ms`` the run is CPU-bound and the ratio stays below 2; with a
network between (``--delay-ms 10``, a 20 ms round trip) the calls 4 at once measured 3.2x
serial here, and `up` 2.7x (its Check and Diff go one at a time, as in the engine).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import libvirt as virt  # noqa: E402
import testhosts  # noqa: E402
from harness import Engine, ProviderHost, strip_secrets  # noqa: E402
from probes import BenchDomain, ConnectProbe  # noqa: E402
from pulumi.dynamic.dynamic import serialize_provider  # noqa: E402

import pulumi_libvirt as libvirt  # noqa: E402

PREFIX = "plvb-"
MiB = 1024**2


def program(hosts, domains: int, volumes: int):
    def run() -> None:
        pools = []
        for i, host in enumerate(hosts):
            pools.append(libvirt.Pool(
                f"pool{i}", name=f"{PREFIX}pool", type="dir", delete_target=True,
                target={"path": f"/var/lib/libvirt/images/{PREFIX}pool"}, uri=host.ssh_uri))
        for j in range(volumes):
            i = j % len(hosts)
            libvirt.Volume(f"vol{j}", name=f"{PREFIX}v{j}.qcow2", pool=pools[i].name,
                           capacity=MiB, format="qcow2", uri=hosts[i].ssh_uri)
        for j in range(domains):
            host = hosts[j % len(hosts)]
            if hasattr(libvirt, "Domain"):
                libvirt.Domain(f"dom{j}", name=f"{PREFIX}d{j}", type="qemu",
                               memory={"value": 64, "unit": "MiB"}, os={"type": "hvm"},
                               running=False, uri=host.ssh_uri)
            else:
                BenchDomain(f"dom{j}", name=f"{PREFIX}d{j}", uri=host.ssh_uri)

    return run


def hosts_cpu(hosts) -> float:
    """CPU seconds used so far by the test hosts' processes (their daemons, sshd sessions and
    what those ran): on real hosts, work done on other machines."""
    inodes = {os.stat(f"/run/netns/{h.netns}").st_ino for h in hosts}
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino not in inodes:
                continue
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def leftovers(hosts) -> int:
    count = 0
    for host in hosts:
        conn = virt.open(host.socket_uri)
        count += sum(d.name().startswith(PREFIX) for d in conn.listAllDomains())
        count += sum(p.name().startswith(PREFIX) for p in conn.listAllStoragePools())
        conn.close()
    return count


def calls(engine: Engine, workers: int) -> float:
    """The Check and Create calls of ``up``, sent straight to a provider host ``workers`` at a
    time (the pools first: the volumes need them); seconds taken. Then everything is deleted."""
    regs = list(engine.registrations.values())
    pools = [r for r in regs if r.type.endswith(":Pool")]
    rest = [r for r in regs if r not in pools]
    made: dict[str, tuple[str, dict]] = {}
    with ProviderHost() as host:
        host.configure(engine.config)

        def create(reg) -> None:  # inputs as registered: a volume's pool name is known by then
            checked = host.check(reg.urn, {}, strip_secrets(reg.inputs)).inputs
            made[reg.urn] = host.create(reg.urn, checked)

        started = time.monotonic()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(create, pools))
            list(pool.map(create, rest))
        elapsed = time.monotonic() - started
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda reg: host.delete(reg.urn, *made[reg.urn]), rest))
            list(pool.map(lambda reg: host.delete(reg.urn, *made[reg.urn]), pools))
    return elapsed


def ssh_modes(host, count: int) -> None:
    provider = serialize_provider(ConnectProbe())
    modes = [
        ("libvirt's ssh transport (fork in the gRPC host)", host.ssh_uri, True, {}),
        ("  + GRPC_EXPERIMENTS=-event_engine_fork at start", host.ssh_uri, True,
         {"GRPC_EXPERIMENTS": "-event_engine_fork"}),
        ("  + GRPC_ENABLE_FORK_SUPPORT=0 at start", host.ssh_uri, True,
         {"GRPC_ENABLE_FORK_SUPPORT": "0"}),
        ("  + the same set by our package (late)", host.ssh_uri, "late", {}),
        ("qemu+libssh:// (in process)", host.libssh_uri, True, {}),
        ("ours: ssh by posix_spawn behind a socket", host.ssh_uri, False, {}),
    ]
    print(f"\nfresh qemu+ssh connections inside the provider host, {count} per way, 4 at a time:")
    for label, uri, raw, env in modes:
        started = time.monotonic()
        with ProviderHost(env={**os.environ, **env}) as server:
            server.configure({})

            def probe(i: int, uri=uri, raw=raw, server=server) -> str:
                props = {"__provider": provider, "uri": uri, "raw": bool(raw),
                         "late_env": raw == "late"}
                urn = f"urn:pulumi:s::p::pulumi-python:dynamic:Resource::p{i}"
                try:
                    return server.create(urn, props)[1]["error"]
                except Exception as exc:  # noqa: BLE001 - a hung host counts as failed
                    return str(exc)

            server.call_timeout = 60
            with ThreadPoolExecutor(4) as pool:
                failed = sum(bool(e) for e in pool.map(probe, range(count)))
        print(f"  {label:<50} {failed:>4}/{count} failed  {time.monotonic() - started:6.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--domains", type=int, default=100)
    parser.add_argument("--volumes", type=int, default=30)
    parser.add_argument("--set", default="bench", help="test host set name (kept if it was up)")
    parser.add_argument("--ssh-modes", type=int, default=0, metavar="N")
    parser.add_argument("--delay-ms", type=float, default=0,
                        help="network delay each way in front of every host's sshd (a new set)")
    args = parser.parse_args()

    existed = (testhosts.DIRECTORY / args.set / "hosts.json").exists()
    hosts = testhosts.up(args.hosts, args.set, args.delay_ms)
    try:
        hosts = list(hosts.hosts)
        run = program(hosts, args.domains, args.volumes)
        total = args.hosts + args.volumes + args.domains
        kind = "Domain" if hasattr(libvirt, "Domain") else "stand-in domain provider"
        print(f"{args.hosts} hosts over qemu+ssh ({2 * args.delay_ms:g} ms added round trip); "
              f"{args.domains} domains ({kind}), {args.volumes} volumes, {args.hosts} pools: "
              f"{total} resources")
        engine = Engine({"libvirt:timeout": "60"})
        cpu, started = hosts_cpu(hosts), time.monotonic()
        engine.up(run)
        parallel = time.monotonic() - started
        cpu = hosts_cpu(hosts) - cpu
        started = time.monotonic()
        refreshed = engine.refresh()
        refresh = time.monotonic() - started
        assert not refreshed.deleted
        engine.destroy()
        assert leftovers(hosts) == 0, "objects left after destroy"
        baseline = calls(engine, 1)
        assert leftovers(hosts) == 0, "objects left after the serial calls"
        four = calls(engine, 4)
        assert leftovers(hosts) == 0, "objects left after the calls 4 at a time"
        print(f"  create, serial calls (baseline)   {baseline:7.2f} s  "
              f"{total / baseline:6.1f} resources/s")
        print(f"  create, the same calls 4 at once  {four:7.2f} s  "
              f"{total / four:6.1f} resources/s  {baseline / four:4.1f}x serial")
        print(f"  create, `up` of the program       {parallel:7.2f} s  "
              f"{total / parallel:6.1f} resources/s  {baseline / parallel:4.1f}x serial "
              "(Check and Diff one at a time, as the engine plans)")
        print(f"  refresh of all                    {refresh:7.2f} s  "
              f"{total / refresh:6.1f} resources/s")
        print(f"  (during the parallel create the hosts' own processes used {cpu:.2f} CPU-s of "
              f"this machine's {os.cpu_count()} cores; real hosts do that work themselves)")
        if args.ssh_modes:
            ssh_modes(hosts[0], args.ssh_modes)
    finally:
        if not existed:
            testhosts.TestHosts(args.set, (), "", "", "").down()


if __name__ == "__main__":
    main()
