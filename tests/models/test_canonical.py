"""The one canonical JSON: what keys are hashed from and what the object store stores."""

from __future__ import annotations

import math

import pytest

from alchemiscale_like.errors import ValidationError
from alchemiscale_like.models import canonical, tokenization


def test_it_is_one_function() -> None:
    # The historical import path keeps working and is the same function.
    assert tokenization.canonical_json is canonical.canonical_json


def test_sorted_compact_utf8() -> None:
    text = canonical.canonical_json({"b": [1, 2.5, None], "a": "benzène ✓", "c": {"z": True}})
    assert text == '{"a":"benzène ✓","b":[1,2.5,null],"c":{"z":true}}'.encode()


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused(number: float) -> None:
    with pytest.raises(ValidationError, match="not canonical JSON"):
        canonical.canonical_json({"x": [number]})


@pytest.mark.parametrize("value", [{1}, b"x", object(), {("a", "b"): 1}, {1: "a", "b": 2}])
def test_values_that_are_not_json_are_refused(value: object) -> None:
    with pytest.raises(ValidationError, match="not canonical JSON"):
        canonical.canonical_json({"v": value})


def test_deep_nesting_is_a_validation_error() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValidationError, match="nests too deeply"):
        canonical.canonical_json(deep)
