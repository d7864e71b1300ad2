"""What every resource's logic shares: inputs split into libvirt XML and provider-only inputs,
checking, intent-preserving diff and outputs, in-place patching, safe adoption, and the checks
that decide a replacement before the engine deletes anything.

Plain dicts in, plain dicts out; nothing here knows ``pulumi.dynamic`` (see ``dynamic.py``).
Outputs hold the live values of what the user wrote, in the user's shape (``xml.project``),
the provider-only inputs, the computed outputs (which win over a same-named XML value: always
their own type, such as integer bytes), the resolved ``uri``, and under ``__input_keys`` which
top-level keys the user wrote. The engine gives diff/update/read old outputs, never old inputs,
so that list must be an output; its ``__`` prefix is the engine's mark for internal properties:
the CLI never displays them and the SDK gives the program no attribute for them.

One module per job: ``plan`` (a planned change and its words), ``claims`` (which resource
names which object), ``paths`` (dotted paths, whole numbers), ``objects`` (pool and network
state), ``shapes`` (a kind's rows and the shapes of its inputs), ``check``, ``diff``,
``outputs``, ``rewrites`` (what libvirt stores otherwise than asked: said, and no diff while
nothing changes), and ``lifecycle`` (``ResourceLogic``: the create/read/update/delete
template).
"""

from ..inputs import Input
from .claims import CLAIMS
from .lifecycle import ResourceLogic
from .objects import persistent_xml, set_state
from .paths import get_path, items_as_written, set_path, whole_numbers
from .plan import ChangeRefused, Diff
from .rewrites import REWRITES, Rewrite
from .shapes import COMMON_INPUTS, INPUT_KEYS, RESOURCE_NAME

__all__ = [
    "CLAIMS", "COMMON_INPUTS", "INPUT_KEYS", "RESOURCE_NAME", "REWRITES", "ChangeRefused", "Diff",
    "Input", "ResourceLogic", "Rewrite", "get_path", "items_as_written", "persistent_xml",
    "set_path", "set_state", "whole_numbers",
]
