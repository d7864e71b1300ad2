#!/usr/bin/env python3
"""What the Domain provider's logic costs over the libvirt-python calls it makes.

    python benchmarks/domains.py [--uri qemu:///system] [--domains 100] [--guests 10]

Three figures, each against a baseline measured in the same run:

1. define + read + undefine of ``--domains`` small domains (not started): through the provider
   logic (create, read, delete — what `pulumi up`, `refresh` and `destroy` run in the provider
   host) against the same calls made directly (defineXMLFlags with validation, lookup +
   XMLDesc, undefineFlags). Target: provider <= 1.3x direct.
2. start + stop of ``--guests`` TCG guests: the provider's update to running=true and back
   (shutdown_timeout=0: destroyed at once) against createWithFlags + destroy. Target as above.
3. preview time per corpus domain (``$LIBVIRT_XML_CORPUS`` or ``../shared/corpus``): check +
   diff of each qemu/kvm document this host accepts, against its own definition (what a second
   preview runs). Target: median <= 5 ms.

Objects are named ``plvb-<hex>-...`` and removed at the end.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import secrets
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import libvirt  # noqa: E402

from pulumi_libvirt import xml  # noqa: E402
from pulumi_libvirt.connection import LibvirtError, connect  # noqa: E402
from pulumi_libvirt.providers import DomainLogic  # noqa: E402

UNDEFINE = (libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
            | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
            | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
            | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)


def small(name: str) -> dict:
    return {"name": name, "type": "qemu", "memory": {"value": 64, "unit": "MiB"}, "vcpu": 1,
            "os": {"type": {"value": "hvm", "machine": "q35"}},
            "devices": {"serials": [{"type": "pty"}],
                        "interfaces": [{"type": "user", "model": {"type": "virtio"}}]},
            "running": False, "shutdown_timeout": 0}


def provider_round(logic: DomainLogic, names: list[str]) -> float:
    start = time.perf_counter()
    made = []
    for name in names:
        inputs, _problems = logic.check({}, small(name))
        made.append(logic.create(inputs))
    for id_, outs in made:
        logic.read(id_, outs)
    for id_, outs in made:
        logic.delete(id_, outs)
    return time.perf_counter() - start


def direct_round(conn: libvirt.virConnect, names: list[str]) -> float:
    texts = [xml.to_xml("domain", {k: v for k, v in small(n).items()
                                   if k not in ("running", "shutdown_timeout")})
             for n in names]
    start = time.perf_counter()
    uuids = [conn.defineXMLFlags(t, libvirt.VIR_DOMAIN_DEFINE_VALIDATE).UUIDString()
             for t in texts]
    for uuid in uuids:
        conn.lookupByUUIDString(uuid).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE
                                              | libvirt.VIR_DOMAIN_XML_SECURE)
    for uuid in uuids:
        conn.lookupByUUIDString(uuid).undefineFlags(UNDEFINE)
    return time.perf_counter() - start


def lifecycle(uri: str, prefix: str, count: int, rounds: int) -> None:
    logic, conn = DomainLogic(uri), connect(uri)
    provider_round(logic, [f"{prefix}warm-up"])  # tables loaded, connection open
    direct, provider = [], []
    for round_ in range(rounds):  # alternate, so drift on a shared host hits both alike
        direct.append(direct_round(conn, [f"{prefix}d{round_}-{i}" for i in range(count)]))
        provider.append(provider_round(logic, [f"{prefix}p{round_}-{i}" for i in range(count)]))
    d, p = statistics.median(direct), statistics.median(provider)
    print(f"define + read + undefine of {count} domains (median of {rounds} rounds):")
    print(f"  libvirt-python directly   {d * 1000:8.1f} ms  ({d / count * 1000:.2f} ms/domain)")
    print(f"  provider logic            {p * 1000:8.1f} ms  ({p / count * 1000:.2f} ms/domain)")
    print(f"  ratio                     {p / d:8.2f} x   (target <= 1.3 x)")


def guests(uri: str, prefix: str, count: int) -> None:
    logic, conn = DomainLogic(uri), connect(uri)
    made = [logic.create(logic.check({}, small(f"{prefix}g{i}"))[0]) for i in range(count)]
    try:
        start = time.perf_counter()
        for id_, _outs in made:
            dom = conn.lookupByUUIDString(id_)
            dom.createWithFlags(0)
        for id_, _outs in made:
            conn.lookupByUUIDString(id_).destroy()
        direct = time.perf_counter() - start

        start = time.perf_counter()
        running = []
        for id_, outs in made:
            news = dict(logic.check(outs, {**small(outs["name"]), "running": True})[0])
            running.append((id_, logic.update(id_, outs, news)))
        for id_, outs in running:
            news = dict(logic.check(outs, small(outs["name"]))[0])
            logic.update(id_, outs, news)
        provider = time.perf_counter() - start
    finally:
        for id_, outs in made:
            logic.delete(id_, outs)
    print(f"start + stop of {count} TCG guests:")
    print(f"  libvirt-python directly   {direct * 1000:8.1f} ms  "
          f"({direct / count * 1000:.1f} ms/guest)")
    print(f"  provider logic            {provider * 1000:8.1f} ms  "
          f"({provider / count * 1000:.1f} ms/guest)")
    print(f"  ratio                     {provider / direct:8.2f} x   (target <= 1.3 x)")


def previews(uri: str, prefix: str, repeat: int) -> None:
    corpus = pathlib.Path(os.environ.get("LIBVIRT_XML_CORPUS")
                          or ROOT.parent / "shared" / "corpus")
    paths = sorted(corpus.glob("domain/*.xml"))
    if not paths:
        print(f"preview per corpus domain: no corpus at {corpus}")
        return
    logic = DomainLogic(uri)
    times, made = [], []
    try:
        for index, path in enumerate(paths):
            model = xml.from_xml("domain", path.read_bytes())
            if model.get("type") not in ("qemu", "kvm"):
                continue
            model.pop("uuid", None)
            model.pop("id", None)
            props = {**model, "name": f"{prefix}c{index}", "running": False,
                     "shutdown_timeout": 0}
            inputs, problems = logic.check({}, props)
            if problems:
                continue
            try:
                made.append(logic.create(inputs))
            except LibvirtError:
                continue  # refused by this host's libvirt
            _id, outs = made[-1]
            samples = []
            for _ in range(repeat):
                start = time.perf_counter()
                checked, _problems = logic.check(props, props)
                result = logic.plan(outs, checked)  # what the engine calls Diff with
                samples.append(time.perf_counter() - start)
            assert not result.changes, (path.name, result)
            times.append(statistics.median(samples) * 1000)
    finally:
        for id_, outs in made:
            logic.delete(id_, outs)
    times.sort()
    print(f"preview (check + diff) per corpus domain, {len(times)} domains "
          f"(median of {repeat} calls each):")
    print(f"  median {statistics.median(times):.2f} ms, 90th percentile "
          f"{times[int(len(times) * 0.9)]:.2f} ms, max {times[-1]:.2f} ms   "
          "(target: median <= 5 ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", default="qemu:///system")
    parser.add_argument("--domains", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--guests", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    prefix = f"plvb-{secrets.token_hex(3)}-"
    conn = connect(args.uri)
    print(f"{args.uri}: libvirt {conn.getLibVersion()}, Python {sys.version.split()[0]}")
    try:
        lifecycle(args.uri, prefix, args.domains, args.rounds)
        guests(args.uri, prefix, args.guests)
        previews(args.uri, prefix, args.repeat)
    finally:
        for dom in conn.listAllDomains():
            if dom.name().startswith(prefix):
                if dom.isActive():
                    dom.destroy()
                dom.undefineFlags(UNDEFINE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
