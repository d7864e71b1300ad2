"""Outputs: the live object's values for what the user wrote, in the user's shape, with the
provider inputs, the computed outputs and the hidden record of the keys written."""

from __future__ import annotations

from ... import xml
from ..inputs import restore_nested
from .paths import get_path, whole_numbers
from .shapes import INPUT_KEYS, Shapes


class Outputs(Shapes):
    """The outputs of a resource kind."""

    def outputs(self, props: dict, user_keys, live_model: dict, live_inputs: dict,
                computed: dict) -> dict:
        """Outputs from the live object, shaped by what the user wrote (``props``)."""
        user_keys = [k for k in user_keys if k != INPUT_KEYS]
        desired = self.desired_model(props, keys=user_keys)
        projected = xml.project(self.kind, live_model, desired)
        outs: dict = {}
        for key in self.xml_keys():
            if key in computed:
                continue  # a computed output keeps its own type (bytes, not the user's shape)
            if key in desired and key in user_keys:
                if key in projected:
                    outs[key] = projected[key]
                else:
                    outs.pop(key, None)
        for alias, path in self.aliases.items():
            source = projected if alias in user_keys else live_model
            value = get_path(source, path)
            if value is not None:
                outs[alias] = value
        for name, spec in self.all_inputs().items():
            if spec.live and name in live_inputs:
                outs[name] = live_inputs[name]
            elif props.get(name) is not None:
                outs[name] = props[name]
        restore_nested(self.kind, self.nested_inputs, outs,
                       {k: v for k, v in props.items() if k in user_keys})
        outs.update(whole_numbers(computed))
        outs["uri"] = self.uri(props)
        outs[INPUT_KEYS] = sorted(set(user_keys))
        return outs
