"""The base of the Pulumi resource classes users construct.

The classes themselves (``Pool``, ``Volume``, ...) are generated, one module per resource of
the logic registry, with a documented keyword per input and typed outputs
(``pulumi_libvirt/generated``, written by ``scripts/generate.py``); what they share at run time
is here. A resource that needs program-side behaviour of its own gets a class
``<Name>Base(LibvirtResource)`` here, and its generated class derives from it.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from typing import Any, ClassVar

import pulumi
import pulumi.dynamic

from .dynamic import LibvirtProvider
from .providers import DomainLogic, ResourceLogic
from .providers.base import RESOURCE_NAME, REWRITES, whole_numbers

# What a generated constructor's locals() hold besides the inputs.
_NOT_INPUTS = frozenset({"self", "resource_name", "args", "opts", "unknown", "__class__"})


def _unwrapped(method: Any) -> Any:
    """pickle's own ``_batch_setitems`` under the SDK's sorting wrappers around it."""
    while method.__name__.startswith("batch_set_items_sorted") and method.__closure__:
        method = next(c.cell_contents for c in method.__closure__ if callable(c.cell_contents))
    return method


# The SDK's serialize_provider wraps pickle's _batch_setitems in a sorting function for every
# dynamic resource and never puts it back: each resource adds a stack frame to pickling, and
# the 980th resource of a process failed with RecursionError. Put back after each resource.
_PICKLER: Any = pickle._Pickler
_BATCH_SETITEMS = _unwrapped(_PICKLER._batch_setitems)


class LibvirtResource(pulumi.dynamic.Resource):
    """Base of every libvirt resource: Pulumi's name first, then libvirt's fields as keywords.

    Every output reaches the program with whole numbers as ints (the engine carries numbers as
    floats: a capacity is 67108864, never 67108864.0).
    """

    _logic: ClassVar[type[ResourceLogic]]
    _secret_outputs: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        resource_name: str,
        opts: pulumi.ResourceOptions | None = None,
        **props: Any,
    ) -> None:
        logic = self._logic
        type(self)._type_outputs()
        if props.get("uri") is None:
            props["uri"] = pulumi.Config("libvirt").get("uri")
        outputs = (*logic.xml_keys(), *logic.all_inputs(), *logic.aliases, *logic.computed)
        for key in outputs:
            props.setdefault(key, None)
        # Lets the provider tell two resources of the program that name one libvirt object.
        props[RESOURCE_NAME] = resource_name
        secret_inputs = [i.name for i in logic.all_inputs().values() if i.secret]
        for name in secret_inputs:  # secret in the state even when written in plain text
            if props.get(name) is not None:
                props[name] = pulumi.Output.secret(props[name])
        # The fingerprints of rewritten inputs may cover a secret, also one the program wraps
        # in Output.secret itself (the engine marks only same-named outputs so): always secret.
        secret_outputs = [*self._secrets_for(props), *logic.secret_outputs, *secret_inputs,
                          REWRITES]
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=secret_outputs)
        )
        try:
            super().__init__(LibvirtProvider(logic.type_name), resource_name, props, opts)
        finally:
            _PICKLER._batch_setitems = _BATCH_SETITEMS

    def _construct(self, resource_name: str, args: Any, opts: Any,
                   given: dict[str, Any]) -> None:
        """What every generated constructor does with its arguments: the inputs come as
        keywords or in ``args`` (an ``XArgs`` dict), never both; resource options may come
        second, where ``args`` stands; keys the signature does not know go along, for the
        provider's check to name."""
        name = type(self).__name__
        inputs = {k: v for k, v in given.items() if k not in _NOT_INPUTS and v is not None}
        inputs.update(given.get("unknown") or {})
        if isinstance(args, pulumi.ResourceOptions):
            if opts is not None:
                raise TypeError(f"{name}(): resource options given twice (second argument "
                                "and opts=)")
            args, opts = None, args
        if args is not None:
            if not isinstance(args, Mapping):
                raise TypeError(f"{name}(): args must be a {name}Args, got "
                                f"{type(args).__name__}")
            both = sorted(set(args) & set(inputs))
            if both:
                raise TypeError(f"{name}(): {', '.join(both)} given both in args and as "
                                "keywords")
            inputs = {**args, **inputs}
        if opts is not None and not isinstance(opts, pulumi.ResourceOptions):
            raise TypeError(f"{name}(): opts must be a pulumi.ResourceOptions, got "
                            f"{type(opts).__name__}")
        LibvirtResource.__init__(self, resource_name, opts, **inputs)

    @classmethod
    def _secrets_for(cls, props: dict[str, Any]) -> list[str]:
        """The outputs to keep secret for these inputs."""
        return list(cls._secret_outputs)

    @classmethod
    def _type_outputs(cls) -> None:
        """Put an ``_Output`` on the class for each output, once (on first use: importing the
        package loads no tables)."""
        if cls.__dict__.get("_outputs_typed"):
            return
        logic = cls._logic
        sdk = {name for base in pulumi.dynamic.Resource.__mro__ for name in vars(base)}
        for key in (*logic.xml_keys(), *logic.all_inputs(), *logic.aliases, *logic.computed):
            if key not in sdk and key not in ("id", "urn"):  # the SDK's own attributes
                setattr(cls, key, _Output(key))
        cls._outputs_typed = True  # type: ignore[attr-defined]


class _Output:
    """An output attribute, read with whole numbers as ints (the engine carries numbers as
    floats). The SDK stores each output in the instance's ``__dict__``; this data descriptor
    wraps it once, on first use, so outputs nobody reads cost nothing."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        typed = obj.__dict__.setdefault("_typed_outputs", {})
        if self.key not in typed:
            raw = obj.__dict__.get(self.key)
            typed[self.key] = raw.apply(whole_numbers) if isinstance(raw, pulumi.Output) else raw
        return typed[self.key]

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.key] = value
        obj.__dict__.get("_typed_outputs", {}).pop(self.key, None)



class DomainBase(LibvirtResource):
    """What ``Domain`` does in the program: outputs that may hold credentials (graphics
    passwords, disk cookies: ``devices``) are kept secret. (The generated ``Domain`` sets
    ``_logic``.)"""

    @classmethod
    def _secrets_for(cls, props: dict[str, Any]) -> list[str]:
        found = set(DomainLogic.secret_inputs(_plain(props)))
        if _hidden(props.get("devices"), ("graphics", "disks")):
            found.add("devices")  # not known before the program runs: assume it may
        return sorted(found | set(cls._secret_outputs))


def _plain(value: Any) -> Any:
    """The value with Outputs (not known yet) as a placeholder string."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return "<output>" if isinstance(value, pulumi.Output) else value


def _hidden(devices: Any, lists: tuple[str, ...]) -> bool:
    """Whether credentials could hide in Outputs of ``devices`` (the whole dict, one of the
    lists that hold credentials, or an item of them)."""
    if isinstance(devices, pulumi.Output):
        return True
    if not isinstance(devices, dict):
        return False
    for key in lists:
        items = devices.get(key)
        if isinstance(items, pulumi.Output):
            return True
        if isinstance(items, list) and any(isinstance(i, pulumi.Output) for i in items):
            return True
    return False
