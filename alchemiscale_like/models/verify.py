"""Verify a keyed chain without its classes (what the server does with every upload).

The server never imports protocol code, yet it must trust keys: it recomputes
each key from the JSON, checks each reference points to an earlier entry, and
reports what the chain holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from alchemiscale_like.errors import KeyMismatch, ValidationError
from alchemiscale_like.models.codecs import CODEC_TAG, KEY_TAG, from_jsonable
from alchemiscale_like.models.limits import check_chain_length, check_depth
from alchemiscale_like.models.tokenization import key_from_keyed_dict


@dataclass(frozen=True)
class VerifiedEntry:
    """One verified object of a keyed chain."""

    key: str
    qualname: str
    module: str
    keyed_dict: dict[str, Any]
    references: tuple[str, ...]


def _references(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        if KEY_TAG in value:
            ref = value[KEY_TAG]
            if len(value) != 1 or not isinstance(ref, str):
                raise ValidationError("a reference must be exactly {':key:': '<key>'}")
            out.append(ref)
            return
        for item in value.values():
            _references(item, out)
    elif isinstance(value, list):
        for item in value:
            _references(item, out)


def verify_keyed_chain(chain: Any) -> list[VerifiedEntry]:
    """Check a keyed chain's keys and references using its JSON alone.

    Returns the entries in chain order (the root last).

    Raises:
        ValidationError: malformed structure, duplicate key, dangling or forward reference,
            nesting deeper than :data:`~alchemiscale_like.models.limits.MAX_NESTING`.
        KeyMismatch: a declared key differs from the key recomputed from the JSON.
    """
    if not isinstance(chain, list) or not chain:
        raise ValidationError("a keyed chain must be a non-empty list of [key, keyed_dict]")
    check_chain_length(chain)
    check_depth(chain, what="keyed chain")
    seen: set[str] = set()
    entries: list[VerifiedEntry] = []
    for position, entry in enumerate(chain):
        if not (isinstance(entry, list) and len(entry) == 2):
            raise ValidationError(f"keyed chain entry {position} must be [key, keyed_dict]")
        key, keyed_dict = entry
        if not isinstance(key, str) or not isinstance(keyed_dict, dict):
            raise ValidationError(f"keyed chain entry {position} must be [string, object]")
        module, qualname = keyed_dict.get("__module__"), keyed_dict.get("__qualname__")
        version = keyed_dict.get(":version:")
        if not isinstance(module, str) or not isinstance(qualname, str):
            raise ValidationError(f"entry {key} lacks '__module__'/'__qualname__' strings")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValidationError(f"entry {key} lacks an integer ':version:'")
        computed = key_from_keyed_dict(keyed_dict)
        if computed != key:
            raise KeyMismatch(f"declared key {key} but the content hashes to {computed}")
        if key in seen:
            raise ValidationError(f"key {key} appears twice in the keyed chain")
        refs: list[str] = []
        _references(keyed_dict, refs)
        for ref in refs:
            if ref not in seen:
                raise ValidationError(f"{key} references {ref}, which is not defined before it")
        seen.add(key)
        entries.append(VerifiedEntry(key, qualname, module, keyed_dict, tuple(refs)))
    return entries


def sub_chain(entries: list[VerifiedEntry], root_key: str) -> list[list[Any]]:
    """The keyed chain of ``root_key`` alone: it and everything it references, in chain order.

    ``entries`` is a verified chain (see :func:`verify_keyed_chain`), so every
    reference points to an earlier entry.

    Raises:
        ValidationError: ``root_key`` is not in the chain.
    """
    return sub_chains(entries, [root_key])[root_key]


def sub_chains(
    entries: list[VerifiedEntry], root_keys: Iterable[str]
) -> dict[str, list[list[Any]]]:
    """The :func:`sub_chain` of each of ``root_keys``, by key.

    One index of the chain serves every root, so the cost is one pass over the chain
    plus the size of the sub-chains: a network's thousands of transformations are
    not each a pass over the whole network.

    Raises:
        ValidationError: a root key is not in the chain.
    """
    position = {entry.key: index for index, entry in enumerate(entries)}
    chains: dict[str, list[list[Any]]] = {}
    for root in root_keys:
        if root not in position:
            raise ValidationError(f"{root} is not in the keyed chain")
        wanted = {position[root]}
        pending = [position[root]]
        while pending:
            for ref in entries[pending.pop()].references:
                index = position[ref]
                if index not in wanted:
                    wanted.add(index)
                    pending.append(index)
        chains[root] = [[entries[i].key, entries[i].keyed_dict] for i in sorted(wanted)]
    return chains


def _root(entries: list[VerifiedEntry], qualnames: tuple[str, ...]) -> VerifiedEntry:
    root = entries[-1]
    if root.qualname not in qualnames:
        raise ValidationError(f"expected a {' or '.join(qualnames)}, got a {root.qualname}")
    return root


def _ref_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(item, dict) and isinstance(item.get(KEY_TAG), str) for item in value
    ):
        raise ValidationError(f"{what} must be a list of references")
    return [item[KEY_TAG] for item in value]


@dataclass(frozen=True)
class DAGSummary:
    """What the server needs to know of a ProtocolDAG, read from its JSON alone."""

    key: str
    unit_keys: tuple[str, ...]
    transformation_key: str | None


def summarize_dag(entries: list[VerifiedEntry]) -> DAGSummary:
    """Summarize a verified ProtocolDAG chain without its classes."""
    root = _root(entries, ("ProtocolDAG",))
    units = _ref_list(root.keyed_dict.get("protocol_units"), "protocol_units")
    if not units:
        raise ValidationError("a ProtocolDAG needs at least one unit")
    transformation = root.keyed_dict.get("transformation_key")
    if transformation is not None and not isinstance(transformation, str):
        raise ValidationError("transformation_key must be a string or null")
    return DAGSummary(root.key, tuple(units), transformation)


@dataclass(frozen=True)
class UnitResultSummary:
    """One unit attempt's result (success or failure), read from its JSON alone."""

    key: str
    ok: bool
    unit_key: str
    attempt: int
    files: tuple[dict[str, Any], ...]
    traceback: str | None
    started: dt.datetime | None = None
    finished: dt.datetime | None = None


def _time(entry: VerifiedEntry, field: str) -> dt.datetime | None:
    """A datetime field of a unit result (absent: None), read from its codec form."""
    value = entry.keyed_dict.get(field)
    if value is None:
        return None
    if not (isinstance(value, dict) and value.get(CODEC_TAG) == "datetime"):
        raise ValidationError(f"{entry.key}: {field} must be a datetime")
    moment = from_jsonable(value)
    if not isinstance(moment, dt.datetime):
        raise ValidationError(f"{entry.key}: {field} must be a datetime")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _unit_result(entry: VerifiedEntry) -> UnitResultSummary:
    body = entry.keyed_dict
    unit_key, attempt, files = body.get("source_key"), body.get("attempt"), body.get("files", [])
    if not isinstance(unit_key, str):
        raise ValidationError(f"{entry.key}: source_key must be a string")
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValidationError(f"{entry.key}: attempt must be an integer >= 1")
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
        raise ValidationError(f"{entry.key}: files must be a list of ResultFile objects")
    ok = entry.qualname == "ProtocolUnitResult"
    traceback = body.get("traceback")
    if not ok and not isinstance(traceback, str):
        raise ValidationError(f"{entry.key}: a ProtocolUnitFailure needs a traceback string")
    return UnitResultSummary(
        entry.key,
        ok,
        unit_key,
        attempt,
        tuple(files),
        None if ok else traceback,
        started=_time(entry, "start_time"),
        finished=_time(entry, "end_time"),
    )


def summarize_unit_result(entries: list[VerifiedEntry]) -> UnitResultSummary:
    """Summarize a verified ProtocolUnitResult or ProtocolUnitFailure chain."""
    return _unit_result(_root(entries, ("ProtocolUnitResult", "ProtocolUnitFailure")))


@dataclass(frozen=True)
class DAGResultSummary:
    """A ProtocolDAGResult read from its JSON alone: whether it succeeded, and its failures."""

    key: str
    ok: bool
    dag_key: str | None
    successful_units: tuple[str, ...]
    tracebacks: tuple[str, ...]


def summarize_dag_result(entries: list[VerifiedEntry]) -> DAGResultSummary:
    """Summarize a verified ProtocolDAGResult chain (``ok`` as ProtocolDAGResult.ok())."""
    root = _root(entries, ("ProtocolDAGResult",))
    by_key = {entry.key: entry for entry in entries}
    units = _ref_list(root.keyed_dict.get("protocol_units"), "protocol_units")
    result_keys = _ref_list(root.keyed_dict.get("protocol_unit_results"), "protocol_unit_results")
    results = []
    for key in result_keys:
        entry = by_key[key]
        if entry.qualname not in ("ProtocolUnitResult", "ProtocolUnitFailure"):
            raise ValidationError(f"{key} in protocol_unit_results is a {entry.qualname}")
        results.append(_unit_result(entry))
    unit_keys = {by_key[key].key for key in units}
    successful = {r.unit_key for r in results if r.ok}
    dag_key = root.keyed_dict.get("dag_key")
    if dag_key is not None and not isinstance(dag_key, str):
        raise ValidationError("dag_key must be a string or null")
    return DAGResultSummary(
        key=root.key,
        ok=bool(units) and unit_keys <= successful,
        dag_key=dag_key,
        successful_units=tuple(sorted(successful & unit_keys)),
        tracebacks=tuple(r.traceback for r in results if r.traceback is not None),
    )
