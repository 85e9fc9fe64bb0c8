"""A unit's checkpoint folder: whole generations, switched atomically (review P5).

A unit saves a checkpoint as a *generation*: a folder it fills with every file
it needs to restart, committed by rewriting one small manifest, ``CURRENT``,
atomically. A reader (the unit on resume, or the compute service uploading it)
follows the manifest and so always sees one complete generation, never a new
``state.json`` beside an old ``samples.npy``. The previous generation is kept
until the next commit, so an upload that started on it can finish.

Layout of ``<checkpoint root>/<unit key>/``::

    CURRENT              {"generation": "gen-000042", "files": {"state.json": "<sha256>", ...}}
    gen-000042/...       the committed generation
    gen-000041/...       the one before (removed at the next commit)
    .staging-*/          a generation being written
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alchemiscale_like.atomicfiles import write_atomic
from alchemiscale_like.errors import ValidationError
from alchemiscale_like.models.filenames import validate_file_name

log = logging.getLogger(__name__)

MANIFEST = "CURRENT"
_PREFIX = "gen-"


@dataclass(frozen=True)
class Generation:
    """A committed checkpoint generation: its folder and its files' sha256 by name."""

    name: str
    folder: Path
    files: dict[str, str]

    def manifest(self) -> bytes:
        """The manifest text that points at this generation."""
        return json.dumps({"generation": self.name, "files": self.files}, sort_keys=True).encode()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def parse_manifest(data: bytes) -> tuple[str, dict[str, str]]:
    """``(generation, {file: sha256})`` from manifest bytes.

    Raises:
        ValidationError: the manifest is malformed or names unsafe files.
    """
    try:
        body = json.loads(data)
        generation, files = body["generation"], body["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError(f"malformed checkpoint manifest: {exc}") from exc
    if not (isinstance(generation, str) and generation.startswith(_PREFIX)):
        raise ValidationError(f"checkpoint manifest names a bad generation {generation!r}")
    validate_file_name(generation)
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise ValidationError("checkpoint manifest files must map names to sha256 digests")
    for name in files:
        validate_file_name(name)
    return generation, dict(files)


class CheckpointFolder:
    """The checkpoint folder of one unit (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def current(self) -> Generation | None:
        """The committed generation, or None if the unit never saved a checkpoint."""
        try:
            data = (self.root / MANIFEST).read_bytes()
        except FileNotFoundError:
            return None
        generation, files = parse_manifest(data)
        return Generation(generation, self.root / generation, files)

    def restore(self) -> Path | None:
        """The folder of the committed generation, its files verified; None if none.

        A generation with a missing or damaged file is dropped (logged): the unit
        starts over rather than resume from bytes that are not what it saved.
        """
        try:
            found = self.current()
        except ValidationError as exc:
            log.warning("event=checkpoint_dropped root=%s problem=%r", self.root, str(exc))
            (self.root / MANIFEST).unlink(missing_ok=True)
            return None
        if found is None:
            return None
        for name, sha in found.files.items():
            path = found.folder / name
            if not path.is_file() or _sha256(path) != sha:
                log.warning(
                    "event=checkpoint_dropped root=%s generation=%s file=%s problem=damaged",
                    self.root,
                    found.name,
                    name,
                )
                (self.root / MANIFEST).unlink(missing_ok=True)
                return None
        return found.folder

    @contextmanager
    def save(self) -> Iterator[Path]:
        """A fresh, empty folder to write a whole checkpoint into; committed on exit.

        If the block raises, nothing is committed and the previous generation stays.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        try:
            yield staging
            self._commit(staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _commit(self, staging: Path) -> None:
        previous = self.current()
        number = int(previous.name[len(_PREFIX) :]) + 1 if previous is not None else 1
        name = f"{_PREFIX}{number:06d}"
        files: dict[str, str] = {}
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            relative = validate_file_name(path.relative_to(staging).as_posix())
            with open(path, "rb+") as handle:
                os.fsync(handle.fileno())
            files[relative] = _sha256(path)
        target = self.root / name
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        self.install_manifest(Generation(name, target, files).manifest())
        for old in self.root.glob(f"{_PREFIX}*"):
            if old.name not in (name, previous.name if previous else None):
                shutil.rmtree(old, ignore_errors=True)

    def install_manifest(self, manifest: bytes) -> None:
        """Point ``CURRENT`` at a generation (atomically: write aside, fsync, rename)."""
        write_atomic(self.root / MANIFEST, manifest)
