"""Logging in and managing identities, on every state-store backend."""

from __future__ import annotations

import datetime as dt

import pytest

from alchemiscale_like.errors import (
    AlreadyExists,
    AuthenticationFailed,
    InvalidScope,
    NotFound,
    ValidationError,
)
from alchemiscale_like.security.identity import IdentityKind
from alchemiscale_like.security.keys import generate_key, needs_rehash, verify_key
from alchemiscale_like.services import identities
from alchemiscale_like.services.identities import MAX_KEY_LENGTH
from alchemiscale_like.storage.statestore.records import IdentityRecord

KEY = "alice-key-0123456789abcdef"
NOW = dt.datetime.now(dt.UTC)


def add(statestore, identifier="alice", key=KEY, scopes=("o-c-p",), kind="user", **kw):
    return identities.add_identity(statestore, kind, identifier, key, scopes, **kw)


def wrong_credentials(statestore, identifier, key, kind="user") -> str:
    with pytest.raises(AuthenticationFailed) as info:
        identities.authenticate(statestore, kind, identifier, key)
    return str(info.value)


def test_authenticate_returns_the_identity(statestore):
    add(statestore, scopes=("o-c-p", "x"))
    got = identities.authenticate(statestore, "user", "alice", KEY)
    assert got.identifier == "alice"
    assert got.kind == IdentityKind.USER
    assert got.scopes == ("o-c-p", "x-*-*")


def test_stored_key_is_an_argon2id_hash(statestore):
    record = add(statestore)
    assert KEY not in record.hashed_key
    assert record.hashed_key.startswith("$argon2id$")
    assert verify_key(KEY, statestore.get_identity("user", "alice").hashed_key)


def test_wrong_key_and_unknown_identifier_get_the_same_message(statestore):
    add(statestore)
    wrong_key = wrong_credentials(statestore, "alice", KEY + "x")
    unknown = wrong_credentials(statestore, "bob", KEY)
    impossible = wrong_credentials(statestore, "not an identifier!", KEY)
    assert wrong_key == unknown == impossible
    assert "alice" not in wrong_key
    assert KEY not in wrong_key


@pytest.mark.parametrize("key", ["", None, 42, "k" * (MAX_KEY_LENGTH + 1)])
def test_malformed_keys_get_the_same_message(statestore, key):
    add(statestore)
    assert wrong_credentials(statestore, "alice", key) == wrong_credentials(
        statestore, "alice", KEY + "x"
    )


def test_kinds_are_separate(statestore):
    add(statestore, kind="user")
    wrong_credentials(statestore, "alice", KEY, kind="compute")
    add(statestore, key="compute-key-0123456789", kind=IdentityKind.COMPUTE)
    assert identities.authenticate(statestore, "compute", "alice", "compute-key-0123456789")
    wrong_credentials(statestore, "alice", KEY, kind="compute")


def test_disabled_identity_is_refused_only_with_the_right_key(statestore):
    add(statestore)
    identities.set_disabled(statestore, "user", "alice", True)
    with pytest.raises(AuthenticationFailed, match="'alice' is disabled"):
        identities.authenticate(statestore, "user", "alice", KEY)
    # Without the key nobody learns that the identity exists and is disabled.
    assert "disabled" not in wrong_credentials(statestore, "alice", KEY + "x")
    identities.set_disabled(statestore, "user", "alice", False)
    assert identities.authenticate(statestore, "user", "alice", KEY).disabled is False


def test_expired_identity_is_refused(statestore):
    expires = NOW + dt.timedelta(days=1)
    add(statestore, expires=expires)
    assert identities.authenticate(statestore, "user", "alice", KEY, now=NOW).expires == expires
    just_before = expires - dt.timedelta(seconds=1)
    assert identities.authenticate(statestore, "user", "alice", KEY, now=just_before)
    with pytest.raises(AuthenticationFailed, match="'alice' expired at"):
        identities.authenticate(statestore, "user", "alice", KEY, now=expires)
    with pytest.raises(AuthenticationFailed, match="expired"):
        identities.authenticate(statestore, "user", "alice", KEY, now=NOW + dt.timedelta(days=2))
    assert "expired" not in wrong_credentials(statestore, "alice", KEY + "x")


def test_the_dummy_hash_costs_what_a_real_one_does():
    # Unknown identifiers are verified against this hash, so it must use today's
    # argon2 parameters: otherwise the time of a refusal would tell them apart.
    dummy = identities._dummy_hash()
    assert dummy.startswith("$argon2id$")
    assert not needs_rehash(dummy)


def test_authenticate_refuses_a_bad_kind(statestore):
    with pytest.raises(ValidationError, match="identity kind"):
        identities.authenticate(statestore, "admin", "alice", KEY)


def test_removed_identity_can_no_longer_log_in(statestore):
    add(statestore)
    identities.remove_identity(statestore, "user", "alice")
    wrong_credentials(statestore, "alice", KEY)
    with pytest.raises(NotFound):
        identities.remove_identity(statestore, "user", "alice")


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"identifier": "bad identifier!"}, ValidationError),
        ({"identifier": "alice\n"}, ValidationError),
        ({"scopes": ("*-c-p",)}, InvalidScope),
        ({"scopes": "o-c-p"}, ValidationError),
        ({"key": "short"}, ValidationError),
        ({"key": "k" * (MAX_KEY_LENGTH + 1)}, ValidationError),
        ({"kind": "admin"}, ValidationError),
        ({"expires": dt.datetime(2099, 1, 1)}, ValidationError),  # naive on purpose
        ({"expires": NOW - dt.timedelta(seconds=1)}, ValidationError),
    ],
)
def test_add_refuses_bad_input_and_stores_nothing(statestore, kw, error):
    with pytest.raises(error):
        add(statestore, **kw)
    assert identities.list_identities(statestore, "user") == []


def test_add_refuses_a_taken_identifier_and_keeps_the_old_key(statestore):
    add(statestore)
    with pytest.raises(AlreadyExists):
        add(statestore, key=generate_key(), scopes=("*-*-*",))
    got = identities.authenticate(statestore, "user", "alice", KEY)
    assert got.scopes == ("o-c-p",)


def test_list_identities_by_kind(statestore):
    add(statestore, "bob")
    add(statestore, "alice")
    add(statestore, "carol", kind="compute")
    assert [r.identifier for r in identities.list_identities(statestore, "user")] == [
        "alice",
        "bob",
    ]
    assert [r.identifier for r in identities.list_identities(statestore, "compute")] == ["carol"]


def test_add_and_remove_scopes(statestore):
    add(statestore)
    updated = identities.add_scopes(statestore, "user", "alice", ["x", "o-c-p", "o-d-*"])
    assert updated.scopes == ("o-c-p", "o-d-*", "x-*-*")
    assert statestore.get_identity("user", "alice").scopes == updated.scopes
    updated = identities.remove_scopes(statestore, "user", "alice", ["x-*-*", "o-c-p"])
    assert updated.scopes == ("o-d-*",)
    assert identities.authenticate(statestore, "user", "alice", KEY).scopes == ("o-d-*",)


def test_scope_changes_refuse_bad_input_and_change_nothing(statestore):
    add(statestore)
    with pytest.raises(InvalidScope):
        identities.add_scopes(statestore, "user", "alice", ["x-*-*", "*-c-p"])
    with pytest.raises(ValidationError, match="does not hold q-\\*-\\*"):
        identities.remove_scopes(statestore, "user", "alice", ["o-c-p", "q"])
    with pytest.raises(ValidationError, match="at least one scope"):
        identities.add_scopes(statestore, "user", "alice", [])
    with pytest.raises(ValidationError, match="at least one scope"):
        identities.remove_scopes(statestore, "user", "alice", [])
    with pytest.raises(ValidationError):
        identities.add_scopes(statestore, "user", "alice", "x-*-*")
    assert statestore.get_identity("user", "alice").scopes == ("o-c-p",)
    with pytest.raises(NotFound):
        identities.add_scopes(statestore, "user", "bob", ["x"])
    with pytest.raises(NotFound):
        identities.set_disabled(statestore, "user", "bob", True)
    with pytest.raises(ValidationError):
        identities.set_disabled(statestore, "user", "alice", "yes")
    assert statestore.get_identity("user", "alice").disabled is False


def test_ensure_active_is_the_rule_for_tokens_too():
    record = IdentityRecord(kind="user", identifier="alice", hashed_key="$argon2id$x")
    assert identities.ensure_active(record) is record
    expires = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    expiring = record.model_copy(update={"expires": expires})
    assert identities.ensure_active(expiring, now=expires - dt.timedelta(seconds=1))
    with pytest.raises(AuthenticationFailed, match="'alice' expired at 2030-01-01T00:00:00"):
        identities.ensure_active(expiring, now=expires)
    # A backend that drops the time zone stores UTC: compare as UTC, never as local time.
    naive = record.model_copy(update={"expires": expires.replace(tzinfo=None)})
    with pytest.raises(AuthenticationFailed, match="expired"):
        identities.ensure_active(naive, now=expires)
    assert identities.ensure_active(naive, now=expires - dt.timedelta(seconds=1))
    with pytest.raises(AuthenticationFailed, match="'alice' is disabled"):
        identities.ensure_active(record.model_copy(update={"disabled": True}))
