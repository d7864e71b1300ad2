"""Small ISO 9660 images built in memory: the seed disks guests read at first boot.

One job, no libvirt and no Pulumi: ``build_iso`` turns a volume label and a few files into the
bytes of an ISO 9660 image with Joliet and Rock Ridge (so Linux, Windows and BSD guests all see
the exact file names), and ``read_iso`` reads such an image back. Nothing touches the disk.

    data = build_iso("cidata", {"user-data": b"#cloud-config\\n", "meta-data": b"{}"})
    label, files = read_iso(data)   # ("cidata", {"user-data": ..., "meta-data": ...})

The bytes differ from one build to the next (ISO 9660 records creation times): decide whether
something changed from the files, never from the image.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping

import pycdlib

__all__ = ["build_iso", "read_iso"]

# Rock Ridge modes: files readable by all, the executable ones executable too.
_FILE_MODE = 0o100444
_EXEC_MODE = 0o100555
_DIR_MODE = 0o040555
_NOT_D_CHARS = re.compile(r"[^A-Z0-9_]")


def build_iso(label: str, files: Mapping[str, bytes], executable: Iterable[str] = ()) -> bytes:
    """An ISO image labelled ``label`` holding ``files`` (path -> bytes; "a/b" makes a folder).

    ``executable`` names the paths whose Rock Ridge mode is executable (a Combustion script).
    """
    executable = set(executable)
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, vol_ident=label, joliet=3, rock_ridge="1.09")
    try:
        made_dirs: dict[str, str] = {"": ""}
        used: set[str] = set()
        for path in sorted(files):
            *folders, name = path.split("/")
            parent = ""
            for folder in folders:
                key = f"{parent}/{folder}" if parent else folder
                if key not in made_dirs:
                    iso_dir = f"{made_dirs[parent]}/{_iso_name(folder, used, folder=True)}"
                    iso.add_directory(iso_dir, rr_name=folder, joliet_path=f"/{key}",
                                      file_mode=_DIR_MODE)
                    made_dirs[key] = iso_dir
                parent = key
            data = files[path]
            iso.add_fp(
                io.BytesIO(data), len(data),
                f"{made_dirs[parent]}/{_iso_name(name, used)};1",
                rr_name=name,
                joliet_path=f"/{path}",
                file_mode=_EXEC_MODE if path in executable else _FILE_MODE,
            )
        out = io.BytesIO()
        iso.write_fp(out)
        return out.getvalue()
    finally:
        iso.close()


def read_iso(data: bytes) -> tuple[str, dict[str, bytes]]:
    """The volume label and every file (by its Rock Ridge path) of an ISO image."""
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    try:
        label = iso.pvd.volume_identifier.decode().rstrip(" \x00")
        files: dict[str, bytes] = {}
        for parent, _dirs, names in iso.walk(rr_path="/"):
            for name in names:
                path = f"{parent.rstrip('/')}/{name}"
                out = io.BytesIO()
                iso.get_file_from_iso_fp(out, rr_path=path)
                files[path.lstrip("/")] = out.getvalue()
        return label, files
    finally:
        iso.close()


def _iso_name(name: str, used: set[str], folder: bool = False) -> str:
    """A unique ISO 9660 level 3 name (d-characters) standing for ``name``."""
    stem, dot, ext = name.upper().rpartition(".") if "." in name and not folder else (
        name.upper(), "", "")
    stem = _NOT_D_CHARS.sub("_", stem)[:24] or "_"
    ext = _NOT_D_CHARS.sub("_", ext)[:6]
    base = f"{stem}.{ext}" if dot else (stem if folder else f"{stem}.")
    candidate, n = base, 0
    while candidate in used:
        n += 1
        candidate = f"{stem[:20]}_{n}" + (f".{ext}" if dot else ("" if folder else "."))
    used.add(candidate)
    return candidate
