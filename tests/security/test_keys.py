import pytest

from alchemiscale_like.errors import ValidationError
from alchemiscale_like.security.keys import generate_key, hash_key, needs_rehash, verify_key


def test_hash_and_verify():
    key = generate_key()
    hashed = hash_key(key)
    assert key not in hashed
    assert hashed.startswith("$argon2id$")
    assert verify_key(key, hashed)
    assert not verify_key(key + "x", hashed)
    assert not verify_key(key, "not-a-hash")
    assert not needs_rehash(hashed)


def test_same_key_hashes_differently():
    key = generate_key()
    assert hash_key(key) != hash_key(key)


@pytest.mark.parametrize("bad", ["short", "", None, 12345])
def test_weak_keys_are_refused(bad):
    with pytest.raises(ValidationError):
        hash_key(bad)
