import datetime as dt
import json
import math
from pathlib import Path, PurePosixPath
from uuid import UUID

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from alchemiscale_like.errors import ValidationError
from alchemiscale_like.models import ResultFile, SmallMoleculeComponent
from alchemiscale_like.models.codecs import from_jsonable, to_jsonable


def json_round_trip(value):
    return from_jsonable(json.loads(json.dumps(to_jsonable(value), allow_nan=False)))


dtypes = st.one_of(
    hnp.integer_dtypes(endianness="="),
    hnp.unsigned_integer_dtypes(endianness=">"),
    hnp.floating_dtypes(endianness="<"),
    hnp.floating_dtypes(endianness=">"),
    hnp.complex_number_dtypes(),
    hnp.boolean_dtypes(),
)


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(dtype=dtypes, shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
)
def test_ndarray_round_trip_is_exact(array):
    again = json_round_trip(array)
    assert again.dtype == array.dtype
    assert again.shape == array.shape
    assert again.tobytes() == array.tobytes()


@settings(max_examples=100, deadline=None)
@given(
    hnp.from_dtype(np.dtype("f8"))
    | hnp.from_dtype(np.dtype("i4"))
    | hnp.from_dtype(np.dtype("c16"))
)
def test_numpy_scalar_round_trip_is_exact(value):
    scalar = np.asarray(value)[()]
    again = json_round_trip(scalar)
    assert type(again) is type(scalar)
    assert again.tobytes() == scalar.tobytes()


@settings(max_examples=100, deadline=None)
@given(
    st.datetimes(
        timezones=st.none()
        | st.timezones().map(lambda tz: dt.timezone(dt.datetime(2020, 1, 1, tzinfo=tz).utcoffset()))
    )
)
def test_datetime_round_trip_is_exact(value):
    again = json_round_trip(value)
    assert again == value
    assert again.utcoffset() == value.utcoffset()


@settings(max_examples=100, deadline=None)
@given(
    st.binary(max_size=512),
    st.uuids(),
    st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s),
)
def test_bytes_uuid_path_round_trip(data, uuid, text):
    value = {"b": data, "u": uuid, "p": Path(text), "nested": [data, {"u": uuid}]}
    again = json_round_trip(value)
    assert again["b"] == data
    assert isinstance(again["b"], bytes)
    assert again["u"] == uuid
    assert isinstance(again["u"], UUID)
    assert again["p"] == PurePosixPath(text)
    assert again["nested"] == [data, {"u": uuid}]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_round_trip(value):
    again = json_round_trip(value)
    assert (math.isnan(again) and math.isnan(value)) or again == value


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(dtype=hnp.floating_dtypes(), shape=hnp.array_shapes(max_dims=2, max_side=4)))
def test_tokenizable_with_array_keeps_key_through_json(array):
    obj = SmallMoleculeComponent(smiles="C", properties={"a": array})
    again = SmallMoleculeComponent.from_json(obj.to_json())
    assert again.key == obj.key
    assert again.properties["a"].tobytes() == array.tobytes()


def test_result_file_round_trips():
    ref = ResultFile(name="a/b.npy", size=3, sha256="0" * 64, location="units/U-1/1/files/a/b.npy")
    assert json_round_trip({"f": ref}) == {"f": ref}


@pytest.mark.parametrize(
    "payload",
    [
        {":codec:": "pickle", "value": "x"},
        {":codec:": "ndarray", "dtype": "O", "shape": [1], "data": ""},
        {":codec:": "ndarray", "dtype": "<f8", "shape": [2], "data": "AAAA"},
        {":codec:": "ndarray", "dtype": "<f8", "shape": "x", "data": ""},
        {":codec:": "bytes", "value": "not base64!"},
        {":codec:": "datetime", "value": "yesterday"},
        {":codec:": "float", "value": "1.5"},
    ],
)
def test_bad_codec_payloads_are_refused(payload):
    with pytest.raises(ValidationError):
        from_jsonable(payload)


@pytest.mark.parametrize("value", [object(), {1: "int key"}, np.array([object()]), {1, 2}])
def test_unencodable_values_are_refused(value):
    with pytest.raises(ValidationError):
        to_jsonable(value)
