"""Deeply nested input is refused with a ValidationError, never a RecursionError."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alchemiscale_like.errors import ValidationError
from alchemiscale_like.models import SmallMoleculeComponent, Tokenizable, verify_keyed_chain
from alchemiscale_like.models.codecs import from_jsonable
from alchemiscale_like.models.keyedchain import from_keyed_chain, parse_json
from alchemiscale_like.models.limits import MAX_NESTING, check_depth

DEEP = 5_000


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"x": value}
    return value


def _deep_chain(levels: int) -> list[Any]:
    component = SmallMoleculeComponent(name="ligand", smiles="C")
    keyed = component.to_keyed_dict()
    keyed["properties"] = _nested(levels)
    return [[component.key, keyed]]


def _deep_text(levels: int) -> str:
    # Built as text: json.dumps itself cannot encode this without recursing.
    inner = '{"x":' * levels + "{}" + "}" * levels
    component = SmallMoleculeComponent(name="ligand", smiles="C")
    keyed = json.dumps(component.to_keyed_dict())
    return f'[["{component.key}", {keyed[:-1]}, "deep": {inner}}}]]'


def test_verify_refuses_deep_properties_with_the_limit_in_the_message() -> None:
    with pytest.raises(ValidationError, match=f"limit of {MAX_NESTING} levels"):
        verify_keyed_chain(_deep_chain(DEEP))


def test_decoding_refuses_deep_properties() -> None:
    with pytest.raises(ValidationError, match=f"limit of {MAX_NESTING} levels"):
        from_keyed_chain(_deep_chain(DEEP))


@pytest.mark.parametrize("levels", [DEEP, 200_000])
def test_from_json_refuses_deep_text(levels: int) -> None:
    with pytest.raises(ValidationError, match=f"limit of {MAX_NESTING} levels"):
        Tokenizable.from_json(_deep_text(levels))
    with pytest.raises(ValidationError, match=f"limit of {MAX_NESTING} levels"):
        parse_json(_deep_text(levels))


def test_codecs_refuse_deep_values() -> None:
    with pytest.raises(ValidationError, match=f"limit of {MAX_NESTING} levels"):
        from_jsonable(_nested(DEEP))


def test_nesting_up_to_the_limit_still_round_trips() -> None:
    # Chain list + entry list + keyed dict + properties: three levels above the properties.
    component = SmallMoleculeComponent(
        name="ligand", smiles="C", properties=_nested(MAX_NESTING - 4)
    )
    assert SmallMoleculeComponent.from_json(component.to_json()) == component


def test_check_depth_counts_containers() -> None:
    check_depth([[[]]], limit=3)
    with pytest.raises(ValidationError):
        check_depth([[[[]]]], limit=3)
    check_depth("scalar", limit=0)
