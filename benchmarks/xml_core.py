#!/usr/bin/env python3
"""How fast the XML core converts and checks a large domain document.

    python benchmarks/xml_core.py [--repeat 500] [PATH]

Reads the largest domain of the corpus (``$LIBVIRT_XML_CORPUS`` or ``../shared/corpus``; a
document built here when neither exists) and prints the median time per call of ``from_xml``,
``to_xml`` and ``check`` and their sum, beside lxml's own parse + serialize of the same text
(the floor any converter built on lxml pays) and the ratio to it. The issue's target: the sum
under 5 ms on the development machine.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402

from pulumi_libvirt.xml import check, from_xml, to_xml  # noqa: E402


def corpus_document() -> tuple[str, str] | None:
    corpus = pathlib.Path(os.environ.get("LIBVIRT_XML_CORPUS") or ROOT.parent / "shared" / "corpus")
    files = sorted(corpus.glob("domain/*.xml"), key=lambda p: (p.stat().st_size, p.name))
    if not files:
        return None
    return str(files[-1]), files[-1].read_text()


def built_document(devices: int = 40) -> tuple[str, str]:
    """A large domain written from a model: many disks, interfaces, controllers, channels."""
    model = {
        "type": "kvm", "name": "bench", "memory": {"value": 4, "unit": "GiB"}, "vcpu": 4,
        "os": {"type": {"value": "hvm", "machine": "q35", "arch": "x86_64"},
               "boots": [{"dev": "hd"}]},
        "features": {"acpi": True, "apic": True, "vmport": {"state": False}},
        "cpu": {"mode": "host-passthrough", "check": "none"},
        "clock": {"offset": "utc", "timers": [{"name": "rtc", "tickpolicy": "catchup"}]},
        "devices": {
            "emulator": "/usr/bin/qemu-system-x86_64",
            "disks": [
                {"type": "file", "device": "disk",
                 "driver": {"name": "qemu", "type": "qcow2", "discard": "unmap"},
                 "source": {"file": f"/var/lib/libvirt/images/disk{i}.qcow2"},
                 "target": {"dev": f"vd{chr(97 + i % 26)}{i // 26 or ''}", "bus": "virtio"},
                 "address": {"type": "pci", "domain": "0x0000", "bus": f"0x{i + 1:02x}",
                             "slot": "0x00", "function": "0x0"}}
                for i in range(devices)
            ],
            "controllers": [{"type": "pci", "index": i, "model": "pcie-root-port",
                             "target": {"chassis": i, "port": 16 + i}}
                            for i in range(1, devices)],
            "interfaces": [
                {"type": "network", "mac": {"address": f"52:54:00:00:00:{i:02x}"},
                 "source": {"network": "default"}, "model": {"type": "virtio"}}
                for i in range(devices // 4)
            ],
            "channels": [{"type": "unix", "target": {"type": "virtio",
                                                     "name": f"org.example.{i}"}}
                         for i in range(devices // 4)],
            "graphics": [{"type": "vnc", "autoport": True, "listen": "127.0.0.1"}],
            "memballoon": {"model": "virtio"},
        },
    }
    return "(built in benchmarks/xml_core.py)", to_xml("domain", model)


def median_ms(func, repeat: int) -> float:
    for _ in range(min(50, repeat)):  # warm up: caches, table loading
        func()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help="a domain XML file (default: the largest)")
    parser.add_argument("--repeat", type=int, default=500)
    args = parser.parse_args()
    if args.path:
        name, text = args.path, pathlib.Path(args.path).read_text()
    else:
        name, text = corpus_document() or built_document()
    model = from_xml("domain", text)
    data = text.encode()

    def lxml_baseline():
        etree.tostring(etree.fromstring(data))

    rows = [
        ("from_xml", median_ms(lambda: from_xml("domain", text), args.repeat)),
        ("to_xml", median_ms(lambda: to_xml("domain", model), args.repeat)),
        ("check", median_ms(lambda: check("domain", model), args.repeat)),
    ]
    total = sum(ms for _name, ms in rows)
    baseline = median_ms(lxml_baseline, args.repeat)
    print(f"document: {name} ({len(data) / 1024:.1f} KiB, {len(model['devices'])} device kinds)")
    print(f"median of {args.repeat} calls each (Python {sys.version.split()[0]}, "
          f"lxml {etree.__version__})")
    for label, ms in rows:
        print(f"  {label:<24} {ms:7.3f} ms")
    print(f"  {'from_xml+to_xml+check':<24} {total:7.3f} ms   (target < 5 ms)")
    print(f"  {'lxml parse+serialize':<24} {baseline:7.3f} ms   (baseline)")
    print(f"  ratio to baseline        {total / baseline:7.1f} x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
