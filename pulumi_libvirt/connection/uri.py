"""Which host: URI resolution, and what a URI says about credentials."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

DEFAULT_URI = "qemu:///system"


def resolve_uri(explicit: str | None = None, configured: str | None = None) -> str:
    """The host to use: the resource's ``uri``, else stack config ``libvirt:uri``, else
    ``LIBVIRT_DEFAULT_URI``, else ``qemu:///system``."""
    for candidate in (explicit, configured, os.environ.get("LIBVIRT_DEFAULT_URI")):
        if candidate:
            return candidate
    return DEFAULT_URI


def transport(uri: str) -> str:
    """The transport of a URI: "ssh" for qemu+ssh://, "libssh", "tls", "unix", ... ("" none)."""
    scheme = urlsplit(uri).scheme
    if "+" in scheme:
        return scheme.split("+", 1)[1]
    return "tls" if urlsplit(uri).hostname else ""


def parameters(uri: str) -> dict[str, str]:
    """The URI's query parameters (the last value of each)."""
    return {k: v[-1] for k, v in parse_qs(urlsplit(uri).query, keep_blank_values=True).items()}


def uses_ssh(uri: str) -> bool:
    """Whether libvirt reaches this host by running the ``ssh`` program (a fork)."""
    return transport(uri) == "ssh"


def problems(uri: str) -> list[str]:
    """What is wrong with a URI before any connection: a password in it (it would be stored in
    the state in clear; libvirt does not take one there anyway)."""
    if urlsplit(uri).password is not None:
        return ["a password in the URI is not supported: it would be stored in the state in "
                "clear text; use an ssh key (keyfile=, an agent or ~/.ssh/config) or TLS "
                "certificates"]
    return []


def warnings(uri: str) -> list[str]:
    """Credential settings in a URI that weaken or do not do what they seem to."""
    kind, params, found = transport(uri), parameters(uri), []
    if kind in ("ssh", "libssh", "libssh2") and params.get("no_verify") == "1":
        found.append(f"{uri}: no_verify=1: the host's ssh key is not verified; anyone on the "
                     "path can pose as this host")
    if kind == "ssh" and "known_hosts" in params:
        found.append(f"{uri}: libvirt's ssh transport ignores known_hosts= (ssh reads "
                     "~/.ssh/known_hosts, or UserKnownHostsFile in ~/.ssh/config); "
                     "qemu+libssh:// takes it")
    if kind in ("libssh", "libssh2") and params.get("known_hosts_verify") == "ignore":
        found.append(f"{uri}: known_hosts_verify=ignore: the host's ssh key is not verified")
    if kind == "tls" and params.get("no_verify") == "1":
        found.append(f"{uri}: no_verify=1: the server's TLS certificate is not verified")
    return found
