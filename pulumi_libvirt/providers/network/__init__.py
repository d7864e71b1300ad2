"""Virtual networks, in small modules: ``logic`` (the resource), ``checks`` (what is wrong,
found at preview), ``live`` (virNetworkUpdate edits of the live-edited lists), ``restart``
(redefine and restart, guests moved back onto the bridge), ``errors`` (libvirt's refusals in
words), ``definition`` (read and define on the host), ``model`` (the model's shape)."""

from .live import (
    ADD,
    DELETE,
    MODIFY,
    SECTIONS,
    Edit,
    Section,
    fragment,
    plan,
    same_outside_sections,
    without_sections,
)
from .logic import NetworkLogic
from .model import KIND, plural_form

__all__ = ["ADD", "DELETE", "KIND", "MODIFY", "SECTIONS", "Edit", "NetworkLogic", "Section",
           "fragment", "plan", "plural_form", "same_outside_sections", "without_sections"]
