"""The Pulumi package schema of our resources, built from the same tables as everything else.

``scripts/generate.py`` writes it to ``schema.json``; a test keeps the file in sync. Each XML
element a resource can hold becomes an object type named after the first path that reaches it
(``libvirt:index:PoolTarget``); provider-only inputs and computed outputs come from the
resource logic classes, and so do the provider-only keys inside XML items
(``ResourceLogic.nested_inputs``: ``wait_for_ip`` of an interface), which only the element at
that path gets (a spec shared with other paths gets a type of its own there).
"""

from __future__ import annotations

from typing import Any

from . import __version__, xml
from .providers import LOGIC, Input, ResourceLogic
from .providers.inputs import own_paths
from .xml import policy
from .xml.spec import Attr, Child, ElementSpec, ValueType

PACKAGE = "libvirt"
DOCS = policy.DOC_PAGES  # libvirt's page for each kind
_INPUT_TYPES = {"bool": {"type": "boolean"}, "str": {"type": "string"},
                "int": {"type": "integer"}, "dict": {"type": "object"}}


def _camel(key: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in key.split("_"))


def _scalar(vtype: ValueType | None) -> dict:
    if vtype is None:
        return {"type": "string"}
    if vtype.kind == "bool":
        return {"type": "boolean"}
    if vtype.kind == "int" and not vtype.patterns:
        return {"type": "integer"} if not vtype.values else {
            "oneOf": [{"type": "integer"}, {"type": "string"}]
        }
    if vtype.kind == "float":
        return {"type": "number"}
    if vtype.kind == "octal":
        return {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    return {"type": "string"}


class _Builder:
    def __init__(self, kind: str, prefix: str,
                 nested: dict[str, tuple[Input, ...]] | None = None):
        self.kind = kind
        self.prefix = prefix
        self.nested = nested or {}
        self.own = own_paths(self.nested)
        self.types: dict[str, dict] = {}
        self._names: dict[Any, str] = {}

    def input(self, item: Input, name: str) -> dict:
        """The property schema of a provider input (its dict form a type of its own when it
        has keys)."""
        members = []
        for part in item.type.split("|"):
            if part == "dict" and item.keys:
                members.append({"$ref": f"#/types/{PACKAGE}:index:{self.input_type(item, name)}"})
            else:
                members.append(_INPUT_TYPES[part])
        doc = item.doc
        if item.values:
            doc += f" One of: {', '.join(item.values)}."
        if item.minimum is not None:
            doc += f" Minimum: {item.minimum}."
        schema = {**(members[0] if len(members) == 1 else {"oneOf": members}),
                  "description": doc + " (provider input, not libvirt XML)"}
        if item.secret:
            schema["secret"] = True
        if item.default is not None:
            schema["default"] = item.default
        return schema

    def input_type(self, item: Input, name: str) -> str:
        self.types[name] = {
            "type": "object",
            "description": f"{item.name} as a dict (provider input, not libvirt XML).",
            "properties": {key.name: self.input(key, name + _camel(key.name))
                           for key in item.keys},
        }
        return name

    def element(self, spec: ElementSpec, name: str, doc: str, path: str) -> dict:
        """The property schema of one element."""
        shape = spec.shape
        if shape == "presence":
            return {"type": "boolean", "description": doc + " (present when true)"}
        if shape == "raw":
            return {"type": "string", "description": doc + " (XML)"}
        if shape == "scalar":
            return {**_scalar(spec.text), "description": _describe(doc, spec.text)}
        ref = {"$ref": f"#/types/{PACKAGE}:index:{self.object_type(spec, name, path)}"}
        if spec.text is not None:
            return {"oneOf": [_scalar(spec.text), ref], "description": doc}
        if spec.shorthand is not None:
            return {"oneOf": [_scalar(spec.shorthand.type), ref], "description": doc}
        return {**ref, "description": doc}

    def object_type(self, spec: ElementSpec, name: str, path: str) -> str:
        place = (id(spec), path) if path in self.own else id(spec)
        if place in self._names:
            return self._names[place]
        type_name = name
        while type_name in self.types:
            type_name += "X"
        self._names[place] = type_name
        self.types[type_name] = {}  # placeholder: specs can recurse (backingStore)
        properties = {}
        for key, field in spec.fields.items():
            properties[key] = self.field(spec, key, field, type_name + _camel(key),
                                         f"{path}.{key}")
        for singular, plural in spec.singulars.items():
            properties[singular] = self.singular(spec.fields[plural], type_name, plural,
                                                 f"{path}.{plural}")
        if spec.text is not None:
            properties["value"] = {**_scalar(spec.text),
                                   "description": _describe("The element's text.", spec.text)}
        for item in self.nested.get(path, ()):
            properties[item.name] = self.input(item, self.prefix + _camel(item.name))
        self.types[type_name] = {
            "type": "object",
            "description": f"libvirt XML element <{_local(spec.tag)}>.",
            "properties": properties,
        }
        return type_name

    def singular(self, field: Child, type_name: str, plural: str, path: str) -> dict:
        """The property for one item of a list written alone (``source`` of ``sources``)."""
        name = type_name + _camel(plural)
        item = self.element(field.spec, name[:-1] if name.endswith("s") else name, "", path)
        return {**item, "description": f"One element <{_local(field.tag)}>: shorthand for a "
                                       f"one-item '{plural}'."}

    def field(self, parent: ElementSpec, key: str, field: Any, name: str, path: str) -> dict:
        if isinstance(field, Attr):
            doc = f"Attribute '{field.xml}' of <{_local(parent.tag)}>."
            return {**_scalar(field.type), "description": _describe(doc, field.type)}
        doc = f"Element <{_local(field.tag)}>" + (" (repeated)." if field.many else ".")
        item = self.element(field.spec, name[:-1] if field.many and name.endswith("s") else name,
                            doc, path)
        if field.many:
            return {"type": "array", "items": {k: v for k, v in item.items()
                                               if k != "description"}, "description": doc}
        return item


def _parent_of(spec: ElementSpec, path: str) -> tuple[ElementSpec, str]:
    """The element spec holding the last step of a dotted path, and that step."""
    *steps, last = path.split(".")
    for step in steps:
        spec = spec.fields[step].spec
    return spec, last


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _describe(doc: str, vtype: ValueType | None) -> str:
    if vtype is not None and vtype.kind == "enum":
        return f"{doc} One of: {', '.join(vtype.values)}."
    return doc


def resource_schema(logic: type[ResourceLogic], builder: _Builder) -> dict:
    spec = xml.load(logic.kind)
    inputs: dict[str, dict] = {}
    for key in logic.xml_keys():
        if key in spec.singulars:
            inputs[key] = builder.singular(spec.fields[spec.singulars[key]], logic.type_name,
                                           spec.singulars[key], spec.singulars[key])
            continue
        field = spec.fields[key]
        inputs[key] = builder.field(spec, key, field, logic.type_name + _camel(key), key)
    for alias, path in logic.aliases.items():
        parent, key = _parent_of(spec, path)
        schema = builder.field(parent, key, parent.fields[key], logic.type_name + _camel(alias),
                               path)
        inputs[alias] = {**schema, "description": f"Shorthand for {path}."}
    for name, item in logic.all_inputs().items():
        inputs[name] = builder.input(item, logic.type_name + _camel(name))
    outputs = dict(inputs)
    for name, (schema_type, doc) in logic.computed.items():
        if name in inputs:  # what the user wrote, else libvirt's value (the input's types)
            outputs[name] = {**inputs[name], "description": doc}
        else:
            # a type name, or a schema of its own ({"type": "array", "items": ...})
            body = {"type": schema_type} if isinstance(schema_type, str) else dict(schema_type)
            outputs[name] = {**body, "description": doc}
        if name in logic.secret_outputs:
            outputs[name]["secret"] = True
    required = [name for name, _message in _required(logic)]
    return {
        "description": (logic.__doc__ or "").strip().splitlines()[0]
        + f" See {DOCS[logic.kind]}.",
        "inputProperties": inputs,
        "requiredInputs": required,
        "properties": outputs,
        "required": sorted({*logic.computed, "uri"}),
    }


def _required(logic: type[ResourceLogic]):
    for problem in logic().validate({}, {}):
        if problem.message.startswith("required:"):
            yield problem.path, problem.message


def build_schema() -> dict:
    """The whole package schema as a dict (``json.dumps`` it)."""
    resources, types = {}, {}
    for type_name, logic in sorted(LOGIC.items()):
        builder = _Builder(logic.kind, type_name, logic.nested_inputs)
        resources[f"{PACKAGE}:index:{type_name}"] = resource_schema(logic, builder)
        for name, body in builder.types.items():
            types[f"{PACKAGE}:index:{name}"] = body
    return {
        "name": PACKAGE,
        "displayName": "libvirt",
        "version": __version__,
        "description": "Manage libvirt/KVM hosts: storage pools and volumes, networks, domains; "
                       "resources mirror libvirt's XML.",
        "keywords": ["pulumi", "libvirt", "kvm", "qemu", "category/infrastructure"],
        "license": "Apache-2.0",
        "resources": resources,
        "types": dict(sorted(types.items())),
        "language": {"python": {"packageName": "pulumi_libvirt"}},
    }
