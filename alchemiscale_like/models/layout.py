"""`TaskLayout`: where each part of one Task's results lives, relative to the Task's root.

One definition, used by the object store (under its task prefix), by
:class:`~alchemiscale_like.models.resultfile.ResultFile` references and by local
runs (a folder per Transformation)::

    dag{suffix}
    units/{unit_key}/{attempt_folder}/result{suffix}
    units/{unit_key}/{attempt_folder}/files/{name}
    units/{unit_key}/checkpoint/{name}
    results/{pdr_key}{suffix}

``attempt_folder`` is ``{attempt}`` for a local run and ``{attempt}-{claim}`` for
an attempt made under claim number ``claim`` of a compute service: two claims
never write the same write-once location, so an upload left behind by a service
that died before recording it can never block the next claimant (review P1).

Everything is pure string building with validated parts; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from alchemiscale_like.errors import ValidationError
from alchemiscale_like.models.filenames import validate_file_name
from alchemiscale_like.models.patterns import check_key

#: Suffix of structured objects in the object store (zstd-compressed canonical JSON).
STORE_JSON_SUFFIX = ".json.zst"
#: Suffix of structured objects in a local run folder (plain JSON, readable by any tool).
LOCAL_JSON_SUFFIX = ".json"


def _positive(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{what} must be a positive integer, not {value!r}")
    return value


def attempt_folder(attempt: int, claim: int | None = None) -> str:
    """The folder name of one unit attempt: ``{attempt}`` or ``{attempt}-{claim}``."""
    _positive(attempt, "attempt")
    if claim is None:
        return str(attempt)
    return f"{attempt}-{_positive(claim, 'claim')}"


@dataclass(frozen=True)
class TaskLayout:
    """Task-relative paths of a Task's DAG, unit attempts, files, checkpoints and results."""

    json_suffix: str = STORE_JSON_SUFFIX

    @property
    def dag(self) -> str:
        """The Task's one ProtocolDAG."""
        return f"dag{self.json_suffix}"

    def unit_folder(self, unit_key: str) -> str:
        """Everything stored for one unit (ends with ``/``)."""
        return f"units/{check_key(unit_key, 'unit key')}/"

    def attempt_folder(self, unit_key: str, attempt: int, claim: int | None = None) -> str:
        """The folder of one attempt of ``unit_key`` (ends with ``/``)."""
        return f"{self.unit_folder(unit_key)}{attempt_folder(attempt, claim)}/"

    def unit_result(self, unit_key: str, attempt: int, claim: int | None = None) -> str:
        """One attempt's ProtocolUnitResult (or failure)."""
        return f"{self.attempt_folder(unit_key, attempt, claim)}result{self.json_suffix}"

    def unit_file(self, unit_key: str, attempt: int, name: str, claim: int | None = None) -> str:
        """The result file ``name`` of one attempt."""
        return f"{self.attempt_folder(unit_key, attempt, claim)}files/{validate_file_name(name)}"

    def checkpoint_folder(self, unit_key: str) -> str:
        """The unit's checkpoint files (ends with ``/``); shared by all its attempts."""
        return f"{self.unit_folder(unit_key)}checkpoint/"

    def checkpoint(self, unit_key: str, name: str) -> str:
        """The checkpoint file ``name`` of ``unit_key``."""
        return f"{self.checkpoint_folder(unit_key)}{validate_file_name(name)}"

    def dag_result(self, pdr_key: str) -> str:
        """One ProtocolDAGResult of the Task."""
        return f"results/{check_key(pdr_key, 'ProtocolDAGResult key')}{self.json_suffix}"


#: The layout inside the object store.
STORE_LAYOUT = TaskLayout()
#: The layout of a local run folder.
LOCAL_LAYOUT = TaskLayout(LOCAL_JSON_SUFFIX)
