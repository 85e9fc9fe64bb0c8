"""The scalar result summary: what counts as an estimate, and how estimates combine."""

import math

import numpy as np
import pytest

from alchemiscale_like.errors import ValidationError
from alchemiscale_like.models.estimate import (
    ResultEstimate,
    combine_estimates,
    estimate_from_data,
)
from alchemiscale_like.models.protocol import ProtocolResult


def test_an_estimate_is_read_from_protocol_result_data():
    result = ProtocolResult(
        data={"estimate": np.float64(-2.5), "uncertainty": -0.25, "units": "kT"}
    )
    assert result.to_estimate() == ResultEstimate(estimate=-2.5, uncertainty=0.25, units="kT")
    assert result.get_units() == "kT"


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"estimate": None},
        {"estimate": True},
        {"estimate": "1.0x"},
        {"estimate": [1.0]},
        {"estimate": math.nan},
        {"estimate": math.inf},
    ],
)
def test_no_finite_number_is_no_estimate(data):
    assert estimate_from_data(data) is None


def test_odd_uncertainty_and_units_are_dropped_not_fatal():
    got = estimate_from_data({"estimate": 1, "uncertainty": "big", "units": "k\nT"})
    assert got == ResultEstimate(estimate=1.0)


@pytest.mark.parametrize(
    "fields",
    [
        {"estimate": math.inf},
        {"estimate": 1.0, "uncertainty": -1.0},
        {"estimate": 1.0, "uncertainty": math.nan},
        {"estimate": 1.0, "units": "kT\n"},
        {"estimate": 1.0, "units": ""},
        {"estimate": 1.0, "units": "x" * 33},
        {"estimate": 1.0, "extra": 2},
    ],
)
def test_invalid_estimates_are_refused(fields):
    with pytest.raises((ValidationError, ValueError)):
        ResultEstimate(**fields)


def test_combining_takes_the_mean_and_its_standard_error():
    combined = combine_estimates(
        [
            ResultEstimate(estimate=1.0, uncertainty=0.3, units="kT"),
            ResultEstimate(estimate=2.0, uncertainty=0.4, units="kT"),
        ]
    )
    assert combined == ResultEstimate(estimate=1.5, uncertainty=0.25, units="kT")


def test_combining_drops_what_not_every_estimate_states():
    combined = combine_estimates(
        [ResultEstimate(estimate=1.0, uncertainty=0.3, units="kT"), ResultEstimate(estimate=3.0)]
    )
    assert combined == ResultEstimate(estimate=2.0)
    assert combine_estimates([]) is None
