"""A dynamic provider that opens fresh libvirt connections inside the provider host.

Each Create opens one new connection to ``uri`` (never the cached one) with
``pulumi_libvirt.connection.open_connection``, asks the daemon its version and closes it; the
outputs say whether it worked and, when not, libvirt's message. Tests send hundreds of these
through the real provider host to count connections that fail because the host is a gRPC server.
"""

from __future__ import annotations

import os
import time
from typing import Any

from pulumi.dynamic import CreateResult, ResourceProvider


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
