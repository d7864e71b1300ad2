"""``pulumi_libvirt/generated/<resource>.py``: a resource class and its ``XArgs``.

The class takes Pulumi's name first, then every top-level key of the kind's model and every
provider input as an explicit, documented keyword (or all of them as ``args=XArgs(...)``), and
declares its outputs with their types. Keys the signature does not know still reach the
provider's Check at run time (its "did you mean" message is for users without a type checker);
a type checker sees the signature without them.
"""

from __future__ import annotations

import re
from typing import Any

from ..providers.base import ResourceLogic
from ..xml import load, policy
from ..xml.spec import Child, ElementSpec
from . import words
from .types import KindTypes

_SCHEMA_TYPES = {"string": "str", "integer": "int", "boolean": "bool", "number": "float",
                 "object": "dict[str, Any]"}
_ALWAYS_SET = {"uri"}  # outputs the provider always fills (resolved)


def module_name(type_name: str) -> str:
    """``CloudInitDisk`` -> ``cloud_init_disk``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", type_name).lower()


def schema_type(schema: Any) -> str:
    """A Python type for a (small) JSON schema of a computed output."""
    if isinstance(schema, str):
        return _SCHEMA_TYPES.get(schema, "Any")
    if isinstance(schema, dict):
        if schema.get("type") == "array":
            return f"list[{schema_type(schema.get('items', {}).get('type', 'Any'))}]"
        return schema_type(schema.get("type", "Any"))
    return "Any"


class Param:
    """One keyword of the resource: its annotation, documentation and output type."""

    def __init__(self, name: str, annotation: str, doc: str, output: str):
        self.name, self.annotation, self.doc, self.output = name, annotation, doc, output


def required(logic: type[ResourceLogic]) -> list[str]:
    return [p.path for p in logic().validate({}, {}) if p.message.startswith("required:")]


def _parent(spec: ElementSpec, path: str) -> tuple[ElementSpec, str, str]:
    *steps, last = path.split(".")
    for step in steps:
        found = spec.fields[step]
        assert isinstance(found, Child)
        spec = found.spec
    return spec, ".".join(steps), last


class ResourceModule:
    def __init__(self, logic: type[ResourceLogic], types: KindTypes):
        self.logic = logic
        self.types = types
        self.kind = logic.kind
        self.noun = logic.noun
        self.params = self._params()

    def _params(self) -> list[Param]:
        logic, types, root = self.logic, self.types, load(self.kind)
        params: list[Param] = []
        for key in logic.xml_keys():
            doc = types.key_doc(root, key, [""])
            doc += f" See {policy.doc_link(self.kind, root.singulars.get(key, key))}"
            params.append(Param(key, types.key_annotation(root, key, True, ""), doc,
                                types.key_annotation(root, key, False, "")))
        for alias, path in logic.aliases.items():
            parent, where, last = _parent(root, path)
            doc = (f"Shorthand for ``{path}``. " + types.key_doc(parent, last, [where])
                   + f" See {policy.doc_link(self.kind, path)}")
            params.append(Param(alias, types.key_annotation(parent, last, True, where), doc,
                                types.key_annotation(parent, last, False, where)))
        for item in logic.all_inputs().values():
            doc = words.input_doc(item, self.noun)
            output = types.input_annotation(item, False)
            always = item.default is not None or item.name in _ALWAYS_SET or (
                item.name in required(logic))
            params.append(Param(item.name, types.input_annotation(item, True), doc,
                                output if always else f"{output} | None"))
        return params

    def outputs(self) -> list[tuple[str, str, str]]:
        """(name, type, doc) of every output attribute."""
        found: dict[str, tuple[str, str]] = {}
        needed = set(required(self.logic))
        for param in self.params:
            output = param.output
            if not output.endswith("| None") and param.name not in needed and (
                    param.name not in self.logic.all_inputs()):
                output += " | None"  # an XML key the program did not write
            found[param.name] = (output, "As given (or as libvirt holds it). "
                                 + param.doc.split(" See https://")[0])
        for name, (kind, doc) in self.logic.computed.items():
            computed = schema_type(kind)
            if name in found:  # what the user wrote, else libvirt's value
                given = found[name][0].removesuffix(" | None")
                found[name] = (words.union([computed, *given.split(" | ")]), doc)
            else:
                found[name] = (computed, doc)
        return [(name, kind, doc) for name, (kind, doc) in found.items()]

    def class_doc(self) -> str:
        logic, name = self.logic, self.logic.type_name
        lines = [" ".join((logic.__doc__ or name).split())]
        lines.append(
            f"``{name}(resource_name, name=..., ...)`` or ``{name}(resource_name, "
            f"args={name}Args(...), opts=...)``: Pulumi's name for the resource first, then "
            f"libvirt's fields (snake_case keys of the {self.kind} XML: "
            f"{policy.doc_link(self.kind, '')}) and the provider inputs.")
        needed = required(logic)
        if needed:
            lines.append("Required: " + ", ".join(f"``{n}``" for n in needed) + ".")
        xml_names = set(logic.xml_keys()) | set(logic.aliases)
        sections = (
            ("Inputs (libvirt XML):", [p for p in self.params if p.name in xml_names]),
            ("Provider inputs (not libvirt XML):",
             [p for p in self.params if p.name not in xml_names]),
        )
        for title, params in sections:
            lines.append(title + "\n" + "\n".join(
                f"- ``{p.name}``: {p.doc}" for p in params))
        computed = [(n, d) for n, (_k, d) in logic.computed.items()]
        lines.append("Outputs: every input, as given (or as libvirt holds it), and\n" + "\n".join(
            f"- ``{n}``: {d}" for n, d in computed))
        return "\n\n".join(lines)

    def base(self) -> str:
        """The class the resource derives from: ``resources.<Name>Base`` when the resource has
        program-side behaviour of its own, else ``LibvirtResource``."""
        from .. import resources

        own = getattr(resources, f"{self.logic.type_name}Base", None)
        if isinstance(own, type) and issubclass(own, resources.LibvirtResource):
            return own.__name__
        return "LibvirtResource"

    def type_imports(self) -> list[str]:
        found = set()
        for param in self.params:
            found.update(re.findall(r"\b[A-Z][A-Za-z0-9]*(?:ArgsDict)?\b", param.annotation))
            found.update(re.findall(r"\b[A-Z][A-Za-z0-9]*\b", param.output))
        generated = set(self.types.names())
        return sorted(n for n in found if n in generated)

    def render(self) -> str:
        name = self.logic.type_name
        imports = self.type_imports()
        out = [
            f'"""The {name} resource. Generated by scripts/generate.py from the {self.kind} '
            f'tables, the policy\nand {self.logic.__name__}; do not edit."""\n\n',
            "from __future__ import annotations\n\n",
            "from collections.abc import Mapping, Sequence\n",
            "from typing import TYPE_CHECKING, Any, Literal, TypedDict\n\n",
            "import pulumi\n\n",
            "from ..providers import LOGIC\n",
            f"from ..resources import {self.base()}\n",
        ]
        if imports:
            out.append("\nif TYPE_CHECKING:\n")
            out.append(f"    from ..types.{self.kind} import (\n")
            out.extend(f"        {n},\n" for n in imports)
            out.append("    )\n")
        out.append(f'\n__all__ = ["{name}", "{name}Args"]\n')
        # the args type
        out.append(f"\n\nclass {name}Args(TypedDict, total=False):\n")
        out.append(words.docstring(
            f"Every input of a {name}, as one value: ``{name}('x', args={name}Args(...))`` "
            f"(the form of Pulumi's generated SDKs). It is a dict: ``{name}('x', **args)`` "
            f"works too. See {name} for each key.", "    "))
        for param in self.params:
            out.append(f"\n    {param.name}: {param.annotation}\n")
            out.append(words.docstring(param.doc, "    "))
        # the resource
        base = self.base()
        out.append(f'\n\nclass {name}({base}, module="libvirt", name="{name}"):\n')
        out.append(words.docstring(self.class_doc(), "    "))
        out.append(f'\n    _logic = LOGIC["{name}"]\n')
        # For type checkers only: at run time the SDK reads a resource class's annotations
        # (to translate outputs), and these name types it need not load.
        out.append("\n    if TYPE_CHECKING:\n")
        for output, kind, doc in self.outputs():
            out.append(f"\n        {output}: pulumi.Output[{kind}]\n")
            out.append(words.docstring(doc, "        "))
        head = (f"self,\n            resource_name: str,\n"
                f"            args: {name}Args | pulumi.ResourceOptions | None = None,\n"
                f"            opts: pulumi.ResourceOptions | None = None,\n            *,\n")
        keywords = "".join(f"            {p.name}: {p.annotation} | None = None,\n"
                           for p in self.params)
        out.append("\n")
        out.append(f"        def __init__(\n            {head}{keywords}        ) -> None: ...\n")
        out.append("\n    else:\n\n")
        out.append(f"        def __init__(\n            {head}{keywords}"
                   "            **unknown: Any,\n        ) -> None:\n")
        out.append(words.docstring(
            f"Create a {name}: Pulumi's name, then its inputs as keywords or as "
            f"``args={name}Args(...)`` (see the class documentation). Keys it does not "
            "know go to the provider, whose check names them at preview.", "            "))
        out.append("            self._construct(resource_name, args, opts, locals())\n")
        return "".join(out)


def package_init(logics: list[type[ResourceLogic]]) -> str:
    lines = ['"""Every resource class and its Args type. Generated by scripts/generate.py from '
             'the\nresource logic registry (providers.LOGIC); do not edit."""\n']
    names = []
    for logic in sorted(logics, key=lambda lg: lg.type_name):
        name = logic.type_name
        lines.append(f"from .{module_name(name)} import {name}, {name}Args")
        names += [name, f"{name}Args"]
    lines.append("\n__all__ = [" + ", ".join(f'"{n}"' for n in names) + "]")
    return "\n".join(lines) + "\n"

