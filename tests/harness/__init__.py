"""Engine-protocol test harness: drive dynamic providers the way the Pulumi engine does.

``ProviderHost`` starts the SDK's dynamic-provider host (``python -m pulumi.dynamic``) and calls
it over gRPC; ``Engine`` runs Pulumi programs against it for preview / up / refresh / destroy.
"""

from .engine import (
    CheckFailed,
    DeploymentAborted,
    Engine,
    Plan,
    ProtectedResource,
    RefreshResult,
    Registration,
    ResourceCheckFailure,
    ResourceState,
    Step,
    UpResult,
    run_with_mocks,
)
from .host import (
    Call,
    CheckFailure,
    CheckResult,
    DiffResult,
    ProviderError,
    ProviderHost,
    ReadResult,
)
from .props import (
    Unknown,
    contains_secrets,
    contains_unknowns,
    from_struct,
    is_secret,
    is_unknown,
    make_secret,
    strip_secrets,
    to_struct,
)

__all__ = [
    "Call",
    "CheckFailed",
    "CheckFailure",
    "CheckResult",
    "DeploymentAborted",
    "DiffResult",
    "Engine",
    "Plan",
    "ProviderError",
    "ProtectedResource",
    "ProviderHost",
    "ReadResult",
    "RefreshResult",
    "Registration",
    "ResourceCheckFailure",
    "ResourceState",
    "Step",
    "Unknown",
    "UpResult",
    "contains_secrets",
    "contains_unknowns",
    "from_struct",
    "is_secret",
    "is_unknown",
    "make_secret",
    "run_with_mocks",
    "strip_secrets",
    "to_struct",
]
