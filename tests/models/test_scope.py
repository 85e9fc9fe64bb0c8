import pytest

from alchemiscale_like.errors import InvalidScope
from alchemiscale_like.models import Scope, ScopedKey

KEY = "Transformation-0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("org-camp-proj", ("org", "camp", "proj")),
        ("org-camp-*", ("org", "camp", "*")),
        ("org-*-*", ("org", "*", "*")),
        ("org", ("org", "*", "*")),
        ("*-*-*", ("*", "*", "*")),
        ("my_org-c_2-P3", ("my_org", "c_2", "P3")),
    ],
)
def test_scope_parses_and_formats(text, fields):
    scope = Scope.from_str(text)
    assert scope.to_tuple() == fields
    assert Scope.from_str(str(scope)) == scope


@pytest.mark.parametrize(
    "text",
    ["*-camp-proj", "org-*-proj", "*-*-proj", "a-b-c-d", "", "org--proj", "or g-a-b", "o.g-a-b"],
)
def test_invalid_scopes_are_refused(text):
    with pytest.raises(InvalidScope):
        Scope.from_str(text)


def test_none_fields_are_wildcards():
    assert Scope(org="o", campaign=None, project=None) == Scope.from_str("o-*-*")


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [
        ("*-*-*", "a-b-c", True),
        ("a-*-*", "a-b-c", True),
        ("a-b-*", "a-b-c", True),
        ("a-b-c", "a-b-c", True),
        ("a-b-c", "a-b-d", False),
        ("a-*-*", "b-b-c", False),
        ("a-b-c", "a-b-*", False),
        ("a-b-*", "a-*-*", False),
        ("a-*-*", "a-b-*", True),
    ],
)
def test_is_superset(outer, inner, expected):
    assert Scope.from_str(outer).is_superset(Scope.from_str(inner)) is expected


def test_scoped_key_round_trip():
    sk = ScopedKey.from_str(f"{KEY}-org-camp-proj")
    assert sk.gufe_key == KEY
    assert sk.scope == Scope.from_str("org-camp-proj")
    assert sk.qualname == "Transformation"
    assert str(sk) == f"{KEY}-org-camp-proj"
    assert ScopedKey.from_key(KEY, sk.scope) == sk
    assert len({sk, ScopedKey.from_str(str(sk))}) == 1


@pytest.mark.parametrize(
    "text",
    [
        f"{KEY}-org-camp-*",  # scoped keys need a specific scope
        f"{KEY}-org-camp",
        "Transformation-xyz-org-camp-proj",
        f"{KEY}-org-camp-proj-extra",
        "../../etc-0123456789abcdef0123456789abcdef-a-b-c",
    ],
)
def test_bad_scoped_keys_are_refused(text):
    with pytest.raises(InvalidScope):
        ScopedKey.from_str(text)


def test_scoped_key_needs_specific_scope():
    with pytest.raises(InvalidScope):
        ScopedKey.from_key(KEY, Scope.from_str("org-*-*"))
