#!/usr/bin/env python3
"""Fetch the pinned libvirt RelaxNG schemas the XML tables are generated from.

    python3 scripts/fetch_schemas.py          # fetch when missing; print the directory

The tables speak libvirt 11.3's vocabulary whatever libvirt the machine runs. Nothing of
libvirt's is kept in this repository: the schemas come from Debian's ``libvirt-common``
package (pinned below), downloaded with ``apt-get download`` through a private apt
configuration (its own sources list, lists and cache under the cache directory; the machine's
apt sources are never touched), checked against Debian's signed index (the archive keyring
in /usr/share/keyrings) and against the pinned digest of the schema files, and unpacked into

    ${PULUMI_LIBVIRT_CACHE:-${XDG_CACHE_HOME:-~/.cache}/pulumi-libvirt}/schemas/11.3.0/

Works on Debian 12 and 13 and Ubuntu 24.04 (root or not; Ubuntu needs the
``debian-archive-keyring`` package, which scripts/setup.sh installs). Standard library only.
When the pinned Debian version has left the archive, another build of the same upstream version
is accepted only if its schema files are byte-identical to the pinned ones (same digest); this
is said on stderr.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

PACKAGE = "libvirt-common"
UPSTREAM_VERSION = "11.3.0"
# Debian 13 "trixie" (point release 3); bookworm-backports' 11.3.0-2~bpo12+1 has the same files.
# 11.3.0-3, trixie's release version, has left the archive (replaced by its point releases).
DEBIAN_VERSION = "11.3.0-3+deb13u3"
# sha256 over the sorted (name, sha256 of content) of the *.rng files: see schemas_digest().
SCHEMAS_SHA256 = "687d2e71be62e67cb63ee15b6555b2659c8bb9438fa7772640703349516a3b81"
SUITES = (
    ("debian", "trixie"),
    ("debian", "trixie-updates"),
    ("debian-security", "trixie-security"),
    ("debian", "bookworm-backports"),
)
MIRROR = os.environ.get("PULUMI_LIBVIRT_DEBIAN_MIRROR", "http://deb.debian.org")
KEYRING = pathlib.Path("/usr/share/keyrings/debian-archive-keyring.gpg")
SCHEMAS_IN_PACKAGE = "usr/share/libvirt/schemas"
HOW_TO_FETCH = "run `python3 scripts/fetch_schemas.py` (scripts/setup.sh does)"


class FetchError(Exception):
    """The schemas could not be fetched; the message says why and what to do."""


def say(message: str) -> None:
    print(f"fetch-schemas: {message}", file=sys.stderr)


def cache_root() -> pathlib.Path:
    explicit = os.environ.get("PULUMI_LIBVIRT_CACHE")
    if explicit:
        return pathlib.Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "pulumi-libvirt"


def schema_dir() -> pathlib.Path:
    """Where the pinned schemas live once fetched."""
    return cache_root() / "schemas" / UPSTREAM_VERSION


def schemas_digest(directory: pathlib.Path) -> str:
    """One sha256 for a set of schema files: their names and contents, in name order."""
    outer = hashlib.sha256()
    for path in sorted(directory.glob("*.rng")):
        inner = hashlib.sha256(path.read_bytes()).hexdigest()
        outer.update(f"{path.name}\0{inner}\n".encode())
    return outer.hexdigest()


def cached() -> pathlib.Path | None:
    """The pinned schemas' directory when it is there and intact, else None."""
    directory = schema_dir()
    if directory.is_dir() and schemas_digest(directory) == SCHEMAS_SHA256:
        return directory
    return None


def missing_message() -> str:
    return (f"libvirt {UPSTREAM_VERSION}'s RelaxNG schemas (Debian {PACKAGE} {DEBIAN_VERSION}) "
            f"are not in {schema_dir()}: {HOW_TO_FETCH}")


def ensure() -> pathlib.Path:
    """The pinned schemas' directory, fetched first when missing. Raises FetchError."""
    directory = cached()
    if directory is not None:
        return directory
    root = cache_root() / "schemas"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one fetch at a time; the others find it done
        directory = cached()
        if directory is None:
            directory = _fetch(root)
    return directory


# ---------------------------------------------------------------- apt, privately


class _Apt:
    """apt-get and apt-cache with a configuration of their own under ``work``."""

    def __init__(self, work: pathlib.Path):
        self.work = work
        for sub in ("lists/partial", "cache/archives/partial", "sources.list.d",
                    "preferences.d", "trusted.gpg.d"):
            (work / sub).mkdir(parents=True, exist_ok=True)
        sources = work / "sources.list"
        sources.write_text("".join(
            f"deb [signed-by={KEYRING}] {MIRROR}/{archive} {suite} main\n"
            for archive, suite in SUITES
        ))
        self.options = [
            f"-oDir::Etc::SourceList={sources}",
            f"-oDir::Etc::SourceParts={work / 'sources.list.d'}",
            f"-oDir::Etc::Preferences={work / 'preferences'}",
            f"-oDir::Etc::PreferencesParts={work / 'preferences.d'}",
            f"-oDir::Etc::Trusted={work / 'trusted.gpg'}",
            f"-oDir::Etc::TrustedParts={work / 'trusted.gpg.d'}",
            f"-oDir::State::Lists={work / 'lists'}",
            f"-oDir::Cache={work / 'cache'}",
            "-oAcquire::Languages=none",
            "-oAPT::Get::List-Cleanup=0",
        ]
        if os.geteuid() == 0:
            # apt drops to _apt for downloads, which cannot enter a private cache in ~root.
            self.options.append("-oAPT::Sandbox::User=root")

    def run(self, *args: str, cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess:
        tool, *rest = args
        env = dict(os.environ, LC_ALL="C", DEBIAN_FRONTEND="noninteractive")
        return subprocess.run([tool, *self.options, *rest], capture_output=True, text=True,
                              cwd=cwd, env=env, check=False)


def _problem_lines(output: str) -> str:
    """apt's own words about what failed: its errors, else its warnings."""
    lines = output.splitlines()
    for prefixes in (("E:",), ("W:", "Err:")):
        found = [" ".join(line.split()) for line in lines if line.startswith(prefixes)]
        if found:
            return "; ".join(found[:3])
    return output.strip()[-600:]


def _fetch(root: pathlib.Path) -> pathlib.Path:
    for tool in ("apt-get", "apt-cache", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise FetchError(
                f"{tool} not found: fetching libvirt {UPSTREAM_VERSION}'s schemas needs Debian's "
                f"or Ubuntu's apt. Elsewhere, unpack {SCHEMAS_IN_PACKAGE}/*.rng of Debian's "
                f"{PACKAGE}_{DEBIAN_VERSION} package into {schema_dir()}")
    if not KEYRING.is_file():
        raise FetchError(
            f"{KEYRING} is missing: install Debian's archive keyring "
            "(`apt-get install debian-archive-keyring`) so that Debian's index can be verified")
    say(f"fetching Debian's {PACKAGE} {DEBIAN_VERSION} (libvirt {UPSTREAM_VERSION}'s schemas)")
    work = pathlib.Path(tempfile.mkdtemp(prefix=".apt-", dir=root))
    try:
        apt = _Apt(work)
        update = apt.run("apt-get", "update", "--error-on=any", "-q")
        if update.returncode != 0:
            output = update.stdout + update.stderr
            if re.search(r"NO_PUBKEY|EXPKEYSIG|not signed|signatures? (were|was) invalid|"
                         r"public key is not available", output):
                raise FetchError(
                    f"Debian's index could not be verified with {KEYRING} (update the "
                    f"debian-archive-keyring package): {_problem_lines(output)}")
            raise FetchError(
                f"cannot download Debian's package index from {MIRROR} (network down, or a "
                "proxy needed? apt's proxy settings apply; PULUMI_LIBVIRT_DEBIAN_MIRROR names "
                f"another Debian mirror): {_problem_lines(output)}")
        available = _versions(apt)
        if DEBIAN_VERSION in available:
            candidates = [DEBIAN_VERSION]
        else:
            same_upstream = [v for v in available if _upstream(v) == UPSTREAM_VERSION]
            say(f"{PACKAGE} {DEBIAN_VERSION} is no longer in Debian's archive (it has "
                f"{', '.join(available) or 'no version'}); trying the other builds of "
                f"{UPSTREAM_VERSION}: {', '.join(same_upstream) or 'none'}")
            candidates = same_upstream
        for version in candidates:
            directory = _download_and_unpack(apt, version, root)
            if directory is not None:
                return directory
        if DEBIAN_VERSION in available:
            raise FetchError(
                f"the schemas in {PACKAGE} {DEBIAN_VERSION} do not match the pinned digest "
                f"{SCHEMAS_SHA256}: refusing them")
        raise FetchError(
            f"{PACKAGE} {DEBIAN_VERSION} is no longer in Debian's archive and no other build of "
            f"libvirt {UPSTREAM_VERSION} there has the pinned schemas (available: "
            f"{', '.join(available) or 'none'}). Pin a version that is there: DEBIAN_VERSION "
            "and SCHEMAS_SHA256 in scripts/fetch_schemas.py, then run scripts/generate.py")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _versions(apt: _Apt) -> list[str]:
    """Versions of the package the private index offers, newest first."""
    result = apt.run("apt-cache", "madison", PACKAGE)
    versions = []
    for line in result.stdout.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 2 and parts[0] == PACKAGE and parts[1] not in versions:
            versions.append(parts[1])
    return versions


def _upstream(version: str) -> str:
    version = version.split(":", 1)[-1]
    return version.rsplit("-", 1)[0] if "-" in version else version


def _download_and_unpack(apt: _Apt, version: str, root: pathlib.Path) -> pathlib.Path | None:
    """Unpack the schemas of one version into the cache; None when they are not the pinned
    ones. ``apt-get download`` checks the .deb's sha256 against the signed index."""
    downloads = apt.work / "debs"
    downloads.mkdir(exist_ok=True)
    got = apt.run("apt-get", "download", "-q", f"{PACKAGE}={version}", cwd=downloads)
    if got.returncode != 0:
        raise FetchError(f"cannot download {PACKAGE} {version} from {MIRROR}: "
                         f"{_problem_lines(got.stdout + got.stderr)}")
    debs = sorted(downloads.glob(f"{PACKAGE}_*.deb"))
    if not debs:
        raise FetchError(f"apt-get download {PACKAGE}={version} left no .deb in {downloads}")
    deb = debs[-1]
    unpacked = apt.work / "unpacked"
    shutil.rmtree(unpacked, ignore_errors=True)
    extract = subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], capture_output=True,
                             text=True, check=False)
    if extract.returncode != 0:
        raise FetchError(f"cannot unpack {deb.name}: {extract.stderr.strip()}")
    deb.unlink()
    source = unpacked / SCHEMAS_IN_PACKAGE
    digest = schemas_digest(source) if source.is_dir() else "none"
    if digest != SCHEMAS_SHA256:
        say(f"{PACKAGE} {version}: its schemas' digest {digest} is not the pinned one")
        return None
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".new-", dir=root))
    for path in sorted(source.glob("*.rng")):
        shutil.copyfile(path, staging / path.name)
    (staging / "SOURCE").write_text(
        f"Debian {PACKAGE} {version} ({SCHEMAS_IN_PACKAGE}), libvirt {UPSTREAM_VERSION}\n"
        f"schemas sha256 {digest}\n"
        "libvirt's schemas are LGPL-2.1-or-later.\n")
    staging.chmod(0o755)
    target = schema_dir()
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    say(f"libvirt {UPSTREAM_VERSION}'s schemas (from {PACKAGE} {version}) are in {target}")
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digest", metavar="DIR", help="print the digest of DIR's *.rng files")
    args = parser.parse_args()
    if args.digest:
        print(schemas_digest(pathlib.Path(args.digest)))
        return 0
    try:
        directory = ensure()
    except FetchError as exc:
        say(f"error: {exc}")
        return 1
    print(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
