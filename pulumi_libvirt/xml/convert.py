"""libvirt XML <-> the Python model, losslessly.

The model follows one rule for every kind (DESIGN.md §2): snake_case keys, attributes and child
elements in one dict, text beside attributes under ``value``, lists under plural keys, booleans
for yes/no and presence elements, ints for numbers. What the table does not know — attributes,
elements or text newer than the schema — is kept under ``_extra`` so that ``to_xml(from_xml(x))``
says everything ``x`` said.

Speed: both directions run on ``_Node``s, the specs of a kind prepared once with what the hot
loops look up (by XML name for reading, by model key for writing). ``to_xml`` writes the text as
a string and reads it back once with lxml, which checks it, drops unused namespace declarations
and pretty-prints it; building it element by element through lxml's API costs several times more.
"""

from __future__ import annotations

import re
from functools import cache
from operator import itemgetter
from typing import Any

from lxml import etree

from .spec import ElementSpec, ValueType, load, namespaces

EXTRA = "_extra"
_PARSER = etree.XMLParser(remove_blank_text=True, remove_comments=True, remove_pis=True)
# What to_xml wrote holds no blank text between elements; whitespace in values is data.
_WRITTEN = etree.XMLParser(remove_comments=True, remove_pis=True)
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_ATTRIBUTE_NAME = re.compile(r"(\{[^}]*\})?[^\W\d][\w.\-]*(:[^\W\d][\w.\-]*)?")


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


_TEXT_SPECIAL = re.compile(r"[&<>\r]")
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTRIBUTE_SPECIAL = re.compile(r'[&<>"\n\r\t]')
_ESCAPES = str.maketrans({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
    "\n": "&#10;", "\r": "&#13;", "\t": "&#9;",
})


def escape_text(text: str) -> str:
    return text if _TEXT_SPECIAL.search(text) is None else text.translate(_TEXT_ESCAPES)


def escape_attribute(text: str) -> str:
    return text if _ATTRIBUTE_SPECIAL.search(text) is None else text.translate(_ESCAPES)


# ---------------------------------------------------------------- prepared specs


class _Node:
    """One element spec with what the converter looks up, computed once per kind."""

    __slots__ = (
        "spec", "shape", "text", "parse_text", "shorthand", "raw", "empty_ok",
        "attrs_in", "children_in", "fields_out", "declarations", "prefixes",
    )

    def __init__(self, spec: ElementSpec, kind: str):
        self.spec = spec
        # the document's namespaces (declared on the root): raw XML may use their prefixes
        self.declarations = _declarations(kind)
        self.prefixes = {uri: prefix for prefix, uri in namespaces(kind).items()}
        self.shape = spec.shape
        self.text = spec.text
        self.parse_text = _parser_for(spec.text)
        self.shorthand = spec.shorthand
        self.raw = spec.shape == "raw"
        self.empty_ok = spec.shape in ("presence", "dict")  # True writes <name/>
        # reading: XML attribute name -> (key, value type to parse with, None to keep the text)
        self.attrs_in = {xml: (a.key, _parser_for(a.type)) for xml, a in spec.attrs.items()}
        self.children_in: dict = {}  # clark tag -> (key, many, _Node)
        # writing: key -> (None, xml name, value type) or (position, qualified tag, _Node, many)
        self.fields_out: dict = {a.key: (None, a.xml, a.type) for a in spec.attrs.values()}


def _parser_for(vtype: ValueType | None) -> ValueType | None:
    """The value type when parse_value can change the text, else None (keep it as it is)."""
    return vtype if vtype is not None and vtype.kind in ("bool", "int", "float") else None


@cache
def _prepared(kind: str) -> _Node:
    """The root ``_Node`` of ``kind``, every node linked to its children's nodes."""
    root = load(kind)
    nodes: dict[int, _Node] = {}
    pending = [root]
    while pending:
        spec = pending.pop()
        if id(spec) not in nodes:
            nodes[id(spec)] = _Node(spec, kind)
            pending.extend(child.spec for child in spec.children.values())
    for node in nodes.values():
        for position, child in enumerate(node.spec.children.values()):
            target = nodes[id(child.spec)]
            node.children_in[child.tag] = (child.key, child.many, target)
            qname = child.tag
            if qname[0] == "{":
                uri, local = qname[1:].split("}", 1)
                qname = f"{node.prefixes[uri]}:{local}"
            node.fields_out[child.key] = (position, qname, target, child.many)
        for singular, plural in node.spec.singulars.items():  # one item of a list
            node.fields_out[singular] = node.fields_out[plural]
    return nodes[id(root)]


# ---------------------------------------------------------------- XML -> model


def from_xml(kind: str, text: str | bytes) -> dict:
    """Parse a libvirt document of ``kind`` into the model."""
    node = _prepared(kind)
    root = parse_document(text)
    if root.tag != node.spec.tag:
        raise ValueError(f"expected a <{node.spec.tag}> document, got <{root.tag}>")
    model = _read(root, node)
    return model if isinstance(model, dict) else {}


def _read(elem: etree._Element, node: _Node) -> Any:
    """One element -> its model value, shaped by the spec (not by the instance)."""
    model: dict = {}
    extra = None  # created when something unknown turns up
    attrs_in = node.attrs_in
    for name, value in elem.items():
        known = attrs_in.get(name)
        if known is not None:
            vtype = known[1]
            model[known[0]] = value if vtype is None else parse_value(vtype, value)
        else:
            extra = extra or {}
            extra.setdefault("attributes", {})[name] = value
    if node.raw:
        inner = "".join(_serialize(child) for child in elem if isinstance(child.tag, str))
        return inner if not extra else {**model, "value": inner, EXTRA: extra}
    if len(elem):
        children_in = node.children_in
        for child in elem:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            known = children_in.get(tag)
            if known is not None:
                key, many, child_node = known
                if many:
                    items = model.get(key)
                    if items is None:
                        items = model[key] = []
                    items.append(_read(child, child_node))
                    continue
                if key not in model:
                    model[key] = _read(child, child_node)
                    continue
            # unknown, or a second one where the schema allows one
            extra = extra or {}
            extra.setdefault("elements", []).append(_serialize(child))
    text = elem.text
    if node.text is None:
        if text is not None and text.strip():
            extra = extra or {}
            extra["text"] = text
        text = None
    if extra:
        model[EXTRA] = extra
    if not model:
        if node.shape == "presence":
            return True
        if node.shape == "scalar":
            text = text or ""
            return text if node.parse_text is None else parse_value(node.parse_text, text)
    if text is not None:
        model["value"] = text if node.parse_text is None else parse_value(node.parse_text, text)
    return model


def _serialize(elem: etree._Element) -> str:
    copy = etree.fromstring(etree.tostring(elem, with_tail=False))
    etree.cleanup_namespaces(copy)
    return etree.tostring(copy, encoding="unicode")


# ---------------------------------------------------------------- model -> XML


def to_xml(kind: str, model: dict) -> str:
    """Write the model of a ``kind`` document as libvirt XML."""
    node = _prepared(kind)
    if not isinstance(model, dict):
        raise ValueError(f"a {kind} model is a dict, got {type(model).__name__}")
    out: list[str] = []
    _write(out, node, model, node.spec.tag, node.declarations)
    try:
        root = etree.fromstring("".join(out).encode(), _WRITTEN)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"the {kind} model does not make well-formed XML: {exc}") from None
    # Drops unused declarations, and fragments' own declarations of the document's namespaces.
    etree.cleanup_namespaces(root, top_nsmap=namespaces(kind) or None)
    return etree.tostring(root, encoding="unicode", pretty_print=True)


@cache
def _declarations(kind: str) -> str:
    """The document's namespace declarations: raw fragments may use their prefixes."""
    return "".join(f' xmlns:{p}="{escape_attribute(u)}"' for p, u in namespaces(kind).items())


def _write(out: list, node: _Node, value: Any, name: str, declarations: str = "") -> None:
    """Append the XML text of one element (qualified tag ``name``) holding ``value``;
    ``declarations`` go into the root's start tag."""
    if value is True and node.empty_ok:
        out.append(f"<{name}{declarations}/>")
        return
    if not isinstance(value, dict):
        _write_scalar(out, node, value, name, declarations)
        return
    if EXTRA in value or node.raw:
        _write_any(out, node, value, name, declarations)
        return
    fields = node.fields_out
    head = declarations
    children = None
    for key, item in value.items():
        field = fields.get(key)
        if field is None or item is None:
            continue
        if field[0] is None:  # an attribute
            text = item if item.__class__ is str else format_value(field[2], item)
            if not text.isalnum() and _ATTRIBUTE_SPECIAL.search(text) is not None:
                text = text.translate(_ESCAPES)
            head += f' {field[1]}="{text}"'
        elif item is not False:
            if children is None:
                children = [(field[0], field, item)]
            else:
                children.append((field[0], field, item))
    text = value.get("value") if node.text is not None else None
    if text is not None and text.__class__ is not str:
        text = format_value(node.text, text)
    if children is None:
        if text is None:
            out.append(f"<{name}{head}/>")
        else:
            out.append(f"<{name}{head}>{escape_text(text)}</{name}>")
        return
    out.append(f"<{name}{head}>" if text is None else f"<{name}{head}>{escape_text(text)}")
    _write_children(out, children)
    out.append(f"</{name}>")


def _write_children(out: list, children: list) -> None:
    """Child elements in schema order; ``children`` holds (position, field, value)."""
    if len(children) > 1:
        children.sort(key=_FIRST)
    for _, (_, tag, child, many), item in children:
        if not many or (item.__class__ is not list and item.__class__ is not tuple):
            _write(out, child, item, tag)  # one element, or one item of a list
            continue
        for entry in item:
            if entry is not None and entry is not False:
                _write(out, child, entry, tag)


_FIRST = itemgetter(0)


def _write_any(out: list, node: _Node, value: dict, name: str, declarations: str) -> None:
    """The general case of ``_write``: ``_extra`` content or raw XML."""
    extra = value.get(EXTRA) or {}
    head = declarations + _attributes(node, value, extra)
    children = []
    for key, item in value.items():
        field = node.fields_out.get(key)
        if field is not None and field[0] is not None and item is not None and item is not False:
            children.append((field[0], field, item))
    text = extra.get("text")
    if text is None and node.text is not None and not node.raw:
        text = value.get("value")
        if text is not None and text.__class__ is not str:
            text = format_value(node.text, text)
    out.append(f"<{name}{head}>" if text is None else f"<{name}{head}>{escape_text(text)}")
    _write_children(out, children)
    if node.raw and value.get("value") is not None:
        out.append(_fragment(value["value"], node))
    for fragment in extra.get("elements") or ():
        out.append(_fragment(fragment, node))
    out.append(f"</{name}>")  # an empty <name></name> reads back as <name/>


def _write_scalar(out: list, node: _Node, value: Any, name: str, declarations: str) -> None:
    """A model value that is not a dict: raw XML, the only attribute, or the text."""
    if node.raw:
        out.append(f"<{name}{declarations}>{_fragment(value, node)}</{name}>")
    elif node.shorthand is not None:
        attr = node.shorthand
        text = escape_attribute(format_value(attr.type, value))
        out.append(f'<{name}{declarations} {attr.xml}="{text}"/>')
    elif node.text is not None:
        text = escape_text(format_value(node.text, value))
        out.append(f"<{name}{declarations}>{text}</{name}>")
    else:
        raise ValueError(f"<{node.spec.tag}>: expected a dict, got {value!r}")


def _attributes(node: _Node, value: dict, extra: dict) -> str:
    """An element's attributes; ``_extra`` ones replace known attributes of the same name in
    place, namespaced ones (``{uri}name``) get a prefix."""
    attributes = {}
    for key, item in value.items():
        field = node.fields_out.get(key)
        if field is not None and field[0] is None and item is not None:
            attributes[field[1]] = format_value(field[2], item)
    for name, item in (extra.get("attributes") or {}).items():
        if not _ATTRIBUTE_NAME.fullmatch(name):
            raise ValueError(f"Invalid attribute name {name!r}")
        attributes[name] = str(item)
    head = ""
    prefixes = {_XML_NS: "xml", **node.prefixes}  # for {uri}name attributes
    fresh = 0
    for name, text in attributes.items():
        if name[0] == "{":
            uri, local = name[1:].split("}", 1)
            if uri not in prefixes:
                prefixes[uri] = f"ns{fresh}"
                fresh += 1
                head += f' xmlns:{prefixes[uri]}="{escape_attribute(uri)}"'
            name = f"{prefixes[uri]}:{local}"
        head += f' {name}="{escape_attribute(text)}"'
    return head


def _fragment(fragment: Any, node: _Node) -> str:
    """Raw XML to embed, as lxml would append it: its elements (and their tails), checked for
    well-formedness; it may use the document's namespace prefixes."""
    wrapper = parse_document(f"<fragment{node.declarations}>{fragment}</fragment>")
    wrapper.text = None
    text = etree.tostring(wrapper, encoding="unicode")
    if text.endswith("/>"):
        return ""
    return text[text.index(">") + 1 : -len("</fragment>")]


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
