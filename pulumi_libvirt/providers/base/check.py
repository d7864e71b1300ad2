"""Check: shapes, types and values of the inputs, named as the user wrote them; never a look
at the host (what the program creates does not exist at preview)."""

from __future__ import annotations

from ... import xml
from ...connection import uri as uris
from ...xml import UNKNOWN, Problem
from ...xml.check import suggest
from ..inputs import input_problems, nested_problems
from .claims import CLAIMS
from .paths import get_path
from .shapes import RESOURCE_NAME, Shapes


class Checking(Shapes):
    """The check step of a resource kind."""

    def check(self, olds: dict, news: dict) -> tuple[dict, list[Problem]]:
        """Validate shape, types and values (never look up objects: they may not exist yet).

        Problems are named as the user wrote them: under an alias (``permissions.owner``) when
        the user wrote the alias, not under the path it stands for."""
        problems: list[Problem] = []
        provider = self.all_inputs()
        known = [*self.xml_keys(), *provider, *self.aliases]
        for key, value in news.items():
            if key.startswith("__") or value is None or value is UNKNOWN:
                continue
            if key in provider:
                problems.extend(input_problems(provider[key], value, key))
            elif key not in known:
                hint = suggest(key, known)
                if key in self.read_only_xml:
                    hint = f" ({key} is reported by libvirt, not set)"
                problems.append(Problem(key, f"unknown key {key!r}{hint}"))
        name = news.get("name")
        if name is not None and name is not UNKNOWN and not isinstance(name, str):
            problems.append(Problem("name", f"expected a string, got {type(name).__name__} "
                                            f"{name!r} (write name={str(name)!r})"))
        xml_problems = xml.check(self.kind, self.desired_model(news))
        for alias, path in self.aliases.items():
            direct = get_path(self.desired_model(news, keys=[path.split(".")[0]]), path)
            if news.get(alias) is not None and direct is not None and direct != news[alias]:
                problems.append(Problem(alias, f"conflicts with {path} ({direct!r})"))
        nested = nested_problems(self.kind, self.nested_inputs, news)
        for problem in (*xml_problems, *nested, *self.validate(olds, news)):
            problems.append(self._as_written(problem, news))
        problems.extend(self._claim(news))
        if isinstance(news.get("uri"), str):
            problems.extend(Problem("uri", text) for text in uris.problems(news["uri"]))
        checked = dict(news)
        for name, spec in provider.items():
            if spec.default is not None and checked.get(name) is None:
                checked[name] = spec.default
        return checked, problems

    def _as_written(self, problem: Problem, news: dict) -> Problem:
        """The problem under the alias the user wrote, when its path lies under one."""
        for alias, path in self.aliases.items():
            if news.get(alias) is None:
                continue
            if problem.path == path or problem.path.startswith(path + "."):
                return Problem(alias + problem.path[len(path):], problem.message)
        return problem

    def _claim(self, news: dict) -> list[Problem]:
        """A problem when another resource of the program names the same libvirt object."""
        owner, identity = news.get(RESOURCE_NAME), self.identity(news)
        if not isinstance(owner, str) or identity is None:
            return []
        other = CLAIMS.claim(identity, owner)
        if other is None:
            return []
        return [Problem("name", f"another resource of this program, '{other}', already names "
                                f"{self.describe(news)} on {self.uri(news)}: one libvirt "
                                "object can be managed by one resource only; give one of them "
                                "another name (adopt=True does not help here)")]

    def validate(self, olds: dict, news: dict) -> list[Problem]:
        """Resource-specific checks beyond the XML table (here: the required inputs)."""
        return [Problem(key, f"required: {what}") for key, what in self.required.items()
                if news.get(key) is None]
