"""libvirt XML <-> the Python model, losslessly.

The model follows one rule for every kind (DESIGN.md §2): snake_case keys, attributes and child
elements in one dict, text beside attributes under ``value``, lists under plural keys, booleans
for yes/no and presence elements, ints for numbers. What the table does not know — attributes,
elements or text newer than the schema — is kept under ``_extra`` so that ``to_xml(from_xml(x))``
says everything ``x`` said.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from .spec import Attr, ElementSpec, ValueType, load, namespaces

EXTRA = "_extra"
_PARSER = etree.XMLParser(remove_blank_text=True, remove_comments=True, remove_pis=True)


def parse_document(text: str | bytes) -> etree._Element:
    """Parse XML text, raising ValueError with the parser's message when it is not well formed."""
    data = text.encode() if isinstance(text, str) else text
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None


# ---------------------------------------------------------------- scalar values


def parse_value(vtype: ValueType | None, text: str) -> Any:
    """XML text -> model value; anything that would not survive a round trip stays a string."""
    if vtype is None:
        return text
    kind = vtype.kind
    if kind == "bool":
        true, false = vtype.values
        return True if text == true else False if text == false else text
    if kind in ("int", "float"):
        try:
            number = int(text)
            if str(number) == text:
                return number
        except ValueError:
            pass
        if kind == "float":
            try:
                number = float(text)
                if repr(number) == text:
                    return number
            except ValueError:
                pass
    return text


def format_value(vtype: ValueType | None, value: Any) -> str:
    """Model value -> XML text."""
    if isinstance(value, bool):
        if vtype is not None and vtype.kind == "bool":
            return vtype.values[0] if value else vtype.values[1]
        if vtype is not None and "on" in vtype.values:
            return "on" if value else "off"
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and vtype is not None and vtype.kind == "octal":
        return "0" + format(value, "o")
    return str(value)


# ---------------------------------------------------------------- XML -> model


def from_xml(kind: str, text: str | bytes) -> dict:
    """Parse a libvirt document of ``kind`` into the model."""
    spec = load(kind)
    root = parse_document(text)
    if root.tag != spec.tag:
        raise ValueError(f"expected a <{spec.tag}> document, got <{root.tag}>")
    model = read_element(root, spec)
    return model if isinstance(model, dict) else {}


def read_element(elem: etree._Element, spec: ElementSpec) -> Any:
    """One element -> its model value, shaped by the spec (not by the instance)."""
    model: dict = {}
    extra: dict = {}
    for name, value in elem.attrib.items():
        attr = spec.attrs.get(name)
        if attr is None:
            extra.setdefault("attributes", {})[name] = value
        else:
            model[attr.key] = parse_value(attr.type, value)
    if spec.shape == "raw":
        inner = "".join(_serialize(child) for child in elem if isinstance(child.tag, str))
        return inner if not extra else {**model, "value": inner, EXTRA: extra}
    for child in elem:
        if not isinstance(child.tag, str):
            continue
        known = spec.children.get(child.tag)
        if known is None or (not known.many and known.key in model):
            extra.setdefault("elements", []).append(_serialize(child))
        elif known.many:
            model.setdefault(known.key, []).append(read_element(child, known.spec))
        else:
            model[known.key] = read_element(child, known.spec)
    text = elem.text
    if spec.text is None:
        if text is not None and text.strip():
            extra["text"] = text
        text = None
    if extra:
        model[EXTRA] = extra
    shape = spec.shape
    if shape == "presence" and not model:
        return True
    if shape == "scalar" and not model:
        return parse_value(spec.text, text or "")
    if text is not None:
        model["value"] = parse_value(spec.text, text)
    return model


def _serialize(elem: etree._Element) -> str:
    copy = etree.fromstring(etree.tostring(elem))
    copy.tail = None
    etree.cleanup_namespaces(copy)
    return etree.tostring(copy, encoding="unicode")


# ---------------------------------------------------------------- model -> XML


def to_xml(kind: str, model: dict) -> str:
    """Write the model of a ``kind`` document as libvirt XML."""
    spec = load(kind)
    if not isinstance(model, dict):
        raise ValueError(f"a {kind} model is a dict, got {type(model).__name__}")
    root = etree.Element(spec.tag, nsmap=namespaces(kind) or None)
    write_element(root, spec, model)
    etree.cleanup_namespaces(root)
    return etree.tostring(root, encoding="unicode", pretty_print=True)


def write_element(elem: etree._Element, spec: ElementSpec, value: Any) -> None:
    """Fill ``elem`` from its model value."""
    if value is True and spec.shape in ("presence", "dict"):
        return
    if not isinstance(value, dict):
        if spec.shape == "raw":
            _append_fragment(elem, value)
        elif spec.shorthand is not None:
            elem.set(spec.shorthand.xml, format_value(spec.shorthand.type, value))
        elif spec.text is not None:
            elem.text = format_value(spec.text, value)
        else:
            raise ValueError(f"<{elem.tag}>: expected a dict, got {value!r}")
        return
    children = []
    for key, item in value.items():
        field = spec.fields.get(key)
        if field is None or item is None:
            continue
        if isinstance(field, Attr):
            elem.set(field.xml, format_value(field.type, item))
        elif item is not False:
            children.append((spec.order[key], field, item))
    children.sort(key=lambda entry: entry[0])
    for _position, child, item in children:
        for entry in item if child.many else (item,):
            if entry is None or entry is False:
                continue
            sub = etree.SubElement(elem, child.tag)
            write_element(sub, child.spec, entry)
    text = value.get("value") if spec.text is not None or spec.shape == "raw" else None
    if text is not None:
        if spec.shape == "raw":
            _append_fragment(elem, text)
        else:
            elem.text = format_value(spec.text, text)
    extra = value.get(EXTRA) or {}
    for name, item in (extra.get("attributes") or {}).items():
        elem.set(name, str(item))
    for fragment in extra.get("elements") or []:
        _append_fragment(elem, fragment)
    if extra.get("text") is not None:
        elem.text = extra["text"]


def _append_fragment(elem: etree._Element, fragment: str) -> None:
    # A fragment may hold several top-level elements and rely on the parent's prefixes.
    nsmap = {k: v for k, v in elem.nsmap.items() if k}
    declarations = " ".join(f'xmlns:{k}="{v}"' for k, v in nsmap.items())
    wrapper = parse_document(f"<fragment {declarations}>{fragment}</fragment>")
    for child in list(wrapper):
        elem.append(child)


def canonical(text_or_elem: str | bytes | etree._Element) -> tuple:
    """A comparable form of a document: the same elements, attributes and text, ignoring
    whitespace around text, attribute order, namespace prefixes and the order of differently
    named siblings (same-named siblings keep their order)."""
    elem = text_or_elem
    if not isinstance(elem, etree._Element):
        elem = parse_document(elem)
    children = [c for c in elem if isinstance(c.tag, str)]
    children.sort(key=lambda c: c.tag)  # stable: same-named siblings keep their order
    return (
        elem.tag,
        tuple(sorted(elem.attrib.items())),
        (elem.text or "").strip(),
        tuple(canonical(c) for c in children),
    )
