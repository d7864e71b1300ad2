"""The Pulumi resource classes users construct."""

from __future__ import annotations

from typing import Any, ClassVar

import pulumi
import pulumi.dynamic

from .dynamic import LibvirtProvider
from .providers import PoolLogic, ResourceLogic, VolumeLogic


class LibvirtResource(pulumi.dynamic.Resource):
    """Base of every libvirt resource: Pulumi's name first, then libvirt's fields as keywords."""

    _logic: ClassVar[type[ResourceLogic]]
    _secret_outputs: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        resource_name: str,
        opts: pulumi.ResourceOptions | None = None,
        **props: Any,
    ) -> None:
        logic = self._logic
        if props.get("uri") is None:
            props["uri"] = pulumi.Config("libvirt").get("uri")
        for key in (*logic.xml_keys(), *logic.all_inputs(), *logic.aliases, *logic.computed):
            props.setdefault(key, None)
        if self._secret_outputs:
            opts = pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(additional_secret_outputs=list(self._secret_outputs))
            )
        super().__init__(LibvirtProvider(logic.type_name), resource_name, props, opts)


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
