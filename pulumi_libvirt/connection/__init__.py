"""Which libvirt host, one connection per URI per process, and errors that say what happened.

Providers hold only plain data (URIs, names); connections live here, outside anything that is
pickled, opened lazily and reopened when they die (libvirtd restarted, a host gone silent).

- ``uri``: resolution (resource ``uri``, stack config, environment, default) and credentials;
- ``hosts``: the connection per URI, the timeout (``libvirt:timeout``), keepalive, ``run``;
- ``events``: libvirt's event loop thread (keepalive needs it);
- ``ssh``: opening ``qemu+ssh://`` connections safely inside a gRPC server;
- ``errors``: libvirt errors in one line naming the object and the host.
"""

from .errors import LibvirtError, dead, described, message, not_found, or_none, reason
from .hosts import connect, forget, open_connection, probe, run
from .settings import configure, timeout
from .uri import DEFAULT_URI, resolve_uri

__all__ = [
    "DEFAULT_URI",
    "LibvirtError",
    "configure",
    "connect",
    "dead",
    "described",
    "forget",
    "message",
    "not_found",
    "open_connection",
    "or_none",
    "probe",
    "reason",
    "resolve_uri",
    "run",
    "timeout",
]
