"""Property values as the harness holds them, and the engine's rules for secrets and unknowns.

Values are plain Python data (dict, list, str, float, bool, None) as
``pulumi.runtime.rpc.deserialize_properties`` produces them:

- a secret is the wire marker ``{SIG: SECRET_SIG, "value": v}`` (``rpc.wrap_rpc_secret``);
- an unknown (a value not known during preview) is a ``pulumi.output.Unknown`` instance.

The engine talks to a provider whose Configure answered ``acceptSecrets=False`` (the dynamic
provider host does) by stripping every secret marker before the call and, after it, marking
secret every output whose input of the same name held a secret (``annotate_secrets``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from google.protobuf import struct_pb2
from pulumi.output import Unknown
from pulumi.runtime import rpc

__all__ = [
    "Unknown",
    "annotate_secrets",
    "contains_secrets",
    "contains_unknowns",
    "from_struct",
    "is_secret",
    "is_unknown",
    "make_secret",
    "secret_keys",
    "strip_secrets",
    "to_struct",
]


def is_unknown(value: Any) -> bool:
    """True for Pulumi's unknown value (what preview sends for not-yet-known outputs)."""
    return isinstance(value, Unknown)


def is_secret(value: Any) -> bool:
    """True when `value` is a secret marker."""
    return rpc.is_rpc_secret(value)


def make_secret(value: Any) -> Any:
    """Wrap `value` in a secret marker (idempotent)."""
    return rpc.wrap_rpc_secret(value)


def strip_secrets(value: Any) -> Any:
    """Remove every secret marker, at any depth (what the engine sends a non-secret provider)."""
    if is_secret(value):
        return strip_secrets(value["value"])
    if isinstance(value, dict):
        return {k: strip_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_secrets(v) for v in value]
    return value


def contains_secrets(value: Any) -> bool:
    """True when `value` is or holds a secret."""
    if is_secret(value):
        return True
    if isinstance(value, dict):
        return any(contains_secrets(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_secrets(v) for v in value)
    return False


def contains_unknowns(value: Any) -> bool:
    """True when `value` is or holds an unknown."""
    return rpc.contains_unknowns(value)


def annotate_secrets(outs: dict[str, Any], ins: dict[str, Any]) -> dict[str, Any]:
    """Copy secretness from inputs to same-named outputs, as the engine does.

    Two objects are compared key by key; otherwise an output whose input holds a secret
    becomes secret as a whole. Returns a new dict; `outs` is not modified.
    """
    result = dict(outs)
    for key, in_value in ins.items():
        if key not in result:
            continue
        out_value = result[key]
        if (
            isinstance(out_value, dict)
            and not is_secret(out_value)
            and isinstance(in_value, dict)
            and not is_secret(in_value)
        ):
            result[key] = annotate_secrets(out_value, in_value)
        elif not is_secret(out_value) and contains_secrets(in_value):
            result[key] = make_secret(out_value)
    return result


def secret_keys(props: dict[str, Any]) -> set[str]:
    """Top-level keys of `props` whose values are or hold secrets."""
    return {k for k, v in props.items() if contains_secrets(v)}


def _run(coro: Any) -> Any:
    """Run a coroutine on a private event loop (callable from any thread without a running loop)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def to_struct(props: dict[str, Any]) -> struct_pb2.Struct:
    """Serialize a property dict for the wire. Unknowns become the unknown sentinel."""
    return _run(rpc.serialize_properties(props, {}))


def from_struct(struct: struct_pb2.Struct | None) -> dict[str, Any]:
    """Deserialize a property struct, keeping unknowns and secret markers."""
    if struct is None:
        return {}
    return rpc.deserialize_properties(struct, keep_unknowns=True)
