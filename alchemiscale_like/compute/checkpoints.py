"""Checkpoints of running units, mirrored to the compute API and restored from it.

A unit's committed generation (see :mod:`alchemiscale_like.execution.checkpoints`)
is uploaded file by file as ``{generation}/{name}``, and its manifest last, as
``CURRENT``: a reader that finds a manifest finds every file it lists (each
verified by sha256 on restore). Another node resuming the Task downloads the
generation the manifest names and installs the manifest locally last.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path

from alchemiscale_like.compute.api import ComputeAPI
from alchemiscale_like.execution.checkpoints import (
    MANIFEST,
    CheckpointFolder,
    parse_manifest,
)
from alchemiscale_like.models.scope import ScopedKey

log = logging.getLogger(__name__)


class CheckpointSync:
    """Uploads and restores the checkpoints of one Task's units under ``root``."""

    def __init__(self, api: ComputeAPI, task: ScopedKey, root: Path) -> None:
        self.api = api
        self.task = task
        self.root = root
        self._uploaded: dict[str, str] = {}  # unit key -> generation name last uploaded
        self._lock = threading.Lock()

    def upload_changed(self) -> int:
        """Upload every unit generation committed since the last upload; returns how many.

        A generation that disappears while it is being read (the unit committed a
        newer one) is skipped this round; the next round uploads the newer one.
        """
        uploaded = 0
        with self._lock:
            for manifest_path in sorted(self.root.glob(f"*/{MANIFEST}")):
                unit_key = manifest_path.parent.name
                try:
                    generation = CheckpointFolder(manifest_path.parent).current()
                    if generation is None or self._uploaded.get(unit_key) == generation.name:
                        continue
                    for name, sha256 in sorted(generation.files.items()):
                        self.api.upload_checkpoint(
                            self.task,
                            unit_key,
                            f"{generation.name}/{name}",
                            generation.folder / name,
                            sha256,
                        )
                    self._upload_manifest(unit_key, generation.manifest())
                except FileNotFoundError:
                    continue
                self._uploaded[unit_key] = generation.name
                uploaded += 1
                log.info(
                    "event=checkpoint_uploaded task=%s unit=%s generation=%s files=%d",
                    self.task,
                    unit_key,
                    generation.name,
                    len(generation.files),
                )
        return uploaded

    def _upload_manifest(self, unit_key: str, manifest: bytes) -> None:
        with tempfile.NamedTemporaryFile(prefix=".manifest-", dir=self.root) as handle:
            handle.write(manifest)
            handle.flush()
            self.api.upload_checkpoint(self.task, unit_key, MANIFEST, Path(handle.name))

    def restore(self, unit_keys: list[str]) -> int:
        """Bring down the stored checkpoint of each unit that has one; returns how many."""
        restored = 0
        for unit_key in unit_keys:
            stored = self.api.list_checkpoints(self.task, unit_key)
            if MANIFEST not in stored:
                continue
            folder = CheckpointFolder(self.root / unit_key)
            folder.root.mkdir(parents=True, exist_ok=True)
            manifest_path = folder.root / f".{MANIFEST}.download"
            self.api.download_checkpoint(
                self.task, unit_key, MANIFEST, manifest_path, stored[MANIFEST].sha256
            )
            manifest = manifest_path.read_bytes()
            manifest_path.unlink()
            generation, files = parse_manifest(manifest)
            for name, sha256 in files.items():
                self.api.download_checkpoint(
                    self.task,
                    unit_key,
                    f"{generation}/{name}",
                    folder.root / generation / name,
                    sha256,
                )
            folder.install_manifest(manifest)
            self._uploaded[unit_key] = generation
            restored += 1
            log.info(
                "event=checkpoint_restored task=%s unit=%s generation=%s files=%d",
                self.task,
                unit_key,
                generation,
                len(files),
            )
        return restored
