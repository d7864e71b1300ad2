"""One definition, two Pulumi-style functions: ``get_x(...)`` and ``get_x_output(...)``.

Dynamic providers have no invokes, so lookups run in the program's own process, through the
connection layer and with the URI resolved as resources resolve it. A lookup is written once, as
a function of a ``Host`` and its own parameters::

    def get_node_info(host: Host) -> NodeInfo: ...

    get_node_info, get_node_info_output = lookup(get_node_info)

``lookup`` returns the plain form (the parameters plus ``uri``, returning the result) and the
output form (the same parameters as Pulumi ``Input``s, returning an ``Output`` of the result).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

import libvirt
import pulumi

from ..connection import LibvirtError, described, not_found, resolve_uri, run
from ..xml.check import suggest

R = TypeVar("R")


@dataclass(frozen=True)
class Host:
    """The libvirt connection a lookup runs on, and its URI for messages."""

    conn: libvirt.virConnect
    uri: str

    def described(self, what: str, action: str | None = None) -> AbstractContextManager[None]:
        """libvirt errors inside become ``LibvirtError`` naming ``what`` and this host."""
        return described(what, self.uri, action)

    def find(self, what: str, name: str, lookup: Callable[[str], Any],
             names: Callable[[], list[str]]) -> Any:
        """``lookup(name)``; an object that does not exist is an error naming it, the host
        and the closest existing names (``names()``)."""
        try:
            return lookup(name)
        except libvirt.libvirtError as exc:
            if not not_found(exc):
                with self.described(f"{what} '{name}'", "read"):
                    raise
        raise LibvirtError(f"{what} '{name}' not found on {self.uri}{suggest(name, names())}")

    def unsupported(self, exc: libvirt.libvirtError, what: str) -> LibvirtError:
        """The error for a call this host's driver does not offer."""
        return LibvirtError(f"{what}: not available on {self.uri} "
                            f"({exc.get_error_message() or exc})")


def stack_uri() -> str | None:
    """Stack config ``libvirt:uri`` when a Pulumi program (or its mocks) is running."""
    try:
        return pulumi.Config("libvirt").get("uri")
    except Exception:  # noqa: BLE001 - no program, no stack config
        return None


def host_uri(uri: str | None = None) -> str:
    """The host a lookup talks to: ``uri``, else stack config ``libvirt:uri``, else
    ``LIBVIRT_DEFAULT_URI``, else ``qemu:///system`` (as for resources)."""
    return resolve_uri(uri, None if uri else stack_uri())


_URI = inspect.Parameter("uri", inspect.Parameter.KEYWORD_ONLY, default=None,
                         annotation="str | None")


def lookup(body: Callable[..., R]) -> tuple[Callable[..., R], Callable[..., pulumi.Output[R]]]:
    """The plain and the output form of the lookup ``body(host, ...)``."""
    signature = inspect.signature(body)
    parameters = list(signature.parameters.values())[1:]  # the Host is ours to give
    plain_signature = signature.replace(parameters=[*parameters, _URI])

    @functools.wraps(body)
    def plain(*args: Any, uri: str | None = None, **kwargs: Any) -> R:
        plain_signature.bind(*args, uri=uri, **kwargs)  # a TypeError naming the argument
        target = host_uri(uri)
        return run(target, lambda conn: body(Host(conn, target), *args, **kwargs))

    def output(*args: Any, **kwargs: Any) -> pulumi.Output[R]:
        arguments = plain_signature.bind(*args, **kwargs).arguments
        # One Output of all the arguments (nested Inputs resolved): unknown during preview
        # when one of them is, as an invoke's result would be.
        return pulumi.Output.from_input(dict(arguments)).apply(lambda given: plain(**given))

    plain.__signature__ = plain_signature  # type: ignore[attr-defined]
    del plain.__wrapped__  # help() and inspect show the public signature, not the body's
    output.__name__ = f"{body.__name__}_output"
    output.__qualname__ = f"{body.__qualname__}_output"
    output.__module__ = body.__module__
    output.__doc__ = (f"``{body.__name__}`` with ``Input`` arguments, returning an ``Output`` "
                      f"of the result.\n\n{body.__doc__ or ''}")
    output.__signature__ = plain_signature.replace(  # type: ignore[attr-defined]
        return_annotation=f"pulumi.Output[{signature.return_annotation}]")
    return plain, output
