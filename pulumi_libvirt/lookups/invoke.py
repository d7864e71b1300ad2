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
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import libvirt
import pulumi

from ..connection import LibvirtError, described, resolve_uri, run

R = TypeVar("R")


@dataclass(frozen=True)
class Host:
    """The libvirt connection a lookup runs on, and its URI for messages."""

    conn: libvirt.virConnect
    uri: str

    def described(self, what: str, action: str | None = None):
        """libvirt errors inside become ``LibvirtError`` naming ``what`` and this host."""
        return described(what, self.uri, action)

    def unsupported(self, exc: libvirt.libvirtError, what: str) -> LibvirtError:
        """The error for a call this host's driver does not offer."""
        return LibvirtError(f"{what} is not available on {self.uri}: "
                            f"{exc.get_error_message() or exc}")


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


class Lookup(Generic[R]):
    """The plain form of a lookup: ``get_x(..., uri=None) -> R``."""

    def __init__(self, body: Callable[..., R]):
        functools.update_wrapper(self, body)
        parameters = list(inspect.signature(body).parameters.values())[1:]  # drop the Host
        self._body = body
        self.__signature__ = inspect.signature(body).replace(parameters=[*parameters, _URI])

    def __call__(self, *args: Any, uri: str | None = None, **kwargs: Any) -> R:
        target = host_uri(uri)
        self.__signature__.bind(*args, uri=uri, **kwargs)  # a TypeError naming the argument
        return run(target, lambda conn: self._body(Host(conn, target), *args, **kwargs))


class OutputLookup(Generic[R]):
    """The output form of a lookup: ``get_x_output(...Inputs...) -> Output[R]``."""

    def __init__(self, plain: Lookup[R]):
        self._plain = plain
        self.__name__ = f"{plain.__name__}_output"
        self.__qualname__ = f"{plain.__qualname__}_output"
        self.__module__ = plain.__module__
        self.__doc__ = (f"Like ``{plain.__name__}``, with ``Input`` arguments; returns an "
                        f"``Output`` of the result.\n\n{plain.__doc__ or ''}")
        self.__signature__ = plain.__signature__.replace(
            return_annotation=f"pulumi.Output[{plain.__signature__.return_annotation}]"
        )

    def __call__(self, *args: Any, **kwargs: Any) -> pulumi.Output[R]:
        bound = self.__signature__.bind(*args, **kwargs)
        # One Output of all the arguments (nested Inputs resolved); unknown during preview
        # when any of them is, as an invoke's result would be.
        inputs = pulumi.Output.from_input(dict(bound.arguments))
        return inputs.apply(lambda arguments: self._plain(**arguments))


def lookup(body: Callable[..., R]) -> tuple[Lookup[R], OutputLookup[R]]:
    """The plain and the output form of the lookup ``body(host, ...)``."""
    plain = Lookup(body)
    return plain, OutputLookup(plain)
