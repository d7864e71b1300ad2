"""Dynamic providers for measuring the connection layer inside the provider host.

``ConnectProbe``: each Create opens one new connection to ``uri`` (never the cached one) with
``pulumi_libvirt.connection.open_connection``, asks the daemon its version and closes it; the
outputs say whether it worked and, when not, libvirt's message. Tests send hundreds of these
through the real provider host to count connections that fail because the host is a gRPC server.
"""

from __future__ import annotations

import os
import time
from typing import Any

from pulumi.dynamic import CreateResult, ReadResult, Resource, ResourceProvider


class ConnectProbe(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        import libvirt

        from pulumi_libvirt import connection

        if props.get("late_env"):
            # What our package could do once the host imports it: too late for gRPC?
            os.environ["GRPC_ENABLE_FORK_SUPPORT"] = "0"
            os.environ["GRPC_EXPERIMENTS"] = "-event_engine_fork"
        started = time.monotonic()
        error = ""
        try:
            if props.get("raw"):
                conn = libvirt.open(props["uri"])
            else:
                conn = connection.open_connection(props["uri"])
            try:
                conn.getLibVersion()
            finally:
                conn.close()
        except Exception as exc:  # noqa: BLE001 - the message is the result
            error = f"{type(exc).__name__}: {exc}"
        return CreateResult(str(time.monotonic_ns()),
                            {"error": error, "seconds": time.monotonic() - started})


class DomainStandIn(ResourceProvider):
    """Defines (never starts) a minimal domain through the connection layer, for benchmarks
    run before the ``Domain`` resource is on main: Create defines, Read looks it up, Delete
    undefines; the host is the ``uri`` input."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        from pulumi_libvirt import connection

        xml = (f"<domain type='qemu'><name>{props['name']}</name>"
               "<memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>")
        uuid = connection.run(props["uri"], lambda conn: conn.defineXML(xml).UUIDString())
        return CreateResult(uuid, {**props, "uuid": uuid})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from pulumi_libvirt import connection

        def look(conn):
            dom = connection.or_none(conn.lookupByUUIDString, id_)
            return None if dom is None else {"state": dom.state()[0], "xml": dom.XMLDesc(2)}

        live = connection.run(props["uri"], look)
        return ReadResult(id_ if live else "", {**props, "state": live and live["state"]})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        from pulumi_libvirt import connection

        def undefine(conn):
            dom = connection.or_none(conn.lookupByUUIDString, id_)
            if dom is not None:
                dom.undefine()

        connection.run(props["uri"], undefine)


class BenchDomain(Resource, module="bench", name="Domain"):
    """A domain defined by ``DomainStandIn``."""

    def __init__(self, resource_name: str, *, name: str, uri: str, opts=None) -> None:
        super().__init__(DomainStandIn(), resource_name,
                         {"name": name, "uri": uri, "uuid": None, "state": None}, opts)
