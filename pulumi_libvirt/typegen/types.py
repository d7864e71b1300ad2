"""``pulumi_libvirt/types/<kind>.py``: a ``TypedDict`` per element of a kind's model.

Each element that is a dict in the model gets an input type (``DomainDiskArgsDict``: every
value a Pulumi ``Input``, the shorthands the model accepts in the annotations) and an output
type (``DomainDisk``: the values as the outputs hold them). An element whose items take
provider-only keys (``ResourceLogic.nested_inputs``: ``wait_for_ip`` of an interface) has them
in its types, and a provider input with keys of its own (``wait_for_ip``'s dict form) gets a
pair of types of its own (``DomainWaitForIpArgsDict``).
"""

from __future__ import annotations

import keyword
from collections.abc import Hashable

from ..providers import LOGIC, Input
from ..providers.inputs import own_paths
from ..xml.policy import doc_link
from ..xml.spec import Attr, Child, ElementSpec
from . import words
from .names import Place, camel, place_key, places, type_names

INPUT, OUTPUT = "ArgsDict", ""
_INPUT_TYPES = {"bool": "bool", "str": "str", "int": "int", "dict": "Mapping[str, Any]"}
EXTRA_DOC = ("What the tables do not know, kept and written as it is: ``attributes`` (name -> "
             "value), ``elements`` (strings of XML) and ``text``.")


def nested_inputs(kind: str) -> dict[str, tuple[Input, ...]]:
    """The provider-only keys inside the XML of ``kind``: the resources of one kind share its
    types, so they must take the same ones."""
    found = {logic.type_name: logic.nested_inputs for logic in LOGIC.values()
             if logic.kind == kind}
    if len({repr(sorted(n.items())) for n in found.values()}) > 1:
        raise ValueError(f"the {kind} resources {', '.join(sorted(found))} declare different "
                         "nested_inputs: their types are shared, so they must agree")
    return next(iter(found.values()), {})


class KindTypes:
    """The types of one kind: names, paths, and the text of their module."""

    def __init__(self, kind: str, noun: str):
        self.kind = kind
        self.noun = noun
        self.nested = nested_inputs(kind)
        self.own = own_paths(self.nested)
        self.places: dict[Hashable, Place] = places(kind, self.own)
        self.stems = type_names(kind, self.own)
        self.input_stems: dict[int, str] = {}  # id(row) -> stem, for rows with keys
        self.input_rows: dict[str, tuple[Input, str]] = {}  # stem -> (row, where it is taken)
        for path, rows in self.nested.items():
            for row in rows:
                self._add_input(camel(kind) + camel(row.name), row, f"each of ``{path}``")
        for logic in sorted(LOGIC.values(), key=lambda lg: lg.type_name):
            if logic.kind == kind:
                for row in logic.inputs:
                    self._add_input(logic.type_name + camel(row.name), row,
                                    f"a {logic.type_name}")

    def _add_input(self, stem: str, row: Input, where: str) -> None:
        if not row.keys:
            return
        self.input_stems[id(row)] = stem
        self.input_rows[stem] = (row, where)
        for key in row.keys:
            self._add_input(stem + camel(key.name), key, f"``{row.name}``")

    def name(self, spec: ElementSpec, suffix: str, path: str) -> str | None:
        """The type of ``spec`` at ``path`` (a model path, list items left out)."""
        key = place_key(spec, path, self.own)
        if spec.shape != "dict" or key not in self.stems:
            return None
        return self.stems[key] + suffix

    def names(self) -> list[str]:
        elements = [self.stems[key] + suffix for key, place in self.places.items()
                    for suffix in (INPUT, OUTPUT) if place.spec.shape == "dict"]
        return elements + [stem + suffix for stem in self.input_rows for suffix in (INPUT, OUTPUT)]

    def key_annotation(self, spec: ElementSpec, key: str, inputs: bool, path: str) -> str:
        """The annotation of ``key`` (a field or a list's singular) of ``spec`` at ``path``."""
        suffix = INPUT if inputs else OUTPUT
        found = spec.fields.get(key)
        if isinstance(found, Attr):
            return words.attr_type(found, inputs)
        child = found if isinstance(found, Child) else spec.fields[spec.singulars[key]]
        name = self.name(child.spec, suffix, f"{path}.{child.key}" if path else child.key)
        return words.field_type(child, name, inputs, singular=child is not found)

    def input_annotation(self, row: Input, inputs: bool) -> str:
        """The annotation of a provider input: ``Literal`` values, its keys' type."""
        stem = self.input_stems.get(id(row))
        members = []
        for part in row.type.split("|"):
            if part == "str" and row.values:
                members.append(words.literal(row.values))
            elif part == "dict" and stem:
                members.append(stem + (INPUT if inputs else OUTPUT))
            else:
                members.append(_INPUT_TYPES.get(part, "Any"))
        annotation = words.union(members)
        return f"pulumi.Input[{annotation}]" if inputs else annotation

    def key_doc(self, spec: ElementSpec, key: str, paths: list[str]) -> str:
        found = spec.fields.get(key)
        if isinstance(found, Attr):
            text = words.attr_words(self.kind, spec, found)
            target = key
        elif isinstance(found, Child):
            text = words.child_words(self.kind, found)
            target = key
        else:
            target = spec.singulars[key]
            text = words.child_words(self.kind, spec.fields[target], singular=True)
        changes = words.change_words(self.kind, self.noun,
                                     [f"{p}.{target}" if p else target for p in paths])
        return f"{text} {changes}"

    def render(self) -> str:
        lines = [
            f'"""Typed inputs and outputs of libvirt {self.kind} XML. Generated by '
            'scripts/generate.py from\nthe tables and the policy; do not edit.\n\n'
            "``...ArgsDict`` types are what resources take (every value a Pulumi ``Input``); "
            "the types\nwithout the suffix are what their outputs hold.\n"
            '"""\n',
            "from __future__ import annotations\n",
            "from collections.abc import Mapping, Sequence",
            "from typing import Any, Literal, TypedDict\n",
            "import pulumi\n",
            "from ._extra import Extra, ExtraArgsDict\n",
        ]
        exported = self.names()
        lines.append("__all__ = [")
        lines.extend(f"    {name!r}," for name in sorted(exported))
        lines.append("]\n")
        for key, place in self.places.items():
            if place.spec.shape == "dict":
                for suffix in (INPUT, OUTPUT):
                    lines.append(self._typed_dict(self.stems[key], place, suffix == INPUT))
        for stem, (row, where) in self.input_rows.items():
            for suffix in (INPUT, OUTPUT):
                lines.append(self._input_dict(stem, row, where, suffix == INPUT))
        return "\n".join(lines).rstrip() + "\n"

    def _typed_dict(self, stem: str, place: Place, inputs: bool) -> str:
        spec, path = place.spec, place.paths[0]  # a place with nested inputs has one path
        keys: list[tuple[str, str, str]] = []  # key, annotation, doc
        for key in (*spec.fields, *spec.singulars):
            keys.append((key, self.key_annotation(spec, key, inputs, path),
                         self.key_doc(spec, key, place.paths)))
        if spec.text is not None:
            annotation = words.union(words.value_type(spec.text))
            keys.append(("value", f"pulumi.Input[{annotation}]" if inputs else annotation,
                         f"The element's text: {words.describe_value(spec.text)}."))
        for row in self.nested.get(path, ()):  # provider-only keys of these items
            keys.append((row.name, self.input_annotation(row, inputs),
                         words.input_doc(row, self.noun)))
        keys.append(("_extra", "ExtraArgsDict" if inputs else "Extra", EXTRA_DOC))
        what = "Input" if inputs else "Output"
        where = ", ".join(place.paths[:3]) + (
            f" and {len(place.paths) - 3} more" if len(place.paths) > 3 else "")
        doc = (f"{what} type of {words.element_words(self.kind, spec)} At {where}. "
               f"See {doc_link(self.kind, place.paths[0])}")
        return self._class(stem, inputs, doc, keys)

    def _input_dict(self, stem: str, row: Input, where: str, inputs: bool) -> str:
        """The types of a provider input's dict form (``wait_for_ip={...}``)."""
        keys = [(key.name, self.input_annotation(key, inputs), words.input_doc(key, self.noun,
                                                                               inner=True))
                for key in row.keys]
        doc = (f"{'Input' if inputs else 'Output'} type of ``{row.name}`` of {where} as a "
               "dict (a provider input, not libvirt XML).")
        return self._class(stem, inputs, doc, keys)

    def _class(self, stem: str, inputs: bool, doc: str, keys: list[tuple[str, str, str]]) -> str:
        name = stem + (INPUT if inputs else OUTPUT)
        if not inputs:
            doc += f" Each key is documented on {stem}{INPUT}."
        odd = [(k, a) for k, a, _d in keys if keyword.iskeyword(k)]
        out = []
        bases = "TypedDict, total=False"
        if odd:  # Python keywords (``class``) cannot be class attributes: a functional base
            base = f"_{name}Keywords"
            items = ", ".join(f"{k!r}: {a!r}" for k, a in odd)
            out.append(f"{base} = TypedDict({base!r}, {{{items}}}, total=False)\n\n")
            bases = f"{base}, total=False"
        out.append(f"class {name}({bases}):\n")
        out.append(words.docstring(doc, "    "))
        for key, annotation, key_doc in keys:
            if keyword.iskeyword(key):
                continue
            out.append(f"\n    {key}: {annotation}\n")
            if inputs:  # the output type's keys are the same: documented once
                out.append(words.docstring(key_doc, "    "))
        return "\n" + "".join(out)


EXTRA_MODULE = '''"""The ``_extra`` key every element takes: libvirt XML newer than the tables.
Generated by scripts/generate.py; do not edit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypedDict

import pulumi

__all__ = ["Extra", "ExtraArgsDict"]


class ExtraArgsDict(TypedDict, total=False):
    """What the tables do not know, written as it is under ``_extra`` of the element that
    holds it (a value or element newer than libvirt 11.3's schemas)."""

    attributes: pulumi.Input[Mapping[str, pulumi.Input[str]]]
    """Attributes by their XML name."""

    elements: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Child elements, each a string of XML."""

    text: pulumi.Input[str]
    """The element's text."""


class Extra(TypedDict, total=False):
    """What the tables did not know, as libvirt wrote it."""

    attributes: dict[str, str]
    elements: list[str]
    text: str
'''
