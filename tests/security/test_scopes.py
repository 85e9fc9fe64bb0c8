"""Authorization rules over scopes: examples, then properties over random scope sets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alchemiscale_like.errors import InvalidScope
from alchemiscale_like.models.scope import Scope
from alchemiscale_like.security.scopes import (
    intersection,
    parse_scopes,
    permits,
    visible_scopes,
)


def scopes(*texts: str) -> list[Scope]:
    return [Scope.from_str(text) for text in texts]


def S(text: str) -> Scope:
    return Scope.from_str(text)


def test_parse_scopes_canonicalizes_and_drops_duplicates():
    assert parse_scopes(["o", "o-*-*", "o-c-p", "o-c"]) == scopes("o-*-*", "o-c-p", "o-c-*")
    assert parse_scopes([]) == []


@pytest.mark.parametrize("bad", ["*-c-p", "o-*-p", "", "a-b-c-d", "o c"])
def test_parse_scopes_refuses_bad_scopes(bad):
    with pytest.raises(InvalidScope):
        parse_scopes(["o-c-p", bad])


@pytest.mark.parametrize(
    ("held", "target", "expected"),
    [
        (["o-*-*"], "o-c-p", True),
        (["o-c-*"], "o-c-p", True),
        (["o-c-p"], "o-c-p", True),
        (["*-*-*"], "x-y-z", True),
        (["o-c-p"], "o-c-q", False),
        (["o-c-*"], "o-d-p", False),
        (["o-*-*"], "p-c-p", False),
        (["o2-*-*"], "o-c-p", False),
        ([], "o-c-p", False),
        (["x-*-*", "o-c-p"], "o-c-p", True),
        # A wildcard target is permitted only when held whole.
        (["o-c-p"], "o-c-*", False),
        (["o-*-*"], "o-c-*", True),
    ],
)
def test_permits(held, target, expected):
    assert permits(scopes(*held), S(target)) is expected


@pytest.mark.parametrize(
    ("held", "requested", "expected"),
    [
        (["o-*-*"], "o-c-*", ["o-c-*"]),
        (["o-c-p"], "*-*-*", ["o-c-p"]),
        (["o-c-p"], None, ["o-c-p"]),
        (["o-c-p"], "x-*-*", []),
        (["o-c-p"], "o-c-q", []),
        ([], "*-*-*", []),
        (["o-*-*", "o-c-p"], "*-*-*", ["o-*-*"]),
        (["o-*-*", "o-c-p"], "o-c-*", ["o-c-*"]),
        (["a-*-*", "b-c-*", "z-y-x"], None, ["a-*-*", "b-c-*", "z-y-x"]),
        (["b-c-*", "a-*-*"], "b-*-*", ["b-c-*"]),
        (["*-*-*"], "o-c-p", ["o-c-p"]),
    ],
)
def test_visible_scopes(held, requested, expected):
    asked = None if requested is None else S(requested)
    assert visible_scopes(scopes(*held), asked) == scopes(*expected)


def test_intersection():
    assert intersection(S("o-*-*"), S("o-c-p")) == S("o-c-p")
    assert intersection(S("o-c-p"), S("o-*-*")) == S("o-c-p")
    assert intersection(S("o-c-*"), S("o-d-*")) is None


# Few distinct names, so random scopes often nest or coincide.
_field = st.sampled_from(["a", "b"])


@st.composite
def any_scope(draw: st.DrawFn) -> Scope:
    depth = draw(st.integers(min_value=0, max_value=3))
    fields = [draw(_field) for _ in range(depth)] + ["*"] * (3 - depth)
    return Scope(org=fields[0], campaign=fields[1], project=fields[2])


@st.composite
def specific_scope(draw: st.DrawFn) -> Scope:
    return Scope(org=draw(_field), campaign=draw(_field), project=draw(_field))


held_scopes = st.lists(any_scope(), max_size=5)


@given(held_scopes, st.one_of(st.none(), any_scope()), specific_scope())
def test_visible_scopes_are_exactly_the_permitted_part_of_the_request(held, requested, target):
    visible = visible_scopes(held, requested)
    in_request = (requested or Scope()).is_superset(target)
    # An object shows up in the query iff it is requested and the identity may touch it.
    assert permits(visible, target) == (in_request and permits(held, target))


@given(held_scopes, st.one_of(st.none(), any_scope()))
def test_every_visible_scope_is_permitted_and_requested(held, requested):
    for part in visible_scopes(held, requested):
        assert permits(held, part)
        assert (requested or Scope()).is_superset(part)


@given(held_scopes, st.one_of(st.none(), any_scope()))
def test_visible_scopes_are_minimal_and_sorted(held, requested):
    visible = visible_scopes(held, requested)
    assert visible == sorted(set(visible), key=str)
    for first in visible:
        for second in visible:
            assert first == second or not first.is_superset(second)


@given(held_scopes, specific_scope())
def test_everything_visible_means_held(held, target):
    # Asking for everything gives back a minimal cover of what the identity holds.
    assert permits(visible_scopes(held, None), target) == permits(held, target)


@given(any_scope(), any_scope(), specific_scope())
def test_intersection_contains_exactly_the_common_objects(first, second, target):
    common = intersection(first, second)
    both = first.is_superset(target) and second.is_superset(target)
    assert (common is not None and common.is_superset(target)) == both
