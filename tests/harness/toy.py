"""A toy dynamic provider for testing the harness: a text file in a directory.

Inputs: ``dir`` (existing directory), ``name`` (file name; changing it replaces the file,
create-before-delete), ``content`` (text; changes update in place), ``tag`` (changing it
replaces with delete-before-replace: the new file has the same name, so the old one must go
first), ``token`` (optional, usually secret; echoed as an output).
Outputs: the inputs, plus ``path``, ``size``, ``digest`` (sha256 of content and token; the
resource class lists it in ``additional_secret_outputs``) and ``label`` (stack config
``toy:label`` as seen by the provider's ``configure``).

Every create/update/delete appends a line to ``<dir>/.journal``, so tests see the order in which
the provider really ran, and logs ``pulumi.log.info`` lines (stderr of the host).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)
from pulumi.output import Unknown

INPUTS = ("dir", "name", "content", "tag", "token")


def _journal(directory: str, line: str) -> None:
    with open(os.path.join(directory, ".journal"), "a", encoding="utf-8") as f:
        f.write(line + "\n")


class FileProvider(ResourceProvider):
    """CRUD for `File`. Holds only plain data, so it pickles by reference."""

    label: str | None = None

    def configure(self, req: ConfigureRequest) -> None:
        self.label = req.config.get("toy:label")

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        for key in ("dir", "name", "content"):
            if key not in news:
                failures.append(CheckFailure(key, f"missing required property '{key}'"))
        name = news.get("name")
        if isinstance(name, str) and ("/" in name or name.startswith(".")):
            failures.append(CheckFailure("name", f"invalid file name {name!r}"))
        content = news.get("content")
        if "content" in news and not isinstance(content, (str, Unknown)):
            failures.append(
                CheckFailure("content", f"expected a string, got {type(content).__name__}")
            )
        return CheckResult({k: v for k, v in news.items() if k in INPUTS}, failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in INPUTS if olds.get(k) != news.get(k)]
        replaces = [k for k in changed if k in ("dir", "name", "tag")]
        return DiffResult(
            changes=bool(changed),
            replaces=replaces,
            delete_before_replace="tag" in replaces,
        )

    def _outputs(self, props: dict[str, Any]) -> dict[str, Any]:
        path = os.path.join(props["dir"], props["name"])
        content = props["content"]
        token = props.get("token") or ""
        outs = {k: props[k] for k in INPUTS if k in props}
        outs.update(
            path=path,
            size=len(content.encode()),
            digest=hashlib.sha256((content + token).encode()).hexdigest(),
            label=self.label,
        )
        return outs

    def create(self, props: dict[str, Any]) -> CreateResult:
        path = os.path.join(props["dir"], props["name"])
        if os.path.exists(path):
            raise FileExistsError(f"file {path} already exists")
        pulumi.log.info(f"toy: writing {path}")
        with open(path, "x", encoding="utf-8") as f:
            f.write(props["content"])
        _journal(props["dir"], f"create {props['name']} tag={props.get('tag')}")
        return CreateResult(path, self._outputs(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        if not os.path.exists(id_):
            return ReadResult("", {})
        with open(id_, encoding="utf-8") as f:
            content = f.read()
        return ReadResult(id_, self._outputs({**props, "content": content}))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        with open(id_, "w", encoding="utf-8") as f:
            f.write(news["content"])
        _journal(news["dir"], f"update {news['name']}")
        return UpdateResult(self._outputs(news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if os.path.exists(id_):
            os.remove(id_)
        _journal(props["dir"], f"delete {props['name']} tag={props.get('tag')}")


class File(Resource, module="toy", name="File"):
    """A text file managed by `FileProvider`."""

    path: pulumi.Output[str]
    size: pulumi.Output[float]
    digest: pulumi.Output[str]
    label: pulumi.Output[str]
    content: pulumi.Output[str]
    token: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        dir: pulumi.Input[str],
        name: pulumi.Input[str],
        content: pulumi.Input[Any],
        tag: pulumi.Input[str] | None = None,
        token: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        opts = pulumi.ResourceOptions.merge(
            pulumi.ResourceOptions(additional_secret_outputs=["digest"]), opts
        )
        props = {
            "dir": dir,
            "name": name,
            "content": content,
            "tag": tag,
            "token": token,
            "path": None,
            "size": None,
            "digest": None,
            "label": None,
        }
        super().__init__(FileProvider(), resource_name, props, opts)
