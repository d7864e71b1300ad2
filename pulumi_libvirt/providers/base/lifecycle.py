"""The lifecycle template every kind fills in: create (or adopt), read, update, delete, each
on one connection, around the kind's libvirt hooks."""

from __future__ import annotations

from typing import Any

from ...connection import LibvirtError, described, or_none, run
from .check import Checking
from .outputs import Outputs
from .plan import ChangeRefused, shown
from .rewrites import REWRITES, Rewrites


class ResourceLogic(Checking, Rewrites, Outputs):
    """One libvirt object kind managed as a Pulumi resource.

    Create, adopt and update end by recording what libvirt stored otherwise than asked
    (``record_rewrites``: a warning in ``warnings``, for the adapter to say); read carries that
    record over; ``plan`` is the diff the engine gets."""

    #: For objects libvirt names by UUID (the resource id) and by ``name``: the virConnect
    #: methods that look them up (e.g. "networkLookupByUUIDString", "networkLookupByName").
    #: Kinds identified otherwise (volumes, by key) override the three hooks below instead.
    lookup_by_uuid: str | None = None
    lookup_by_name: str | None = None

    # ------------------------------------------------------------ libvirt hooks

    def lookup(self, conn: Any, id_: str, fresh: bool = False) -> Any:
        """The object with this id, or None when it is gone (``fresh``: rescan first)."""
        if self.lookup_by_uuid is None:
            raise NotImplementedError
        return or_none(getattr(conn, self.lookup_by_uuid), id_)

    def find(self, conn: Any, props: dict, uri: str) -> Any:
        """The object these inputs name, if it exists (create adopts or refuses it)."""
        if self.lookup_by_name is None:
            raise NotImplementedError
        return or_none(getattr(conn, self.lookup_by_name), props["name"])

    def make(self, conn: Any, props: dict, what: str, uri: str) -> Any:
        """Create the object; on failure remove whatever was made, then raise."""
        raise NotImplementedError

    def apply(self, obj: Any, olds: dict, news: dict, what: str, uri: str) -> None:
        """Bring an existing object in line with ``news`` (``olds``: the old outputs)."""
        raise NotImplementedError

    def snapshot(self, obj: Any, props: dict, user_keys) -> dict:
        """The outputs, read from the live object."""
        raise NotImplementedError

    def identify(self, obj: Any) -> str:
        """The resource id of an object (its UUID, for kinds looked up by UUID)."""
        if self.lookup_by_uuid is None:
            raise NotImplementedError
        return obj.UUIDString()

    def remove(self, obj: Any, outs: dict) -> None:
        """Delete the object for good."""
        raise NotImplementedError

    # ------------------------------------------------------------ lifecycle

    def create(self, props: dict) -> tuple[str, dict]:
        """Create (or, with ``adopt``, take over) the object; nothing is left if it fails."""
        uri, what = self.uri(props), self.describe(props)

        def action(conn):
            existing = self.find(conn, props, uri)
            if existing is not None:
                if not props.get("adopt"):
                    raise LibvirtError(
                        f"{what} already exists on {uri}. If it was made outside this program, "
                        "set adopt=True to manage it; if another resource of this program "
                        "names it, give one of them another name")
                return self.adopt(existing, props, what, uri)
            made = self.make(conn, props, what, uri)
            try:
                outs = self.snapshot(made, props, self.written_keys(props))
                return self.identify(made), self.record_rewrites(props, outs, what, uri)
            except BaseException:
                try:
                    self.remove(made, props)
                except Exception:  # noqa: BLE001 - the original error says more
                    pass
                raise

        return run(uri, action)

    def adopt(self, obj: Any, props: dict, what: str, uri: str) -> tuple[str, dict]:
        """Take over an existing object, refusing (with nothing changed) when it differs from
        the program where libvirt cannot change it in place."""
        keys = self.written_keys(props)
        live = self.snapshot(obj, props, keys)
        conflicts = self.irreversible(live, props)
        for key in self.diff(live, props).replaces:
            conflicts.setdefault(key, "libvirt cannot change it in place")
        if conflicts:
            details = "; ".join(
                f"{key} is {shown(live.get(key))} where the program says "
                f"{shown(props.get(key))} ({why})" for key, why in sorted(conflicts.items()))
            writes = ", ".join(f"{key}={live.get(key)!r}" for key in sorted(conflicts))
            raise ChangeRefused(
                f"cannot adopt {what} on {uri}: {details}. Write {writes} to adopt it as it "
                f"is, or remove the existing {self.noun} first to have it made anew")
        self.apply(obj, {}, props, what, uri)
        outs = self.snapshot(obj, props, keys)
        return self.identify(obj), self.record_rewrites(props, outs, what, uri)

    def read(self, id_: str, outs: dict) -> dict | None:
        """The live outputs, or None when the object is gone."""
        uri = outs.get("uri") or self.uri(outs)

        def action(conn):
            obj = self.lookup(conn, id_, fresh=True)
            if obj is None:
                return None
            with described(self.describe(outs), uri, "read"):
                return self.snapshot(obj, outs, self.user_keys(outs))

        found = run(uri, action)
        if found is not None and outs.get(REWRITES) is not None:
            found[REWRITES] = outs[REWRITES]  # drift shows in the outputs, not here
        return found

    def update(self, id_: str, olds: dict, news: dict) -> dict:
        uri, what = self.uri(news), self.describe(news)

        def action(conn):
            obj = self.lookup(conn, id_)
            if obj is None:
                raise LibvirtError(f"{what} not found on {uri} (deleted outside Pulumi? run "
                                   "`pulumi refresh`)")
            self.apply(obj, olds, news, what, uri)
            return self.snapshot(obj, news, self.written_keys(news))

        return self.record_rewrites(news, run(uri, action), what, uri)

    def delete(self, id_: str, outs: dict) -> None:
        """Delete the object; one that is already gone is fine."""
        uri = outs.get("uri") or self.uri(outs)

        def action(conn):
            obj = self.lookup(conn, id_)
            if obj is not None:
                with described(self.describe(outs), uri, "delete"):
                    self.remove(obj, outs)

        run(uri, action)
