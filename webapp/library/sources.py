"""What an import is asked to read: folders, zip files, URL lists, single files. No Django.

``collect_items`` turns the paths given to ``library_import`` into a flat list
of ImportItems (one per candidate image) plus the entries it could not use,
each with a sentence. Sidecars are read here, so a worker gets one small,
picklable item and never has to look around it.

Sidecar format (``cat.jpg`` → ``cat.txt``, UTF-8):

    A cat on a sofa                  ← first line: the title
    A tabby cat asleep on a sofa.    ← lines without "lang=": the description
    zh=一只在沙发上睡觉的虎斑猫         ← "lang=text": a translation
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

URL_LIST_SUFFIXES = frozenset({".txt", ".urls", ".lst"})
SIDECAR_SUFFIX = ".txt"
SIDECAR_MAX_BYTES = 64 * 1024
_LANG_LINE = re.compile(r"^([a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?)\s*=\s*(.+)$")
# Files a camera, an OS or a zip tool leaves beside images; not worth a "bad file" line.
_IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})


@dataclass(frozen=True)
class Sidecar:
    title: str = ""
    description: str = ""
    translations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportItem:
    """One candidate image. ``kind``: "file" (path), "zip" (path + member) or "url"."""

    source: str  # what a person recognises: a path, "photos.zip!cats/tom.jpg", a URL
    kind: str
    location: str
    file_name: str
    member: str = ""
    folders: tuple[str, ...] = ()
    sidecar: Sidecar | None = None


@dataclass(frozen=True)
class BadEntry:
    source: str
    reason: str


@dataclass
class Collected:
    items: list[ImportItem] = field(default_factory=list)
    bad: list[BadEntry] = field(default_factory=list)


def parse_sidecar(text: str) -> Sidecar:
    lines = [line.strip() for line in text.lstrip("\ufeff").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return Sidecar()
    description: list[str] = []
    translations: dict[str, str] = {}
    for line in lines[1:]:
        match = _LANG_LINE.match(line)
        if match:
            translations[match.group(1).lower().replace("_", "-")] = match.group(2).strip()
        else:
            description.append(line)
    return Sidecar(
        title=lines[0][:300], description="\n".join(description), translations=translations
    )


def _decode_sidecar(data: bytes) -> Sidecar | None:
    try:
        return parse_sidecar(data[:SIDECAR_MAX_BYTES].decode("utf-8"))
    except UnicodeDecodeError:
        return None  # not a text sidecar; the file name gives the title instead


def _ignored(name: str) -> bool:
    return name.startswith(".") or name.lower() in _IGNORED_NAMES


def collect_items(paths: list[str]) -> Collected:
    collected = Collected()
    for raw in paths:
        path = Path(raw)
        if raw.startswith(("http://", "https://")):
            _add_url(collected, raw)
        elif path.is_dir():
            _walk_folder(collected, path)
        elif not path.is_file():
            collected.bad.append(BadEntry(raw, "There is no file or folder at this path."))
        elif zipfile.is_zipfile(path):
            _walk_zip(collected, path)
        elif path.suffix.lower() in URL_LIST_SUFFIXES:
            _read_url_list(collected, path)
        else:
            collected.items.append(
                ImportItem(source=str(path), kind="file", location=str(path), file_name=path.name)
            )
    return collected


def _pair_sidecars(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """Split one folder's file names into candidates and {candidate: its sidecar}."""
    stems: dict[str, list[str]] = {}
    for name in names:
        stems.setdefault(os.path.splitext(name)[0], []).append(name)
    candidates: list[str] = []
    sidecars: dict[str, str] = {}
    for group in stems.values():
        texts = [n for n in group if n.lower().endswith(SIDECAR_SUFFIX)]
        others = [n for n in group if not n.lower().endswith(SIDECAR_SUFFIX)]
        if others and texts:
            for name in others:
                sidecars[name] = texts[0]
            candidates.extend(others)
        else:
            candidates.extend(group)  # a lone .txt is a candidate, and will be a bad file
    return sorted(candidates), sidecars


def _walk_folder(collected: Collected, root: Path) -> None:
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(folder)
        candidates, sidecars = _pair_sidecars([n for n in filenames if not _ignored(n)])
        folders = here.relative_to(root).parts
        for name in candidates:
            sidecar = None
            if name in sidecars:
                sidecar_path = here / sidecars[name]
                sidecar = _decode_sidecar(sidecar_path.read_bytes()[:SIDECAR_MAX_BYTES])
            path = here / name
            collected.items.append(
                ImportItem(
                    source=str(path),
                    kind="file",
                    location=str(path),
                    file_name=name,
                    folders=tuple(folders),
                    sidecar=sidecar,
                )
            )


def _walk_zip(collected: Collected, path: Path) -> None:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        collected.bad.append(BadEntry(str(path), "The zip file is damaged and cannot be read."))
        return
    with archive:
        by_folder: dict[PurePosixPath, list[zipfile.ZipInfo]] = {}
        for info in archive.infolist():
            member = PurePosixPath(info.filename)
            if info.is_dir() or any(_ignored(part) for part in member.parts):
                continue
            if "__MACOSX" in member.parts:
                continue
            by_folder.setdefault(member.parent, []).append(info)
        for folder, infos in sorted(by_folder.items()):
            by_name = {PurePosixPath(i.filename).name: i for i in infos}
            candidates, sidecars = _pair_sidecars(list(by_name))
            for name in candidates:
                sidecar = None
                if name in sidecars:
                    with archive.open(by_name[sidecars[name]]) as handle:
                        sidecar = _decode_sidecar(handle.read(SIDECAR_MAX_BYTES))
                member_name = by_name[name].filename
                collected.items.append(
                    ImportItem(
                        source=f"{path}!{member_name}",
                        kind="zip",
                        location=str(path),
                        member=member_name,
                        file_name=name,
                        folders=tuple(p for p in folder.parts if p not in ("", ".")),
                        sidecar=sidecar,
                    )
                )


def _read_url_list(collected: Collected, path: Path) -> None:
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        collected.bad.append(
            BadEntry(str(path), "The file is neither an image nor a UTF-8 list of image URLs.")
        )
        return
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if entry.startswith(("http://", "https://")):
            _add_url(collected, entry)
        else:
            collected.bad.append(
                BadEntry(f"{path}:{number}", "This line is not an http(s) address of an image.")
            )


def _add_url(collected: Collected, url: str) -> None:
    name = PurePosixPath(url.split("?", 1)[0].split("#", 1)[0]).name or "image"
    collected.items.append(ImportItem(source=url, kind="url", location=url, file_name=name))
