"""Conformance tier: every document of the shared corpus round-trips losslessly.

Enabled by ``LIBVIRT_XML_CORPUS`` (CI sets it to ``../shared/corpus``); skipped otherwise, so the
project's own suite stands alone. Covered:

- every file under ``domain/``, ``network/``, ``pool/`` and ``volume/``;
- every file under ``capabilities/`` (host ``<capabilities>`` and ``<domainCapabilities>``, the
  documents the host lookups read);
- the documents embedded in the test driver's state files (``testdriver/*.xml``, root
  ``<node>``): domains, networks, pools, the volumes inside those pools, node devices
  (``<device>``) and the snapshots inside domains (``<test:domainsnapshot>``, read as
  ``<domainsnapshot>`` documents as the test driver does).

"Lossless" means ``canonical(source) == canonical(to_xml(from_xml(source)))``. Where the source
validates against the pinned RelaxNG schemas (libvirt 11.3, the tables' own), the output
must validate too. The last test prints
(in the terminal summary) how many documents of each kind round-tripped and validated.
"""

from __future__ import annotations

import copy
import os
import pathlib
from functools import cache

import pinned
import pytest
from lxml import etree

from pulumi_libvirt.xml import canonical_xml, from_xml, policy, to_xml

CORPUS = os.environ.get("LIBVIRT_XML_CORPUS")
if not CORPUS:
    pytest.skip("LIBVIRT_XML_CORPUS not set (conformance tier)", allow_module_level=True)

SCHEMA_FILES = policy.SCHEMA_FILES
FOLDERS = ("domain", "network", "pool", "volume")
TEST_NS = "{http://libvirt.org/schemas/domain/test/1.0}"
EMBEDDED = {"domain": "domain", "network": "network", "pool": "pool", "device": "nodedev"}
CAPABILITIES = {"capabilities": "capabilities", "domainCapabilities": "domaincaps"}  # by root


def _corpus_documents() -> dict[str, tuple[str, bytes]]:
    """id -> (kind, XML bytes) for every document the tier covers."""
    root = pathlib.Path(CORPUS)
    documents = {}
    for kind in FOLDERS:
        for path in sorted(root.glob(f"{kind}/*.xml")):
            documents[f"{kind}/{path.name}"] = (kind, path.read_bytes())
    for path in sorted(root.glob("capabilities/*.xml")):
        source = path.read_bytes()
        kind = CAPABILITIES[etree.fromstring(source).tag]
        documents[f"capabilities/{path.name}"] = (kind, source)
    for path in sorted(root.glob("testdriver/*.xml")):
        for key, kind, elem in _embedded(etree.parse(str(path)).getroot()):
            documents[f"testdriver/{path.name}:{key}"] = (kind, etree.tostring(elem))
    return documents


def _embedded(node: etree._Element):
    """(id, kind, element) for the documents a test-driver state file embeds."""
    position: dict[str, int] = {}
    for elem in node:
        kind = EMBEDDED.get(elem.tag) if isinstance(elem.tag, str) else None
        if kind is None:
            continue
        index = position[kind] = position.get(kind, -1) + 1
        name = elem.findtext("name") or str(index)
        key = f"{kind}[{index}]:{name}"
        yield key, kind, elem
        if kind == "pool":
            for j, volume in enumerate(elem.findall("volume")):
                yield f"{key}/volume[{j}]:{volume.findtext('name')}", "volume", volume
        if kind == "domain":
            for j, snapshot in enumerate(elem.findall(TEST_NS + "domainsnapshot")):
                document = copy.deepcopy(snapshot)
                document.tag = "domainsnapshot"
                etree.cleanup_namespaces(document)
                label = snapshot.findtext("name")
                yield f"{key}/snapshot[{j}]:{label}", "domainsnapshot", document


DOCUMENTS = _corpus_documents()


@cache
def _schema(kind: str) -> etree.RelaxNG:
    # the pinned schemas the tables come from; by path: a schema includes its siblings
    return etree.RelaxNG(file=str(pinned.schema_dir() / SCHEMA_FILES[kind]))


def _first_difference(a: tuple, b: tuple, path: str = "") -> str:
    """Where two canonical forms part (for the failure message)."""
    here = f"{path}/{a[0]}"
    labels = ("tag", "attributes", "text")
    for index, (label, x, y) in enumerate(zip(labels, a[:3], b[:3], strict=True)):
        if x != y:
            return f"{here}: {label} {x!r} != {y!r}" if index else f"{path}: <{x}> != <{y}>"
    if len(a[3]) != len(b[3]):
        tags = ([c[0] for c in a[3]], [c[0] for c in b[3]])
        return f"{here}: children {tags[0]} != {tags[1]}"
    for x, y in zip(a[3], b[3], strict=True):
        if x != y:
            return _first_difference(x, y, here)
    return here


@cache
def round_trip(doc_id: str) -> tuple[str | None, bool | None]:
    """(problem or None, whether the source validates against the pinned schemas)."""
    kind, source = DOCUMENTS[doc_id]
    try:
        output = to_xml(kind, from_xml(kind, source))
    except Exception as exc:  # reported as the document's problem
        return f"{type(exc).__name__}: {exc}", None
    before, after = canonical_xml(source), canonical_xml(output)
    if before != after:
        return f"not lossless at {_first_difference(before, after)}", None
    schema = _schema(kind)
    if not schema.validate(etree.fromstring(source)):
        return None, False
    if not schema.validate(etree.fromstring(output.encode())):
        return f"source validates against {SCHEMA_FILES[kind]}, output does not: " + str(
            schema.error_log.last_error
        ), True
    return None, True


@pytest.mark.parametrize("doc_id", list(DOCUMENTS))
def test_round_trip(doc_id):
    problem, _validates = round_trip(doc_id)
    assert problem is None, f"{doc_id}: {problem}"


class _Summary:
    """A plugin that writes one line into the terminal summary."""

    def __init__(self, line: str):
        self.line = line

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.write_sep("-", "XML conformance")
        terminalreporter.write_line(self.line)


def test_summary(request):
    """All documents at once: counts per kind, printed in the terminal summary."""
    kinds = [k for k in SCHEMA_FILES if any(kind == k for kind, _ in DOCUMENTS.values())]
    passed = dict.fromkeys(kinds, 0)
    validated = dict.fromkeys(kinds, 0)
    failed = []
    for doc_id, (kind, _source) in DOCUMENTS.items():
        problem, validates = round_trip(doc_id)
        if problem is None:
            passed[kind] += 1
        else:
            failed.append(doc_id)
        validated[kind] += bool(validates)
    line = (
        "conformance: "
        + ", ".join(f"{passed[k]} {k}" for k in kinds)
        + " documents round-tripped losslessly"
        + f" ({len(failed)} failed); sources valid against libvirt's RelaxNG, output valid too: "
        + ", ".join(f"{validated[k]} {k}" for k in kinds)
    )
    print(line)
    request.config.pluginmanager.register(_Summary(line), "xml-conformance-summary")
    assert DOCUMENTS and not failed, f"{len(failed)} failed: {failed[:10]}"
