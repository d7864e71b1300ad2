"""The Pulumi resource classes users construct."""

from __future__ import annotations

from typing import Any, ClassVar

import pulumi
import pulumi.dynamic

from .dynamic import LibvirtProvider
from .providers import (
    CloudInitDiskLogic,
    CombustionLogic,
    DomainLogic,
    IgnitionLogic,
    NetworkLogic,
    PoolLogic,
    ResourceLogic,
    VolumeLogic,
)
from .providers.base import RESOURCE_NAME, whole_numbers


class LibvirtResource(pulumi.dynamic.Resource):
    """Base of every libvirt resource: Pulumi's name first, then libvirt's fields as keywords.

    Every output reaches the program with whole numbers as ints (the engine carries numbers as
    floats: a capacity is 67108864, never 67108864.0).
    """

    _logic: ClassVar[type[ResourceLogic]]
    _secret_outputs: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        resource_name: str,
        opts: pulumi.ResourceOptions | None = None,
        **props: Any,
    ) -> None:
        logic = self._logic
        type(self)._type_outputs()
        if props.get("uri") is None:
            props["uri"] = pulumi.Config("libvirt").get("uri")
        outputs = (*logic.xml_keys(), *logic.all_inputs(), *logic.aliases, *logic.computed)
        for key in outputs:
            props.setdefault(key, None)
        # Lets the provider tell two resources of the program that name one libvirt object.
        props[RESOURCE_NAME] = resource_name
        secret_inputs = [i.name for i in logic.all_inputs().values() if i.secret]
        for name in secret_inputs:  # secret in the state even when written in plain text
            if props.get(name) is not None:
                props[name] = pulumi.Output.secret(props[name])
        secret_outputs = [*self._secrets_for(props), *logic.secret_outputs, *secret_inputs]
        if secret_outputs:
            opts = pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(additional_secret_outputs=secret_outputs)
            )
        super().__init__(LibvirtProvider(logic.type_name), resource_name, props, opts)

    @classmethod
    def _secrets_for(cls, props: dict) -> list[str]:
        """The outputs to keep secret for these inputs."""
        return list(cls._secret_outputs)

    @classmethod
    def _type_outputs(cls) -> None:
        """Put an ``_Output`` on the class for each output, once (on first use: importing the
        package loads no tables)."""
        if cls.__dict__.get("_outputs_typed"):
            return
        logic = cls._logic
        sdk = {name for base in pulumi.dynamic.Resource.__mro__ for name in vars(base)}
        for key in (*logic.xml_keys(), *logic.all_inputs(), *logic.aliases, *logic.computed):
            if key not in sdk and key not in ("id", "urn"):  # the SDK's own attributes
                setattr(cls, key, _Output(key))
        cls._outputs_typed = True


class _Output:
    """An output attribute, read with whole numbers as ints (the engine carries numbers as
    floats). The SDK stores each output in the instance's ``__dict__``; this data descriptor
    wraps it once, on first use, so outputs nobody reads cost nothing."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        typed = obj.__dict__.setdefault("_typed_outputs", {})
        if self.key not in typed:
            raw = obj.__dict__.get(self.key)
            typed[self.key] = raw.apply(whole_numbers) if isinstance(raw, pulumi.Output) else raw
        return typed[self.key]

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.key] = value
        obj.__dict__.get("_typed_outputs", {}).pop(self.key, None)


class Pool(LibvirtResource, module="libvirt", name="Pool"):
    """A libvirt storage pool.

    ``Pool("images", name="images", type="dir", target={"path": "/var/lib/libvirt/images"})``.
    Keys follow libvirt's pool XML (snake_case); provider inputs: ``autostart``, ``running``,
    ``build``, ``delete_target``, ``uri``, ``adopt``. Outputs add ``uuid``, ``capacity``,
    ``allocation`` and ``available`` (bytes).
    """

    _logic = PoolLogic


class Volume(LibvirtResource, module="libvirt", name="Volume"):
    """A libvirt storage volume.

    ``Volume("disk", name="web.qcow2", pool=pool.name, capacity=20 * 1024**3, format="qcow2")``.
    Keys follow libvirt's volume XML; ``format`` stands for ``target.format.type``; provider
    inputs: ``pool``, ``uri``, ``adopt``. Outputs add ``key``, ``path``, ``capacity`` and
    ``allocation`` (bytes). Growing ``capacity`` resizes in place; shrinking is refused.
    """

    _logic = VolumeLogic


class CloudInitDisk(LibvirtResource, module="libvirt", name="CloudInitDisk"):
    """A cloud-init NoCloud seed: an ISO labelled ``cidata`` in a raw volume.

    ``CloudInitDisk("seed", name="web-seed.iso", pool=pool.name, user_data=..., hostname="web")``.
    Inputs: ``user_data`` (secret), ``meta_data``, ``network_config``, ``vendor_data`` (secret),
    ``hostname``, ``permissions``, ``uri``, ``adopt``. Outputs add ``key``, ``path``,
    ``capacity``, ``allocation``. A content change rewrites the same volume; a new ``name`` or
    ``pool`` replaces it. Attach it to a domain as a cdrom.
    """

    _logic = CloudInitDiskLogic


class Ignition(LibvirtResource, module="libvirt", name="Ignition"):
    """An Ignition config (Fedora CoreOS, Flatcar) in a raw volume.

    ``Ignition("ign", name="core.ign", pool=pool.name, config={"ignition": {"version":
    "3.4.0"}, ...})``; hand its ``path`` to the domain as ``sysinfo`` type ``fwcfg`` entry
    ``opt/com.coreos/config`` (see README). ``config`` is secret.
    """

    _logic = IgnitionLogic


class Combustion(LibvirtResource, module="libvirt", name="Combustion"):
    """A Combustion seed (openSUSE MicroOS, Leap Micro): an ISO labelled ``combustion``.

    ``Combustion("cfg", name="micro.iso", pool=pool.name, script="#!/bin/bash\n...")`` holds
    ``combustion/script`` and, with ``ignition``, ``ignition/config.ign``. Both are secret.
    """

    _logic = CombustionLogic


class Network(LibvirtResource, module="libvirt", name="Network"):
    """A libvirt virtual network.

    ``Network("lan", name="lan", forward={"mode": "nat"}, ips=[{"address": "10.17.3.1",
    "prefix": 24, "dhcp": {"ranges": [{"start": "10.17.3.10", "end": "10.17.3.200"}]}}])``.
    Keys follow libvirt's network XML; provider inputs: ``autostart``, ``active``, ``uri``,
    ``adopt``. Outputs add ``uuid`` and ``bridge_name``. DHCP hosts and ranges, DNS hosts, SRV
    and TXT records, port groups and forward interfaces change live; other changes restart it.
    """

    _logic = NetworkLogic


class Domain(LibvirtResource, module="libvirt", name="Domain"):
    """A libvirt domain (virtual machine).

    ``Domain("web", name="web", type="kvm", memory={"value": 2, "unit": "GiB"}, vcpu=2,
    os={"type": {"value": "hvm", "machine": "q35"}}, devices={"disks": [...], ...})``. Keys
    follow libvirt's domain XML (snake_case); provider inputs: ``running``, ``autostart``,
    ``start_options``, ``shutdown_timeout``, ``reboot_for_updates``, ``uri``, ``adopt``, and
    ``wait_for_ip`` inside an interface. Outputs add ``uuid``, ``domain_id``, ``state``,
    ``ip_addresses`` and ``pending_changes``. Outputs that hold credentials (graphics
    passwords, disk cookies: ``devices``) are secret.
    """

    _logic = DomainLogic

    @classmethod
    def _secrets_for(cls, props: dict) -> list[str]:
        found = set(DomainLogic.secret_inputs(_plain(props)))
        if _hidden(props.get("devices"), ("graphics", "disks")):
            found.add("devices")  # not known before the program runs: assume it may
        return sorted(found | set(cls._secret_outputs))


def _plain(value: Any) -> Any:
    """The value with Outputs (not known yet) as a placeholder string."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return "<output>" if isinstance(value, pulumi.Output) else value


def _hidden(devices: Any, lists: tuple[str, ...]) -> bool:
    """Whether credentials could hide in Outputs of ``devices`` (the whole dict, one of the
    lists that hold credentials, or an item of them)."""
    if isinstance(devices, pulumi.Output):
        return True
    if not isinstance(devices, dict):
        return False
    for key in lists:
        items = devices.get(key)
        if isinstance(items, pulumi.Output):
            return True
        if isinstance(items, list) and any(isinstance(i, pulumi.Output) for i in items):
            return True
    return False
