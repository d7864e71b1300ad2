"""Annotations and documentation words for the typed API, from the element specs and policy.

Nothing here is copied from libvirt's documentation: each text says what the table knows (the
element or attribute, its values, its unit, its shorthands), how a change is applied (the
policy's update modes) and where libvirt documents it (``policy.doc_link``).
"""

from __future__ import annotations

from ..providers.inputs import Input
from ..xml import policy
from ..xml.spec import Attr, Child, ElementSpec, ValueType, one_item

# How a change is applied, by policy update mode.
_MODES = {
    "live": "is applied live",
    "reboot": "takes effect by restarting the {noun}",
    "replace": "replaces the {noun}",
}


def literal(values: tuple[str, ...]) -> str:
    return "Literal[" + ", ".join(repr(v) for v in values) + "]"


def value_type(vtype: ValueType | None) -> list[str]:
    """The Python types a value of ``vtype`` may be written as (union members)."""
    if vtype is None:
        return ["str"]
    kind = vtype.kind
    if kind == "enum":
        members = [literal(vtype.values)]
        if any(v in vtype.values for v in ("yes", "on")):
            members.append("bool")  # True stands for yes/on
        return members
    if kind == "bool":
        return ["bool"]
    if kind == "int":
        members = ["int"]
        if vtype.patterns:
            members.append("str")  # hex and other spellings the schema allows
        elif vtype.values:
            members.append(literal(vtype.values))
        return members
    if kind == "float":
        return ["float"]
    if kind == "octal":
        return ["str", "int"]
    return ["str"]


def union(members: list[str]) -> str:
    unique: list[str] = []
    for member in members:
        if member not in unique:
            unique.append(member)
    return " | ".join(unique)


def element_members(spec: ElementSpec, type_name: str | None) -> list[str]:
    """The types one element may be written as: its dict type and the shorthands."""
    shape = spec.shape
    if shape == "presence":
        return ["bool"]
    if shape == "raw":
        return ["str"]
    if shape == "scalar":
        return value_type(spec.text)
    members = [type_name or "Mapping[str, Any]"]
    if spec.text is not None:
        members += value_type(spec.text)
    elif spec.shorthand is not None:
        members += value_type(spec.shorthand.type)
    return members


def field_type(child: Child, type_name: str | None, inputs: bool, singular: bool = False) -> str:
    """The annotation of a child element's key (``singular``: one item of a list)."""
    item = union(element_members(child.spec, type_name))
    if inputs:
        item = f"pulumi.Input[{item}]"
        if child.many and not singular:
            listed = f"Sequence[{item}]"
            if one_item(child):
                listed += f" | {union(element_members(child.spec, type_name))}"
            return f"pulumi.Input[{listed}]"
        return item
    if child.many and not singular:
        listed = f"list[{item}]"
        return listed + (f" | {item}" if one_item(child) else "")
    return item


def attr_type(attr: Attr, inputs: bool) -> str:
    annotation = union(value_type(attr.type))
    return f"pulumi.Input[{annotation}]" if inputs else annotation


# ---------------------------------------------------------------- documentation


def describe_value(vtype: ValueType | None) -> str:
    if vtype is None:
        return "a string"
    text = vtype.describe()
    if vtype.kind == "enum" and any(v in vtype.values for v in ("yes", "on")):
        text += " (True and False stand for the yes/no or on/off spelling)"
    return text


def unit_words(kind: str) -> str:
    return policy.DEFAULT_UNIT.get(kind, "bytes")


def element_words(kind: str, spec: ElementSpec) -> str:
    """What an element holds and the shorthands it takes."""
    tag = local(spec.tag)
    shape = spec.shape
    if shape == "presence":
        return f"Element ``<{tag}/>``: present when True."
    if shape == "raw":
        return f"Element ``<{tag}>``, as a string of XML."
    if shape == "scalar":
        return f"Element ``<{tag}>``: its text, {describe_value(spec.text)}."
    if spec.scaled:
        return (f"Element ``<{tag}>``, a size: an integer in {unit_words(kind)}, or "
                "``{'value': 2, 'unit': 'GiB'}``.")
    text = f"Element ``<{tag}>``."
    if spec.text is not None:
        text += (f" Its text is ``value`` ({describe_value(spec.text)}); the text alone may "
                 "stand for the dict.")
    elif spec.shorthand is not None:
        text += (f" The value of its only attribute may stand for the dict "
                 f"(``x`` for ``{{'{spec.shorthand.key}': x}}``).")
    return text


def child_words(kind: str, child: Child, singular: bool = False) -> str:
    text = element_words(kind, child.spec)
    if singular:
        text = f"One item of ``{child.key}``, written alone. " + text
    elif child.many:
        text = (f"A list; one item may also be written alone under ``{child.singular}``. "
                "Each item: " + text)
    if child.required:
        text += " Required by libvirt's schema."
    return text


def attr_words(kind: str, parent: ElementSpec, attr: Attr) -> str:
    text = (f"Attribute ``{attr.xml}`` of ``<{local(parent.tag)}>``: "
            f"{describe_value(attr.type)}.")
    if attr.key == "unit" and parent.scaled:
        text += f" Default: {unit_words(kind)}."
    if attr.required:
        text += f" Required in ``<{local(parent.tag)}>``."
    return text


# How a change of a provider input is applied, by its on_change.
_ON_CHANGE = {
    "update": "A change is applied in place.",
    "replace": "A change replaces the {noun}.",
    "none": "A change does nothing to the existing {noun}.",
}


def input_doc(row: Input, noun: str, inner: bool = False) -> str:
    """A provider input's documentation: its row's words, default, bounds, secrecy, how a
    change is applied (not for ``inner``: a key of an input's dict) and that it is not XML."""
    doc = row.doc.rstrip()
    if row.default is not None:
        doc += f" Default: ``{row.default!r}``."
    if row.minimum is not None:
        doc += f" Minimum: {row.minimum}."
    if row.secret and "secret" not in doc.lower():
        doc += " Kept secret."
    if not inner and "hanging it" not in doc:  # the row's own words say it already
        doc += " " + _ON_CHANGE[row.on_change].format(noun=noun)
    return doc + " (Provider input, not libvirt XML.)"


def change_words(kind: str, noun: str, paths: list[str]) -> str:
    """How a change at these model paths is applied (one sentence)."""
    modes: dict[str, list[str]] = {}
    for path in paths:
        modes.setdefault(policy.update_mode(kind, path), []).append(path)
    if len(modes) == 1:
        mode = next(iter(modes))
        return "A change " + _MODES[mode].format(noun=noun) + "."
    parts = []
    for mode, where in sorted(modes.items()):
        shown = ", ".join(where[:3]) + (f" and {len(where) - 3} more" if len(where) > 3 else "")
        parts.append(_MODES[mode].format(noun=noun) + f" at {shown}")
    return "A change " + "; ".join(parts) + "."


def local(tag: str) -> str:
    return tag.rpartition("}")[2]


def docstring(text: str, indent: str) -> str:
    """A docstring literal at ``indent``, wrapped at 100 columns."""
    import textwrap

    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines: list[str] = []
    for paragraph in text.split("\n\n"):
        if lines:
            lines.append("")
        if not any(line.lstrip().startswith("- ") for line in paragraph.splitlines()):
            paragraph = " ".join(paragraph.split())
        if "\n" in paragraph:
            for line in paragraph.splitlines():
                lines.extend(textwrap.wrap(line, 100 - len(indent), subsequent_indent="  ",
                                           break_long_words=False, break_on_hyphens=False)
                             or [""])
            continue
        lines.extend(textwrap.wrap(paragraph, 100 - len(indent), break_long_words=False,
                                   break_on_hyphens=False) or [""])
    if len(lines) == 1 and len(lines[0]) + len(indent) + 6 <= 100:
        return f'{indent}"""{lines[0]}"""\n'
    body = "\n".join(f"{indent}{line}" if line else "" for line in lines)
    return f'{indent}"""\n{body}\n{indent}"""\n'
