"""Unit tests of the pure XML core: conversion, the model convention, checks and comparison.

Stand-alone: documents are written here or taken from libvirt's embedded test driver
(``test:///default``, in process; no daemon). The core itself never imports libvirt.
"""

from __future__ import annotations

import ast
import pathlib
import sys
from functools import cache

import pinned
import pytest
from lxml import etree

from pulumi_libvirt import xml
from pulumi_libvirt.xml import UNKNOWN, canonical_xml, check, from_xml, load, policy, to_xml

SCHEMA_FILES = policy.SCHEMA_FILES
CORE = pathlib.Path(xml.__file__).parent


def round_trip(kind: str, text: str) -> str:
    output = to_xml(kind, from_xml(kind, text))
    assert canonical_xml(output) == canonical_xml(text)
    return output


@cache
def _schema(kind: str) -> etree.RelaxNG:
    # the pinned schemas the tables come from; by path: a schema includes its siblings
    return etree.RelaxNG(file=str(pinned.schema_dir() / SCHEMA_FILES[kind]))


def assert_valid(kind: str, text: str) -> None:
    schema = _schema(kind)
    assert schema.validate(etree.fromstring(text.encode())), str(schema.error_log.last_error)


def messages(kind: str, model) -> dict[str, str]:
    return {problem.path: problem.message for problem in check(kind, model)}


# ---------------------------------------------------------------- layering


def test_core_imports_lxml_only():
    """The XML core is pure: the standard library and lxml; no libvirt, no Pulumi, nothing
    from the layers above it."""
    found = {}
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level > 1 or (node.level == 1 and path.parent != CORE):
                    names = ["." * node.level + (node.module or "")]  # reaches out of xml/
                elif node.level:
                    continue
                else:
                    names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "lxml" and top not in sys.stdlib_module_names:
                    found.setdefault(name, []).append(path.name)
    assert found == {}


# ---------------------------------------------------------------- round trips

DOMAIN = """
<domain type='kvm'>
  <name>web</name>
  <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
  <title>Web server</title>
  <memory unit='GiB'>2</memory>
  <currentMemory unit='KiB'>1048576</currentMemory>
  <vcpu placement='static' current='1'>2</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <boot dev='hd'/>
    <boot dev='cdrom'/>
  </os>
  <features><acpi/><apic/><vmport state='off'/></features>
  <cpu mode='host-passthrough' check='none'/>
  <clock offset='utc'><timer name='rtc' tickpolicy='catchup'/></clock>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='/var/lib/libvirt/images/web.qcow2'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>
    </disk>
    <disk type='volume' device='cdrom'>
      <source pool='images' volume='seed.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <controller type='pci' index='0' model='pcie-root'/>
    <interface type='network'>
      <mac address='52:54:00:6b:3c:58'/>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
    <graphics type='spice' autoport='yes'/>
    <memballoon model='virtio'/>
  </devices>
</domain>
"""

NETWORK = """
<network>
  <name>lan</name>
  <forward mode='nat'><nat><port start='1024' end='65535'/></nat></forward>
  <bridge name='virbr7' stp='on' delay='0'/>
  <mac address='52:54:00:0A:0B:0C'/>
  <dns><host ip='10.17.3.5'><hostname>db</hostname></host></dns>
  <ip address='10.17.3.1' prefix='24'>
    <dhcp>
      <range start='10.17.3.10' end='10.17.3.200'/>
      <host mac='52:54:00:00:00:01' name='db' ip='10.17.3.5'/>
    </dhcp>
  </ip>
  <ip family='ipv6' address='fd00::1' prefix='64'/>
</network>
"""

POOL = """
<pool type='dir'>
  <name>images</name>
  <capacity unit='bytes'>107374182400</capacity>
  <source/>
  <target>
    <path>/var/lib/libvirt/images/demo</path>
    <permissions><mode>0711</mode><owner>0</owner><group>0</group></permissions>
  </target>
</pool>
"""

VOLUME = """
<volume type='file'>
  <name>web.qcow2</name>
  <capacity unit='GiB'>20</capacity>
  <allocation unit='bytes'>196608</allocation>
  <target>
    <format type='qcow2'/>
    <permissions><mode>0644</mode></permissions>
    <compat>1.1</compat>
    <features><lazy_refcounts/></features>
  </target>
  <backingStore>
    <path>/var/lib/libvirt/images/debian-12.qcow2</path>
    <format type='qcow2'/>
  </backingStore>
</volume>
"""

NODEDEV = """
<device>
  <name>scsi_host1</name>
  <parent>computer</parent>
  <capability type='scsi_host'>
    <host>1</host>
    <unique_id>0</unique_id>
    <capability type='fc_host'>
      <wwnn>2000000012341234</wwnn>
      <wwpn>1000000012341234</wwpn>
    </capability>
  </capability>
</device>
"""

SNAPSHOT = """
<domainsnapshot>
  <name>before-upgrade</name>
  <description>taken by hand</description>
  <memory snapshot='no'/>
  <disks>
    <disk name='vda' snapshot='external' type='file'>
      <driver type='qcow2'/>
      <source file='/var/lib/libvirt/images/web.before-upgrade'/>
    </disk>
  </disks>
</domainsnapshot>
"""

HANDWRITTEN = {
    "domain": DOMAIN,
    "network": NETWORK,
    "pool": POOL,
    "volume": VOLUME,
    "nodedev": NODEDEV,
    "domainsnapshot": SNAPSHOT,
}


@pytest.mark.parametrize("kind", list(HANDWRITTEN))
def test_handwritten_documents_round_trip_and_stay_valid(kind):
    assert_valid(kind, HANDWRITTEN[kind])
    assert_valid(kind, round_trip(kind, HANDWRITTEN[kind]))


def _test_driver_documents() -> list[tuple[str, str]]:
    libvirt = pytest.importorskip("libvirt")
    conn = libvirt.open("test:///default")  # embedded in this process; no daemon
    try:
        documents = [("domain", d.XMLDesc(0)) for d in conn.listAllDomains()]
        documents += [("domain", d.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
                      for d in conn.listAllDomains()]
        documents += [("network", n.XMLDesc(0)) for n in conn.listAllNetworks()]
        documents += [("pool", p.XMLDesc(0)) for p in conn.listAllStoragePools()]
        documents += [("nodedev", d.XMLDesc(0)) for d in conn.listAllDevices()]
    finally:
        conn.close()
    return documents


def test_test_driver_documents_round_trip():
    documents = _test_driver_documents()
    kinds = {kind for kind, _ in documents}
    assert {"domain", "network", "pool", "nodedev"} <= kinds
    for kind, text in documents:
        round_trip(kind, text)
        assert_valid(kind, to_xml(kind, from_xml(kind, text)))


def test_from_xml_rejects_other_documents():
    with pytest.raises(ValueError, match="expected a <network> document"):
        from_xml("network", POOL)
    with pytest.raises(ValueError, match="not well-formed"):
        from_xml("pool", "<pool><name>x</pool>")
    with pytest.raises(ValueError, match="unknown kind"):
        from_xml("secret", "<secret/>")


# ---------------------------------------------------------------- unknown XML survives

UNKNOWN_XML = """
<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0' futureattr='1'>
  <name>future</name>
  <metadata>
    <app1:foo xmlns:app1='http://app1.org/app1/'>fooish</app1:foo>
    <app2:bar xmlns:app2='http://app2.org/app2/' x='1'><app2:item/></app2:bar>
  </metadata>
  <memory>1048576</memory>
  <os><type>hvm</type></os>
  <features><acpi/><pstore size='64'/></features>
  <devices>
    <disk type='file' device='disk' futureflag='yes'>
      <source file='/a.img'/>
      <target dev='vda' bus='futurebus'/>
    </disk>
    <gizmo model='x'><part/></gizmo>
  </devices>
  <launchSecurity type='tdx'><policy>0x10000001</policy></launchSecurity>
  <qemu:commandline>
    <qemu:arg value='-newarg'/>
    <qemu:env name='QEMU_AUDIO_DRV' value='none'/>
  </qemu:commandline>
</domain>
"""


def test_unknown_xml_survives_a_round_trip():
    model = from_xml("domain", UNKNOWN_XML)
    output = round_trip("domain", UNKNOWN_XML)
    # namespaced <metadata> content is kept as XML text, namespaces declared
    assert 'xmlns:app1="http://app1.org/app1/"' in model["metadata"]
    assert "<app2:item/>" in model["metadata"]
    # <qemu:commandline> is known, under a prefixed key, written with its namespace
    assert model["qemu_commandline"] == {
        "args": [{"value": "-newarg"}],
        "envs": [{"name": "QEMU_AUDIO_DRV", "value": "none"}],
    }
    assert "<qemu:arg " in output
    # unknown elements and attributes go to _extra, at the level they were found
    assert model["_extra"] == {"attributes": {"futureattr": "1"}}
    assert model["features"] == {"acpi": True, "_extra": {"elements": ['<pstore size="64"/>']}}
    assert model["devices"]["_extra"] == {"elements": ['<gizmo model="x"><part/></gizmo>']}
    assert model["devices"]["disks"][0]["_extra"] == {"attributes": {"futureflag": "yes"}}
    # enum values newer than the table are read as they are
    assert model["devices"]["disks"][0]["target"]["bus"] == "futurebus"
    assert model["launch_security"]["type"] == "tdx"


def test_unknown_text_and_unknown_children_of_scalars_survive():
    text = """<volume><name>v</name><capacity unit='G' extra='x'>1</capacity>
              <target>stray text<path>/p</path></target></volume>"""
    model = from_xml("volume", text)
    assert model["capacity"] == {"unit": "G", "value": 1, "_extra": {"attributes": {"extra": "x"}}}
    assert model["target"]["_extra"] == {"text": "stray text"}
    round_trip("volume", text)


def test_repeated_single_element_is_kept_in_order():
    text = "<pool type='dir'><name>a</name><name>b</name><target><path>/p</path></target></pool>"
    model = from_xml("pool", text)
    assert model["name"] == "a"
    assert model["_extra"] == {"elements": ["<name>b</name>"]}
    output = round_trip("pool", text)
    assert output.index("<name>a</name>") < output.index("<name>b</name>")


def test_newer_enum_values_are_refused_by_check_with_an_escape():
    model = from_xml("domain", UNKNOWN_XML)
    problems = messages("domain", model)
    assert set(problems) == {"devices.disks[0].target.bus", "launch_security.type"}
    assert "'virtio'" in problems["devices.disks[0].target.bus"]
    # the documented escape: the raw attribute under _extra is written as it is, unchecked
    model["devices"]["disks"][0]["target"] = {"dev": "vda", "_extra": {"attributes": {
        "bus": "futurebus"}}}
    del model["launch_security"]
    assert messages("domain", model) == {}
    assert 'bus="futurebus"' in to_xml("domain", model)


def test_text_around_unknown_elements_does_not_break_reading():
    """Mixed content (text after an unknown element) is read; the stray text is not kept."""
    text = """<domain type='kvm'><name>m</name>
        <metadata><a:x xmlns:a='urn:a'>t</a:x>tail<b/></metadata>
        <devices><gizmo/>after the gizmo</devices></domain>"""
    model = from_xml("domain", text)
    assert model["metadata"] == '<a:x xmlns:a="urn:a">t</a:x><b/>'
    assert model["devices"] == {"_extra": {"elements": ["<gizmo/>"]}}


@pytest.mark.parametrize("value", [
    "a & b", "<tag>", 'say "hi"', "it's", "tab\there", "two\nlines", "cr\rlf\r\n",
    "ünïcödé ✓", "\U0001F600", "]]>", "  padded  ", "&amp;",
])
def test_special_characters_survive_attributes_and_text(value):
    model = {"name": value, "title": value, "description": value,
             "devices": {"disks": [{"source": {"file": value}, "serial": value}]}}
    assert from_xml("domain", to_xml("domain", model)) == model


def test_values_xml_cannot_hold_are_refused():
    with pytest.raises(ValueError):
        to_xml("domain", {"name": "nul\x00byte"})
    with pytest.raises(ValueError, match="Invalid attribute name 'a b'"):
        to_xml("domain", {"_extra": {"attributes": {"a b": "1"}}})
    with pytest.raises(ValueError, match="not well-formed"):
        to_xml("domain", {"metadata": "<unclosed>"})
    with pytest.raises(ValueError, match="expected a dict"):
        to_xml("domain", {"devices": "many"})


def test_extra_attributes_replace_known_ones_and_may_be_namespaced():
    model = {"name": "x", "devices": {"disks": [{
        "type": "file", "target": {"dev": "vda", "bus": "virtio"},
        "_extra": {"attributes": {"type": "future", "{urn:z}flag": "1",
                                  "{http://www.w3.org/XML/1998/namespace}lang": "en"}},
    }]}}
    disk = etree.fromstring(to_xml("domain", model).encode()).find("devices/disk")
    assert list(disk.attrib.items()) == [
        ("type", "future"), ("{urn:z}flag", "1"),
        ("{http://www.w3.org/XML/1998/namespace}lang", "en"),
    ]
    assert from_xml("domain", to_xml("domain", model))["devices"]["disks"][0]["_extra"] == {
        "attributes": {"{urn:z}flag": "1", "{http://www.w3.org/XML/1998/namespace}lang": "en"}
    }


def test_fragments_may_use_the_documents_prefixes():
    model = {"name": "x", "qemu_commandline": {
        "args": [{"value": "-x"}],
        "_extra": {"elements": ["<qemu:env name='A' value='b'/>"]},
    }}
    text = to_xml("domain", model)
    assert text.count("xmlns:qemu=") == 1  # declared once, on the root
    assert '<qemu:env name="A" value="b"/>' in text
    assert from_xml("domain", text)["qemu_commandline"] == {
        "args": [{"value": "-x"}], "envs": [{"name": "A", "value": "b"}]
    }
    assert "xmlns:" not in to_xml("domain", {"name": "x"})  # unused namespaces: none declared


def test_output_is_pretty_printed():
    text = to_xml("network", {"name": "n", "forward": {"mode": "nat"},
                              "ips": [{"address": "10.0.0.1", "prefix": 24,
                                       "dhcp": {"ranges": [{"start": "10.0.0.2",
                                                            "end": "10.0.0.9"}]}}]})
    assert text == (
        "<network>\n"
        "  <name>n</name>\n"
        '  <forward mode="nat"/>\n'
        '  <ip address="10.0.0.1" prefix="24">\n'
        "    <dhcp>\n"
        '      <range start="10.0.0.2" end="10.0.0.9"/>\n'
        "    </dhcp>\n"
        "  </ip>\n"
        "</network>\n"
    )


# ---------------------------------------------------------------- the model convention


def test_model_convention_reading():
    model = from_xml("domain", DOMAIN)
    assert model["current_memory"] == {"unit": "KiB", "value": 1048576}  # snake_case, value
    assert model["memory"] == {"unit": "GiB", "value": 2}  # ints, text beside attributes
    assert model["vcpu"] == {"placement": "static", "current": 1, "value": 2}
    assert model["on_poweroff"] == "destroy"  # text-only element: a scalar
    assert model["features"]["acpi"] is True  # presence element: a boolean
    assert model["features"]["vmport"] == {"state": False}  # on/off: a boolean
    assert [d["target"]["dev"] for d in model["devices"]["disks"]] == ["vda", "sda"]  # plurals
    assert [g["type"] for g in model["devices"]["graphics"]] == ["vnc", "spice"]  # not graphicses
    assert model["devices"]["graphics"][0]["autoport"] is True  # yes/no: a boolean
    assert model["devices"]["graphics"][0]["port"] == -1
    assert model["devices"]["disks"][1]["readonly"] is True
    assert [b["dev"] for b in model["os"]["boots"]] == ["hd", "cdrom"]
    assert model["devices"]["memballoon"] == {"model": "virtio"}  # a single device: a dict
    # hex and octal numbers stay strings: they would not survive int()
    assert model["devices"]["disks"][0]["address"]["bus"] == "0x04"
    assert from_xml("pool", POOL)["target"]["permissions"]["mode"] == "0711"
    assert from_xml("pool", POOL)["source"] == {}  # an empty element is {} (not absent)
    assert from_xml("network", NETWORK)["bridge"] == {"name": "virbr7", "stp": True, "delay": 0}


def test_model_convention_writing():
    model = {
        "type": "kvm", "name": "web", "memory": 2048, "vcpu": 2,  # scalar shorthand
        "os": {"type": {"value": "hvm", "machine": "q35"}},
        "features": {"acpi": True, "apic": True, "pae": False},
        "devices": {
            "disks": [{"type": "file", "device": "disk", "source": {"file": "/a.qcow2"},
                       "target": {"dev": "vda", "bus": "virtio"}}],
            "graphics": [{"type": "vnc", "autoport": True}],
        },
    }
    root = etree.fromstring(to_xml("domain", model).encode())
    assert root.findtext("memory") == "2048"
    assert root.find("memory").get("unit") is None
    assert root.find("os/type").text == "hvm"
    assert root.find("os/type").get("machine") == "q35"
    assert root.find("features/acpi") is not None
    assert root.find("features/pae") is None  # False: absent
    assert root.find("devices/graphics").get("autoport") == "yes"
    assert root.find("devices/disk/target").get("bus") == "virtio"

    volume = {"name": "v", "capacity": {"value": 1, "unit": "GiB"},
              "target": {"format": "qcow2", "permissions": {"mode": 0o755}}}  # single-attribute
    root = etree.fromstring(to_xml("volume", volume).encode())
    assert root.find("target/format").attrib == {"type": "qcow2"}
    assert root.findtext("target/permissions/mode") == "0755"  # an int mode is written in octal
    assert root.find("capacity").attrib == {"unit": "GiB"}
    # shorthand and the long form mean the same document
    long_form = dict(volume, target={"format": {"type": "qcow2"},
                                     "permissions": {"mode": "0755"}})
    assert canonical_xml(to_xml("volume", long_form)) == canonical_xml(to_xml("volume", volume))
    # numbers that arrive as floats (Pulumi) are written as integers
    assert "<vcpu>2</vcpu>" in to_xml("domain", dict(model, vcpu=2.0))


def test_network_on_off_and_yes_no_booleans_are_written_in_their_spelling():
    text = to_xml("network", {"name": "n", "bridge": {"name": "virbr9", "stp": False},
                              "forward": {"mode": "nat"}, "dns": {"enable": True}})
    root = etree.fromstring(text.encode())
    assert root.find("bridge").get("stp") == "off"
    assert root.find("dns").get("enable") == "yes"


# ---------------------------------------------------------------- good models are valid XML

GOOD_MODELS = {
    "domain": {
        "type": "kvm", "name": "web", "memory": {"value": 2, "unit": "GiB"}, "vcpu": 2,
        "os": {"type": {"value": "hvm", "machine": "q35", "arch": "x86_64"},
               "boots": [{"dev": "hd"}]},
        "features": {"acpi": True, "apic": True},
        "cpu": {"mode": "host-passthrough"},
        "on_reboot": "restart",
        "devices": {
            "disks": [
                {"type": "volume", "device": "disk", "driver": {"name": "qemu", "type": "qcow2"},
                 "source": {"pool": "images", "volume": "web.qcow2"},
                 "target": {"dev": "vda", "bus": "virtio"}},
                {"type": "volume", "device": "cdrom",
                 "source": {"pool": "images", "volume": "web-seed.iso"},
                 "target": {"dev": "sda", "bus": "sata"}, "readonly": True},
            ],
            "interfaces": [{"type": "network", "source": {"network": "lan"},
                            "model": {"type": "virtio"}}],
            "graphics": [{"type": "vnc", "autoport": True, "listen": "127.0.0.1"}],
            "consoles": [{"type": "pty", "target": {"type": "serial"}}],
            "rngs": [{"model": "virtio", "backend": {"model": "random", "value": "/dev/urandom"}}],
        },
    },
    "network": {
        "name": "lan", "forward": {"mode": "nat"}, "bridge": {"name": "virbr7", "stp": True},
        "ips": [{"address": "10.17.3.1", "prefix": 24,
                 "dhcp": {"ranges": [{"start": "10.17.3.10", "end": "10.17.3.200"}],
                          "hosts": [{"mac": "52:54:00:00:00:01", "ip": "10.17.3.5"}]}}],
    },
    "pool": {"type": "dir", "name": "images",
             "target": {"path": "/var/lib/libvirt/images/demo",
                        "permissions": {"mode": "0711"}}},
    "volume": {"name": "web.qcow2", "capacity": {"value": 20, "unit": "GiB"},
               "target": {"format": "qcow2"},
               "backing_store": {"path": "/var/lib/libvirt/images/debian-12.qcow2",
                                 "format": "qcow2"}},
}


@pytest.mark.parametrize("kind", list(GOOD_MODELS))
def test_good_models_pass_check_and_validate(kind):
    model = GOOD_MODELS[kind]
    assert check(kind, model) == []
    text = to_xml(kind, model)
    assert_valid(kind, text)
    assert from_xml(kind, text) == model or xml.same(kind, load(kind), from_xml(kind, text), model)


# ---------------------------------------------------------------- check


def test_check_unknown_key_suggests_the_name():
    problems = messages("domain", {"name": "x", "memroy": 5,
                                   "devices": {"disks": [{}, {"redonly": True}]}})
    assert problems["memroy"] == "unknown key 'memroy'; did you mean 'memory' or 'max_memory'?"
    assert problems["devices.disks[1].redonly"].endswith("did you mean 'readonly'?")


def test_check_wrong_types():
    problems = messages("domain", {
        "vcpu": "two", "memory": [1], "features": {"acpi": "sure"}, "on_reboot": 3,
        "devices": {"disks": {"target": {"dev": "vda"}}, "emulator": {"path": "/x"},
                    "interfaces": [{"source": "default"}]},
        "os": {"type": {"value": "hvm"}, "boots": [{"dev": "hd"}, "cdrom", "floppyy"]},
    })
    assert problems["vcpu"] == "expected an integer, got 'two'"
    assert problems["memory"] == "expected a single value, got a list"
    assert problems["features.acpi"] == "expected True or False, got a string"
    assert problems["devices.disks"] == "expected a list, got a dict"
    assert problems["devices.emulator.path"].startswith("unknown key 'path'")
    assert problems["devices.interfaces[0].source"].startswith("expected a dict (keys: ")
    assert problems["on_reboot"] == (
        "expected one of 'destroy', 'restart', 'preserve', 'rename-restart'; got 3"
    )
    # a single-attribute shorthand ("cdrom" for {"dev": "cdrom"}) is checked as that attribute
    assert "os.boots[1]" not in problems
    assert problems["os.boots[2]"].endswith("got 'floppyy'")
    assert len(problems) == 8


def test_check_bad_enum_names_the_allowed_values():
    for target in ({"format": "qcow3"}, {"format": {"type": "qcow3"}}):
        problems = check("volume", {"name": "v", "target": target})
        assert len(problems) == 1
        path = "target.format" if isinstance(target["format"], str) else "target.format.type"
        assert problems[0].path == path
        assert "'qcow2'" in problems[0].message and "'raw'" in problems[0].message
        assert problems[0].message.endswith("got 'qcow3'; did you mean 'qcow' or 'qcow2'?")
        assert str(problems[0]).startswith(path + ": expected one of ")


def test_check_paths_through_lists():
    model = {"devices": {"disks": [
        {"target": {"dev": "vda", "bus": "virtio"}},
        {"target": {"dev": "sda", "bus": "sataa"}},
    ]}}
    (problem,) = check("domain", model)
    assert problem.path == "devices.disks[1].target.bus"
    assert problem.message.endswith("got 'sataa'; did you mean 'sata'?")


def test_check_accepts_what_pulumi_sends():
    model = {"name": "x", "vcpu": 2.0, "memory": {"value": UNKNOWN, "unit": "GiB"},
             "devices": UNKNOWN, "uuid": None}
    assert check("domain", model) == []
    assert check("domain", UNKNOWN) == []


def test_check_values():
    problems = messages("volume", {"name": "v", "target": {"permissions": {"mode": "0789"}}})
    assert "octal" in problems["target.permissions.mode"]
    # A number is refused with the string it stands for: 0o640 is 416; 640 was meant as digits.
    for number, write in ((0o640, "'0640' (416 is 0o640)"),
                          (640, "'0640' (640 reads as the octal digits of a mode)")):
        problems = messages("volume", {"name": "v", "target": {"permissions": {"mode": number}}})
        assert problems["target.permissions.mode"] == (
            f"a mode is an octal string such as '0755': write {write}; got the integer {number}")
    problems = messages("pool", {"type": "dir", "name": "p", "target": {"path": "relative"}})
    assert problems["target.path"] == "expected an absolute path, got 'relative'"
    problems = messages("network", {"name": "n", "bridge": {"stp": "maybe"}})
    assert problems["bridge.stp"] == "expected a boolean (True/False), got 'maybe'"
    problems = messages("domain", {"metadata": "<unclosed>"})
    assert problems["metadata"].startswith("expected a string of XML")
    problems = messages("domain", {"_extra": {"attributes": {"a": "1"}, "elementz": []}})
    assert problems["_extra.elementz"].endswith("did you mean 'elements'?")


# ---------------------------------------------------------------- comparison

LIVE_DOMAIN = """
<domain type='kvm'>
  <name>web</name>
  <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
  <memory unit='KiB'>2097152</memory>
  <currentMemory unit='KiB'>2097152</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><boot dev='hd'/></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/web.qcow2'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>
    </disk>
    <controller type='usb' index='0' model='qemu-xhci'/>
    <interface type='network'>
      <mac address='52:54:00:AB:CD:EF'/>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
"""

DESIRED_DOMAIN = {
    "type": "kvm", "name": "web", "memory": {"value": 2, "unit": "GiB"}, "vcpu": 2,
    "os": {"type": {"value": "hvm", "machine": "q35"}},
    "devices": {
        "disks": [{"type": "file", "device": "disk", "driver": {"name": "qemu", "type": "qcow2"},
                   "source": {"file": "/var/lib/libvirt/images/web.qcow2"},
                   "target": {"dev": "vda", "bus": "virtio"}}],
        "interfaces": [{"type": "network", "mac": {"address": "52:54:00:ab:cd:ef"},
                        "source": {"network": "default"}, "model": {"type": "virtio"}}],
    },
}


def test_same_memory_in_other_units():
    spec = load("domain")
    assert xml.same("domain", spec, {"memory": {"value": 2, "unit": "GiB"}}, {"memory": 2097152})
    assert xml.same("domain", spec, {"memory": {"value": 2048, "unit": "MiB"}},
                    {"memory": {"value": 2097152, "unit": "KiB"}})
    assert not xml.same("domain", spec, {"memory": {"value": 2, "unit": "GB"}},
                        {"memory": 2097152})
    assert xml.to_bytes("domain", 2097152) == 2 * 1024**3  # a domain's default unit is KiB
    assert xml.to_bytes("volume", 1024) == 1024  # a volume's is bytes


def test_projection_of_live_state_keeps_the_users_spelling():
    live = from_xml("domain", LIVE_DOMAIN)
    projected = xml.project("domain", live, DESIRED_DOMAIN)
    assert projected == DESIRED_DOMAIN  # 2 GiB, q35, MAC case: the same meaning
    assert xml.differences("domain", projected, DESIRED_DOMAIN) == []
    # what the user did not write is not compared; what they wrote and changed is
    changed = dict(DESIRED_DOMAIN, memory={"value": 3, "unit": "GiB"}, vcpu=4)
    assert xml.differences("domain", xml.project("domain", live, changed), changed) == [
        "memory", "vcpu"
    ]
    machine = {"os": {"type": {"value": "hvm", "machine": "pc-i440fx-7.2"}}}
    assert xml.differences("domain", xml.project("domain", live, machine), machine) == [
        "os.type.machine"
    ]


def test_machine_alias_and_mac_case():
    spec = load("domain")
    assert xml.same("domain", spec, {"os": {"type": {"value": "hvm", "machine": "q35"}}},
                    {"os": {"type": {"value": "hvm", "machine": "pc-q35-7.2"}}})
    assert not xml.same("domain", spec, {"os": {"type": {"value": "hvm", "machine": "pc"}}},
                        {"os": {"type": {"value": "hvm", "machine": "pc-q35-7.2"}}})
    iface = {"devices": {"interfaces": [{"mac": {"address": "52:54:00:AB:CD:EF"}}]}}
    lower = {"devices": {"interfaces": [{"mac": {"address": "52:54:00:ab:cd:ef"}}]}}
    assert xml.differences("domain", iface, lower) == []


def test_pool_path_trailing_slash_and_octal_modes():
    live = from_xml("pool", """<pool type='dir'><name>p</name><target>
        <path>/var/lib/images/</path><permissions><mode>0755</mode></permissions>
        </target></pool>""")
    desired = {"type": "dir", "name": "p",
               "target": {"path": "/var/lib/images", "permissions": {"mode": 0o755}}}
    assert live["target"]["permissions"]["mode"] == "0755"
    assert xml.project("pool", live, desired) == desired
    assert xml.differences("pool", live, desired) == []
    other = dict(desired, target={"path": "/var/lib/images", "permissions": {"mode": 0o700}})
    assert xml.differences("pool", live, other) == ["target.permissions.mode"]
    volume = {"target": {"permissions": {"mode": "0644"}}}
    assert xml.same("volume", load("volume"), volume,
                    {"target": {"permissions": {"mode": 0o644}}})


def test_unknown_values_are_changes():
    assert xml.differences("domain", {"vcpu": 2}, {"vcpu": UNKNOWN}) == ["vcpu"]


def test_merge_keeps_what_libvirt_added_and_drops_what_the_user_removed():
    live = from_xml("domain", LIVE_DOMAIN)
    previous = dict(DESIRED_DOMAIN, title="old title", description="gone soon")
    live["title"], live["description"] = "old title", "gone soon"
    desired = dict(DESIRED_DOMAIN, description="kept")
    merged = xml.merge("domain", live, desired, previous)
    assert "title" not in merged  # the user wrote it before and no longer does
    assert merged["description"] == "kept"
    assert merged["uuid"] == live["uuid"]  # libvirt's additions stay
    disk = merged["devices"]["disks"][0]
    assert disk["address"] == {"type": "pci", "domain": "0x0000", "bus": "0x04", "slot": "0x00",
                               "function": "0x0"}
    assert merged["devices"]["controllers"] == live["devices"]["controllers"]  # an open list
    text = to_xml("domain", merged)
    assert "<address " in text and "<title>" not in text
    assert_valid("domain", text)


def test_merge_replaces_a_list_item_matched_by_identity():
    live = from_xml("domain", LIVE_DOMAIN)
    desired = {"devices": {"disks": [
        {"type": "file", "device": "disk", "source": {"file": "/new.qcow2"},
         "target": {"dev": "vdb", "bus": "virtio"}},
        {"type": "file", "device": "disk", "source": {"file": "/var/lib/libvirt/images/web.qcow2"},
         "target": {"dev": "vda", "bus": "virtio"}},
    ]}}
    merged = xml.merge("domain", live, desired)
    first, second = merged["devices"]["disks"]
    assert "address" not in first  # a new disk: libvirt will place it
    assert second["address"]["bus"] == "0x04"  # vda keeps its address although it moved


def test_shorthands_project_onto_what_libvirt_adds():
    """``vcpu=2`` stands for ``{"value": 2}``: libvirt's ``placement='static'`` is no drift."""
    live = from_xml("domain", """<domain type='kvm'><name>w</name>
        <vcpu placement='static'>2</vcpu><features><apic eoi='on'/></features></domain>""")
    desired = {"name": "w", "vcpu": 2, "features": {"apic": True}}
    assert xml.project("domain", live, desired) == desired
    assert xml.differences("domain", xml.project("domain", live, desired), desired) == []
    changed = dict(desired, vcpu=4)
    assert xml.differences("domain", xml.project("domain", live, changed), changed) == ["vcpu"]
    merged = xml.merge("domain", live, changed)
    assert merged["vcpu"] == {"placement": "static", "value": 4}
    volume = from_xml("volume", "<volume><name>v</name><target><format type='qcow2'/></target>"
                      "</volume>")
    assert xml.project("volume", volume, {"target": {"format": "qcow2"}}) == {
        "target": {"format": "qcow2"}
    }


def test_update_modes_say_how_libvirt_applies_a_change():
    assert xml.update_mode("domain", "current_memory") == "live"
    assert xml.update_mode("domain", "memory") == "reboot"  # the kind's default
    assert xml.update_mode("domain", "devices.disks.target.bus") == "live"  # longest prefix
    assert xml.update_mode("domain", "type") == "replace"
    assert xml.update_mode("domain", "name") == "reboot"  # renamed while stopped
    assert xml.update_mode("network", "ips.dhcp.hosts") == "live"
    assert xml.update_mode("network", "forward.mode") == "reboot"
    assert xml.update_mode("volume", "capacity") == "live"
    assert xml.update_mode("volume", "target.format.type") == "replace"
    assert xml.update_mode("pool", "target.path") == "reboot"


def test_merge_keeps_what_libvirt_generated_for_an_interface_without_a_mac():
    live = {"name": "x", "devices": {"interfaces": [
        {"type": "network", "mac": {"address": "52:54:00:aa:bb:cc"},
         "source": {"network": "default"}, "address": {"type": "pci", "bus": 1}}]}}
    want = {"name": "x", "devices": {"interfaces": [
        {"type": "network", "source": {"network": "lan"}}]}}
    (merged,) = xml.merge("domain", live, want)["devices"]["interfaces"]
    assert merged["mac"] == {"address": "52:54:00:aa:bb:cc"}  # same NIC, same MAC
    assert merged["address"] == {"type": "pci", "bus": 1}
    assert merged["source"] == {"network": "lan"}


# ---------------------------------------------------------------- a list's singular: one item

FS_POOL_LIVE = """
<pool type='fs'>
  <name>data</name>
  <source><device path='/dev/loop3'/><format type='ext4'/></source>
  <target><path>/mnt/data</path></target>
</pool>
"""


def test_a_list_takes_one_item_under_its_singular_key():
    """``source.device`` is one item of ``source.devices``: checked, written, compared and
    merged as that list."""
    one = {"type": "fs", "name": "data", "source": {"device": {"path": "/dev/loop3"},
                                                    "format": "ext4"}}
    many = {"type": "fs", "name": "data", "source": {"devices": [{"path": "/dev/loop3"}],
                                                     "format": "ext4"}}
    assert check("pool", one) == []
    assert to_xml("pool", one) == to_xml("pool", many)
    assert xml.same("pool", load("pool"), one, many)
    assert xml.differences("pool", many, one) == []
    live = from_xml("pool", FS_POOL_LIVE)
    assert live["source"]["devices"] == [{"path": "/dev/loop3"}]  # read back: the list
    assert xml.project("pool", live, one) == one  # the user's shape is kept
    merged = xml.merge("pool", live, one)
    assert merged["source"]["devices"] == [{"path": "/dev/loop3"}] and "device" not in merged[
        "source"]
    assert canonical_xml(to_xml("pool", merged)) == canonical_xml(FS_POOL_LIVE)
    # a list whose singular is its own key takes a single item too
    assert check("domain", {"devices": {"graphics": {"type": "vnc"}}}) == []
    assert xml.differences("domain", {"devices": {"graphics": [{"type": "vnc"}]}},
                           {"devices": {"graphics": {"type": "vnc"}}}) == []


def test_singular_drift_and_changes_show_under_the_key_as_written():
    one = {"type": "fs", "name": "data", "source": {"device": {"path": "/dev/loop3"}}}
    live = from_xml("pool", FS_POOL_LIVE)
    moved = {"type": "fs", "name": "data", "source": {"device": {"path": "/dev/loop4"}}}
    projected = xml.project("pool", live, moved)
    assert projected["source"]["device"] == {"path": "/dev/loop3"}
    assert xml.differences("pool", projected, moved) == ["source.device.path"]
    # libvirt has a second device the user never wrote: drift, under the key as written
    two = from_xml("pool", FS_POOL_LIVE.replace("<format", "<device path='/dev/loop5'/><format"))
    projected = xml.project("pool", two, one)
    assert projected["source"]["device"] == [{"path": "/dev/loop3"}, {"path": "/dev/loop5"}]
    assert xml.differences("pool", projected, one) == ["source.device"]
    # libvirt has none
    none = from_xml("pool", FS_POOL_LIVE.replace("<device path='/dev/loop3'/>", ""))
    assert "device" not in xml.project("pool", none, one)["source"]
    # a change between the two spellings is no change; a different item is, as now written
    old = {"source": {"devices": [{"path": "/dev/loop3"}]}}
    assert xml.differences("pool", old, {"source": {"device": {"path": "/dev/loop9"}}}) == [
        "source.device.path"]
    # policy rows name lists by their keys; a singular path finds them
    assert xml.key_path("network", "ip.dhcp.host.mac") == "ips.dhcp.hosts.mac"
    assert xml.update_mode("network", "ip.dhcp.host") == "live"


def test_singular_errors_name_the_field_as_written():
    problems = messages("pool", {"type": "fs", "name": "p", "source": {
        "device": {"pth": "/dev/x"}, "host": [{"name": "a"}]}})
    assert problems["source.device.pth"] == "unknown key 'pth'; did you mean 'path'?"
    assert problems["source.host"] == "expected one item, got a list (several go under 'hosts')"
    both = messages("pool", {"source": {"device": {"path": "/a"}, "devices": [{"path": "/b"}]}})
    assert both == {"source.device": "give either 'device' (one item) or 'devices' (a list), "
                                      "not both"}
    assert messages("pool", {"source": {"devise": {}}})["source.devise"].endswith(
        "did you mean 'device' or 'devices'?")
    problems = messages("domain", {"devices": {"disk": {"target": {"bus": "sataa"}}}})
    assert problems["devices.disk.target.bus"].endswith("got 'sataa'; did you mean 'sata'?")


def test_keys_published_single_keep_working_now_that_libvirt_allows_several():
    """libvirt 11 allows several <watchdog> and encryption <secret>s: the lists are
    ``watchdogs`` and ``secrets``, and ``watchdog`` and ``secret`` work as they did."""
    as_before = {"name": "w", "devices": {"watchdog": {"model": "i6300esb", "action": "reset"}}}
    as_list = {"name": "w", "devices": {"watchdogs": [{"model": "i6300esb", "action": "reset"}]}}
    assert check("domain", as_before) == [] and check("domain", as_list) == []
    text = to_xml("domain", as_before)
    assert text == to_xml("domain", as_list) and text.count("<watchdog ") == 1
    live = from_xml("domain", text)
    assert live["devices"]["watchdogs"] == [{"model": "i6300esb", "action": "reset"}]
    assert xml.project("domain", live, as_before) == as_before
    assert xml.differences("domain", as_before, as_list) == []
    two = {"type": "kvm", "name": "w", "memory": 1048576, "os": {"type": "hvm"},
           "devices": {"watchdogs": [{"model": "itco"}, {"model": "i6300esb"}]}}
    assert check("domain", two) == [] and to_xml("domain", two).count("<watchdog ") == 2
    assert_valid("domain", to_xml("domain", two))

    volume = {"name": "v.img", "target": {"format": "raw", "encryption": {
        "format": "luks", "secret": {"type": "passphrase",
                                     "uuid": "6695eb01-f6a4-8304-79aa-97f2502e193f"}}}}
    assert check("volume", volume) == []
    text = to_xml("volume", volume)
    assert_valid("volume", text)
    live = from_xml("volume", text)
    assert live["target"]["encryption"]["secrets"] == [volume["target"]["encryption"]["secret"]]
    assert xml.project("volume", live, volume) == volume


def test_what_libvirt_11_adds_or_renumbers_is_no_difference() -> None:
    """libvirt 11.3 defines the same document with a q35's built-in itco watchdog added, a
    virtio console's port renumbered after the serial console, and <maxMemory> with a unit:
    none of it is a change the user made (found by the corpus tier on the second daemon)."""
    user = {"max_memory": {"slots": 3, "value": 4194304},
            "devices": {"watchdogs": [{"model": "i6300esb", "action": "reset"}],
                        "consoles": [{"type": "pty", "target": {"type": "virtio", "port": 0}}]}}
    live = from_xml("domain", """<domain type='kvm'>
      <maxMemory slots='3' unit='KiB'>4194304</maxMemory>
      <devices>
        <console type='pty'><target type='serial' port='0'/></console>
        <console type='pty'><target type='virtio' port='1'/></console>
        <watchdog model='i6300esb' action='reset'/>
        <watchdog model='itco' action='reset'/>
      </devices></domain>""")
    assert xml.differences("domain", xml.project("domain", live, user), user) == []
    fewer = {**live, "max_memory": {"slots": 2, "value": 4194304, "unit": "KiB"}}
    assert xml.differences("domain", xml.project("domain", fewer, user), user) != []
    other = {"devices": {"watchdogs": [{"model": "itco", "action": "poweroff"}]}}
    assert xml.differences("domain", xml.project("domain", live, other), other) != []
