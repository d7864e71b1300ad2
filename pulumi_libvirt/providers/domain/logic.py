"""Domains: define (validated), start, patch in place — live where libvirt can, else by a
bounded restart — wait for addresses, stop and undefine with NVRAM."""

from __future__ import annotations

import re

import libvirt
import pulumi

from ... import xml
from ...connection import LibvirtError, described
from ...xml import Problem
from ..base import Diff, Input, ResourceLogic
from . import addresses, changes, checks, definition, live, power

# Where a domain's definition holds credentials: kept secret in the state, never in messages.
CREDENTIALS = (
    re.compile(r"^devices\.graphics(\[\d+\])?\.passwd$"),
    re.compile(r"^devices\.disks(\[\d+\])?\.source\.cookies"),
    re.compile(r"^devices\.disks(\[\d+\])?\..*backing_store.*\.cookies"),
)
_START_WORDS = {
    "paused": "Start the guest paused (running=true keeps it so; resume it outside Pulumi).",
    "bypass_cache": "Do not use the host's file system cache when restoring a managed save "
                    "image.",
    "force_boot": "Boot afresh, discarding a managed save image.",
    "reset_nvram": "Start with the UEFI variables copied afresh from their template.",
}
START_OPTIONS = tuple(Input(name, "bool", _START_WORDS[name]) for name in power.START_FLAGS)
_LIST_OF_ANY = {"type": "array", "items": {"$ref": "pulumi.json#/Any"}}
_LIST_OF_STRINGS = {"type": "array", "items": {"type": "string"}}


class DomainLogic(ResourceLogic):
    """A libvirt domain (a virtual machine): any key of libvirt's domain XML."""

    kind = "domain"
    type_name = "Domain"
    noun = "domain"
    lookup_by_uuid = "lookupByUUIDString"
    lookup_by_name = "lookupByName"
    inputs = (
        Input("running", "bool", "Keep the domain running: started on create and on every "
              "update that finds it stopped (refresh shows a guest stopped behind Pulumi's "
              "back as running=false). false shuts it down (ACPI, then destroy after "
              "shutdown_timeout).", default=True, live=True),
        Input("autostart", "bool", "Start the domain when libvirtd starts.", default=False,
              live=True),
        Input("start_options", "dict", "How the domain is started: a dict of flags "
              "(virDomainCreateWithFlags), each True or False.", on_change="none",
              keys=START_OPTIONS),
        Input("shutdown_timeout", "int", "Seconds a graceful (ACPI) shutdown may take before "
              "the domain is destroyed, when it is stopped, restarted for an update or "
              "deleted; 0 destroys at once.", default=60, on_change="none", minimum=0,
              unit="seconds"),
        Input("reboot_for_updates", "bool", "Apply changes libvirt cannot make to a running "
              "guest by restarting it (within shutdown_timeout). false leaves them pending "
              "until the next boot; the pending_changes output lists them.", default=True,
              on_change="none"),
    )
    nested_inputs = {addresses.INTERFACES: (addresses.WAIT_FOR_IP,)}
    read_only_xml = frozenset({"id"})
    required = {"name": "the domain's name", "type": "the hypervisor, such as 'kvm' or 'qemu'"}
    computed = {
        "uuid": ("string", "The domain's UUID (the resource id)."),
        "domain_id": ("integer", "The running domain's id (changes on every start); null "
                                 "when it is stopped."),
        "state": ("string", "running, paused, shutoff, crashed, pmsuspended, ..."),
        "ip_addresses": (_LIST_OF_ANY, "Per interface of the definition, in order: "
                         "{'mac': ..., 'addresses': [...]} from DHCP leases (and the guest "
                         "agent when an interface waits on it); loopback and link-local "
                         "addresses left out."),
        "pending_changes": (_LIST_OF_STRINGS, "Fields of the definition the running guest "
                            "does not have yet (they take effect at its next boot)."),
    }

    def describe(self, props: dict) -> str:
        return f"domain '{props.get('name')}'"

    # ------------------------------------------------------------ inputs

    def check(self, olds: dict, news: dict):
        inputs, problems = super().check(olds, news)
        return inputs, [_redacted(p) for p in problems]

    def validate(self, olds: dict, news: dict) -> list[Problem]:
        model = self.desired_model(news)
        return [*super().validate(olds, news), *checks.memory_problems(model),
                *checks.vcpu_problems(model), *checks.virtiofs_problems(model)]

    def hides(self, path: str, value) -> bool:
        """A credential (graphics password, cookie) at ``path`` or inside its value."""
        plural = xml.key_path("domain", re.sub(r"\[\d+\]", "", path))
        return super().hides(path, value) or any(_paths_with_credentials(plural, value))

    @staticmethod
    def secret_inputs(props: dict) -> list[str]:
        """Top-level keys whose values hold credentials (graphics passwords, cookies):
        their outputs are kept secret."""
        found = []
        for key, value in props.items():
            if any(_paths_with_credentials(key, value)):
                found.append(key)
        return found

    # ------------------------------------------------------------ diff

    def diff(self, olds: dict, news: dict) -> Diff:
        result = super().diff(olds, news)
        old_model = self.desired_model(olds, keys=self.user_keys(olds) or None)
        new_model = self.desired_model(news, keys=self.written_keys(news))
        found = changes.classify(old_model, new_model)
        words = changes.summary(found)
        if addresses.waits(olds) != addresses.waits(news):
            result.notes.append("wait_for_ip changes: waits for the addresses now")
        if result.replaces:
            return result
        result.live, result.reboot = words["live"], words["reboot"]
        was_running = olds.get("running", True)
        wants_running = news.get("running", True)
        if (result.live or result.reboot) and not was_running:
            result.notes.append("the domain is stopped: " + ", ".join(
                result.live + result.reboot) + " change its definition")
            result.live, result.reboot = [], []
        elif result.reboot and not news.get("reboot_for_updates", True):
            result.notes.append(f"changing {', '.join(result.reboot)} waits for the next boot "
                                "(reboot_for_updates is false)")
            result.reboot = []
        if wants_running is True and was_running is False:
            result.notes.append("starts it")
        elif wants_running is False and was_running is not False:
            result.notes.append("stops it")
        return result

    def preflight(self, conn, props: dict, freed: dict | None, uri: str) -> list[Problem]:
        """Before a replacement (a new type or UUID): what the new domain refers to that the
        host lacks, so the old one is not deleted for a domain that cannot be made."""
        model = self.desired_model(props)
        running = props.get("running", True) is not False
        return [Problem(key, message) for key, message in
                definition.reference_problems(conn, model, uri, running=running)]

    # ------------------------------------------------------------ libvirt

    def snapshot(self, dom, props: dict, user_keys) -> dict:
        model = xml.from_xml("domain", definition.definition_xml(dom))
        state = power.state(dom)
        active = state not in power.INACTIVE
        computed = {
            "uuid": dom.UUIDString(),
            "domain_id": dom.ID() if active else None,
            "state": state,
            "ip_addresses": addresses.current(dom.connect(), dom, model, props, active),
            "pending_changes": self._pending(dom, model, props, user_keys) if active else [],
        }
        running = {"running": active, "autostart": bool(dom.autostart())}
        return self.outputs(props, user_keys, model, running, computed)

    def _pending(self, dom, model: dict, props: dict, user_keys) -> list[str]:
        """What the definition says and the running guest does not have (a change that waits
        for the next boot), as paths of the user's inputs."""
        desired = self.desired_model(props, keys=[k for k in user_keys if k != "running"])
        running = xml.from_xml("domain", definition.live_xml(dom))
        found = changes.classify(xml.project("domain", running, desired),
                                 xml.project("domain", model, desired))
        return sorted({c.words for c in found if c.mode != "live"})

    def make(self, conn, props: dict, what: str, uri: str):
        model = self.desired_model(props)
        definition.check_references(conn, model, what, uri,
                                    running=bool(props.get("running", True)))
        dom = definition.define(conn, xml.to_xml("domain", model), what, uri)
        try:
            self._set_state(dom, props, what, uri, fresh=True)
        except BaseException:
            self._remove_quietly(dom)
            raise
        return dom

    def apply(self, dom, olds: dict, news: dict, what: str, uri: str) -> None:
        """Patch the definition (UUID, MACs, addresses, NVRAM kept), apply what libvirt can
        to the running guest, restart it for the rest (unless told not to), set its state."""
        conn = dom.connect()
        before_xml = definition.definition_xml(dom)
        before = xml.from_xml("domain", before_xml)
        previous = self.desired_model(olds, keys=self.user_keys(olds))
        merged = xml.merge("domain", before, self.desired_model(news), previous)
        definition.check_references(conn, merged, what, uri, before=before,
                                    running=bool(news.get("running", True)))
        timeout = news.get("shutdown_timeout", 60)
        reboot_allowed = news.get("reboot_for_updates", True)
        restarted = False
        if merged.get("name") != before.get("name"):
            if dom.isActive():
                if not reboot_allowed:
                    raise LibvirtError(
                        f"cannot rename {self.describe(olds)} on {uri} to '{merged['name']}' "
                        "while it runs: libvirt renames stopped domains only; set "
                        "reboot_for_updates=true (it is stopped within shutdown_timeout and "
                        "started again) or stop it first with running=false")
                power.stop(dom, timeout, what)
                restarted = True
            definition.rename(dom, merged["name"], self.describe(olds), uri)
        after_xml = xml.to_xml("domain", merged)
        if xml.canonical_xml(after_xml) != xml.canonical_xml(before_xml):
            definition.define(conn, after_xml, what, uri, action="redefine")
            after_xml = definition.definition_xml(dom)
            if dom.isActive():
                self._apply_running(dom, before, before_xml, after_xml, news, what, uri)
        if restarted and news.get("running", True):
            self._start_or_restore(dom, before_xml, before.get("name"), news, what, uri)
        self._set_state(dom, news, what, uri)

    def _apply_running(self, dom, before: dict, before_xml: str, after_xml: str, news: dict,
                       what: str, uri: str) -> None:
        after = xml.from_xml("domain", after_xml)
        found = changes.classify(before, after)
        now = [c for c in found if c.mode == "live"]
        later = [c.words for c in found if c.mode != "live"]
        try:
            live.apply(dom, now, before_xml, after_xml, after)
        except live.NotLive as exc:
            later.append(str(exc))
        if not later:
            return
        if news.get("reboot_for_updates", True):
            pulumi.log.info(f"{what}: restarting it for {', '.join(later)}")
            power.stop(dom, news.get("shutdown_timeout", 60), what)
            self._start_or_restore(dom, before_xml, before.get("name"), news, what, uri)
        else:
            pulumi.log.info(f"{what}: {', '.join(later)} wait for the next boot "
                            "(reboot_for_updates is false)")

    def _start_or_restore(self, dom, before_xml: str, old_name: str | None, news: dict,
                          what: str, uri: str) -> None:
        """Start the domain on its new definition; when it does not start, put the previous
        definition (and name) back and start that, so a failed update takes nothing away."""
        try:
            power.start(dom, news.get("start_options"), what, uri)
        except LibvirtError as exc:
            try:
                if old_name and dom.name() != old_name:
                    dom.rename(old_name, 0)
                definition.define(dom.connect(), before_xml, what, uri,
                                  action="restore the previous definition of")
                power.start(dom, news.get("start_options"), what, uri)
                note = "the previous definition is back and the domain runs on it"
            except (LibvirtError, libvirt.libvirtError) as again:
                note = f"restoring the previous definition failed too: {again}"
            raise LibvirtError(f"{exc} ({note})") from None

    def _set_state(self, dom, props: dict, what: str, uri: str, fresh: bool = False) -> None:
        """Autostart and running as asked (``fresh``: just defined, so stopped and without
        autostart: nothing to ask libvirt first)."""
        autostart = bool(props.get("autostart", False))
        if (autostart if fresh else bool(dom.autostart()) != autostart):
            with described(what, uri, "set autostart of"):
                dom.setAutostart(int(autostart))
        running = props.get("running", True)
        active = False if fresh else bool(dom.isActive())
        if running and not active:
            power.start(dom, props.get("start_options"), what, uri)
        elif not running and active:
            with described(what, uri, "stop"):
                power.stop(dom, props.get("shutdown_timeout", 60), what)
        paused = (props.get("start_options") or {}).get("paused")
        if running and not paused and addresses.waits(props):
            model = xml.from_xml("domain", definition.definition_xml(dom))
            addresses.wait(dom.connect(), dom, model, props, what, uri)

    def remove(self, dom, outs: dict) -> None:
        power.stop(dom, outs.get("shutdown_timeout", 60), self.describe(outs))
        definition.undefine(dom)

    def _remove_quietly(self, dom) -> None:
        try:
            if dom.isActive():
                dom.destroy()
            definition.undefine(dom)
        except libvirt.libvirtError:
            pass  # the original error says more


def _paths_with_credentials(path: str, value):
    """Paths under ``path`` (list indexes as [i]) that hold a credential."""
    if any(rule.match(path) for rule in CREDENTIALS) and value is not None:
        yield path
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths_with_credentials(f"{path}.{key}", item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths_with_credentials(f"{path}[{index}]", item)


def _redacted(problem: Problem) -> Problem:
    """A problem about a credential, without its value."""
    if any(rule.match(problem.path or "") for rule in CREDENTIALS):
        message = problem.message.split(", got ")[0]
        return Problem(problem.path, f"{message} (the value is not shown: it is a credential)")
    return problem
