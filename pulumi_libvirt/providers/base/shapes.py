"""What a resource kind is made of: its rows (XML kind, provider inputs, aliases, computed
outputs) and the shapes of its inputs (the XML model asked for, the keys written)."""

from __future__ import annotations

import copy
from typing import ClassVar

from ... import xml
from ...connection import resolve_uri
from ...xml import UNKNOWN, has_unknown
from ..inputs import Input, strip_nested
from .paths import set_path

INPUT_KEYS = "__input_keys"  # hidden output: the top-level keys the user wrote
RESOURCE_NAME = "__name"  # hidden input: Pulumi's name for the resource (resources.py sets it)

COMMON_INPUTS = (
    Input("uri", "str", "libvirt connection URI; default: stack config libvirt:uri, then "
          "LIBVIRT_DEFAULT_URI, then qemu:///system. Changing it replaces the resource.",
          on_change="replace"),
    Input("adopt", "bool", "Take over an existing object of the same name instead of failing "
          "(dynamic providers cannot `pulumi import`).", default=False, on_change="none"),
)


class Shapes:
    """One libvirt object kind's rows, and the shapes of its inputs."""

    kind: ClassVar[str]  # XML kind, see pulumi_libvirt.xml.KINDS
    type_name: ClassVar[str]  # Pulumi type name: "Pool"
    noun: ClassVar[str]  # used in messages: "pool"
    inputs: ClassVar[tuple[Input, ...]] = ()
    # Provider-only keys inside XML items: model path (``devices.interfaces``) -> their rows.
    # Checked, kept out of the XML and in the outputs; typed and documented like ``inputs``.
    nested_inputs: ClassVar[dict[str, tuple[Input, ...]]] = {}
    aliases: ClassVar[dict[str, str]] = {}  # input name -> XML path it stands for
    read_only_xml: ClassVar[frozenset] = frozenset()  # top-level XML keys not taken as inputs
    required: ClassVar[dict[str, str]] = {}  # input -> what it is ("required: <what>")
    # output name -> (schema type name, or a schema dict, doc)
    computed: ClassVar[dict[str, tuple[str | dict, str]]] = {}
    secret_outputs: ClassVar[tuple[str, ...]] = ()  # computed outputs the state keeps secret
    restart_note: ClassVar[str] = "takes effect by restarting it"  # said in the preview
    identity_keys: ClassVar[tuple[str, ...]] = ("name",)  # what names the object on its host

    def __init__(self, configured_uri: str | None = None):
        self.configured_uri = configured_uri
        self.warnings: list[str] = []  # for the user, after a create or update (the adapter)

    @classmethod
    def all_inputs(cls) -> dict[str, Input]:
        return {i.name: i for i in (*cls.inputs, *COMMON_INPUTS)}

    @classmethod
    def xml_keys(cls) -> list[str]:
        """Top-level XML model keys a user may write (a list's singular for one item too)."""
        provider = cls.all_inputs()
        spec = xml.load(cls.kind)
        return [
            key for key in (*spec.fields, *spec.singulars)
            if key not in provider and key not in cls.read_only_xml and key not in cls.aliases
        ]

    def uri(self, props: dict) -> str:
        return resolve_uri(props.get("uri"), self.configured_uri)

    def desired_model(self, props: dict, keys=None) -> dict:
        """The XML model the user asks for (aliases written at their paths)."""
        wanted = set(keys) if keys is not None else None
        model = {
            key: copy.deepcopy(props[key]) for key in self.xml_keys()
            if key in props and props[key] is not None and (wanted is None or key in wanted)
        }
        for alias, path in self.aliases.items():
            if props.get(alias) is not None and (wanted is None or alias in wanted):
                set_path(model, path, props[alias])
        return strip_nested(self.kind, self.nested_inputs, model)

    @staticmethod
    def user_keys(outs: dict) -> list[str]:
        """The top-level keys the user wrote, as recorded in the outputs."""
        return list(outs.get(INPUT_KEYS) or ())

    @staticmethod
    def written_keys(props: dict) -> list[str]:
        """The top-level keys the user writes in these inputs."""
        return [k for k, v in props.items() if v is not None and not k.startswith("__")]

    def describe(self, props: dict) -> str:
        """The object in messages: "pool 'images'"."""
        return f"{self.noun} '{props.get('name')}'"

    def identity(self, props: dict) -> tuple | None:
        """What names the object on its host (kind, host, ``identity_keys`` values), or None
        while a part is unknown. Two objects with one identity are one libvirt object."""
        uri = props.get("uri")
        values = [props.get(key) for key in self.identity_keys]
        if uri is UNKNOWN or any(v is None or has_unknown(v) for v in values):
            return None
        return (self.kind, self.uri(props), *values)
