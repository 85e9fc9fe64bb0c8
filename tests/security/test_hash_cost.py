"""Production hashes keys at full argon2id cost; the suite's cheaper hasher changes nothing else.

The suite swaps in the cheapest argon2id parameters in its own process (see
``tests/conftest.py``); these tests pin what production uses, and that keys
hashed at either cost verify under the other (each hash carries its parameters).
"""

from __future__ import annotations

from argon2 import Type, extract_parameters

from alchemiscale_like.security import keys

KEY = "a-key-of-at-least-16-chars"


def test_production_hashes_with_argon2id_at_full_cost() -> None:
    hasher = keys.PRODUCTION_HASHER
    assert hasher.type is Type.ID
    assert hasher.time_cost >= 3
    assert hasher.memory_cost >= 64 * 1024  # KiB
    assert hasher.parallelism >= 1
    params = extract_parameters(hasher.hash(KEY))
    assert (params.type, params.time_cost, params.memory_cost) == (
        Type.ID,
        hasher.time_cost,
        hasher.memory_cost,
    )


def test_a_full_cost_hash_verifies_in_the_suite_and_a_cheap_one_in_production() -> None:
    full = keys.PRODUCTION_HASHER.hash(KEY)
    assert keys.verify_key(KEY, full)
    assert not keys.verify_key(KEY + "x", full)
    cheap = keys.hash_key(KEY)
    assert keys.PRODUCTION_HASHER.verify(cheap, KEY)
