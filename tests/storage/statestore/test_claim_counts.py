"""The claim-rate rule both backends keep: two one-minute buckets, a sliding estimate."""

import datetime as dt

from alchemiscale_like.storage.statestore.records import ClaimCounter
from alchemiscale_like.storage.statestore.rules import (
    claims_last_minute,
    count_claims,
    epoch_minute,
)

MINUTE = dt.datetime(2026, 12, 1, 12, 30, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return MINUTE + dt.timedelta(seconds=seconds)


def test_claims_in_one_minute_add_up():
    counter = count_claims(ClaimCounter(), 2, at(5))
    counter = count_claims(counter, 3, at(50))
    assert counter == ClaimCounter(
        total=5, minute=epoch_minute(MINUTE), this_minute=5, last_minute=0
    )
    assert claims_last_minute(counter, at(59)) == 5


def test_the_previous_minute_fades_out():
    counter = count_claims(ClaimCounter(), 6, at(30))
    counter = count_claims(counter, 2, at(75))  # next minute
    assert (counter.this_minute, counter.last_minute, counter.total) == (2, 6, 8)
    # 15 s into the new minute, 45 s of the previous one are still in the window.
    assert claims_last_minute(counter, at(75)) == 2 + 6 * 0.75


def test_a_quiet_service_counts_down_to_zero():
    counter = count_claims(ClaimCounter(), 4, at(10))
    assert claims_last_minute(counter, at(90)) == 4 * 0.5
    assert claims_last_minute(counter, at(120)) == 0.0
    later = count_claims(counter, 1, at(200))  # two minutes on: both buckets start over
    assert (later.this_minute, later.last_minute, later.total) == (1, 0, 5)
