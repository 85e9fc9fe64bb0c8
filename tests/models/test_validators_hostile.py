"""Every validator of outside input refuses control characters and surrounding whitespace.

``re.match`` with ``^...$`` lets a trailing newline through (``$`` matches just
before a final ``\\n``); these properties catch that mistake wherever it returns.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError as PydanticValidationError

from alchemiscale_like.errors import ValidationError
from alchemiscale_like.models import ResultFile, Scope, ScopedKey, validate_file_name
from alchemiscale_like.models.patterns import check_identifier, check_key, is_sha256
from alchemiscale_like.models.task import parse_status
from alchemiscale_like.storage.objectstore.layout import check_location
from alchemiscale_like.storage.objectstore.models import ObjectInfo

KEY = "Task-0123456789abcdef0123456789abcdef"
SHA = "ab" * 32

#: Control characters (C0, DEL, C1) and whitespace, including the Unicode line separators.
HOSTILE = st.one_of(
    st.sampled_from(["\n", "\r", "\r\n", "\t", " ", "\x0b", "\x0c", "\x00", "\x7f", "\x85"]),
    st.sampled_from(["\u2028", "\u2029", "\u00a0", "\u200b", "\ufeff", "\x1b[0m"]),
    st.characters(categories=["Cc", "Zs", "Zl", "Zp"]).map(str),
)


def _sha_model(value: str) -> object:
    return ResultFile(name="a", size=1, sha256=value, location="units/a")


def _object_info(value: str) -> object:
    return ObjectInfo(location="x", sha256=value, size=1)


def _sha256_text(value: str) -> object:
    if not is_sha256(value):
        raise ValidationError(f"not a sha256: {value!r}")
    return value


#: name -> (validator, a valid input, errors it may raise). Each valid input passes as is.
VALIDATORS: dict[str, tuple[Callable[[str], object], str, tuple[type[Exception], ...]]] = {
    "Scope.from_str": (Scope.from_str, "org-campaign-project", (ValidationError,)),
    "Scope.from_str(wildcard)": (Scope.from_str, "org-*-*", (ValidationError,)),
    "Scope(project=)": (lambda v: Scope(org="o", campaign="c", project=v), "p", (ValidationError,)),
    "ScopedKey.from_str": (ScopedKey.from_str, f"{KEY}-o-c-p", (ValidationError,)),
    "ScopedKey(gufe_key=)": (
        lambda v: ScopedKey(gufe_key=v, org="o", campaign="c", project="p"),
        KEY,
        (ValidationError,),
    ),
    "check_key": (check_key, KEY, (ValidationError,)),
    "check_identifier": (check_identifier, "alice", (ValidationError,)),
    "validate_file_name": (validate_file_name, "traj/frame_1.dcd", (ValidationError,)),
    "check_location": (check_location, "o/c/p/tasks/x/dag.json.zst", (ValidationError,)),
    "parse_status": (parse_status, "waiting", (ValidationError,)),
    "ResultFile.sha256": (_sha_model, SHA, (PydanticValidationError,)),
    "ObjectInfo.sha256": (_object_info, SHA, (PydanticValidationError,)),
    "is_sha256": (_sha256_text, SHA, ()),
}


@pytest.mark.parametrize("name", sorted(VALIDATORS))
def test_the_valid_input_passes(name: str) -> None:
    validate, valid, _ = VALIDATORS[name]
    validate(valid)


@pytest.mark.parametrize("name", sorted(VALIDATORS))
@given(junk=HOSTILE, where=st.sampled_from(["end", "start", "middle"]))
def test_control_characters_and_whitespace_are_refused(name: str, junk: str, where: str) -> None:
    validate, valid, errors = VALIDATORS[name]
    middle = len(valid) // 2
    hostile = {
        "end": valid + junk,
        "start": junk + valid,
        "middle": valid[:middle] + junk + valid[middle:],
    }[where]
    with pytest.raises((ValidationError, *errors)):
        validate(hostile)


@given(junk=st.characters(categories=["Cc"]).map(str))
def test_store_locations_refuse_control_characters(junk: str) -> None:
    # Store locations follow the file-name rule: ASCII segments, never control characters.
    for hostile in ("out.dcd" + junk, junk + "out.dcd", "traj/" + junk + "/x", "a\u2028b"):
        with pytest.raises(ValidationError):
            check_location(hostile)
        with pytest.raises(ValidationError):
            validate_file_name(hostile)


def test_the_reported_trailing_newlines_are_refused() -> None:
    with pytest.raises(ValidationError):
        Scope.from_str("a-b-c\n")
    with pytest.raises(ValidationError):
        ScopedKey.from_str(f"{KEY}-o-c-p\n")
