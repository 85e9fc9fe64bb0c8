"""Codecs: exact, JSON-only encodings of values JSON cannot hold natively.

An encoded value is a tagged dict ``{":codec:": <name>, ...}``. Supported:
numpy arrays (any non-object dtype, any shape), numpy scalars, ``datetime``,
``Path``, ``UUID`` and ``bytes``. Round trips are exact (arrays and scalars keep
dtype, byte order and shape; datetimes keep microseconds and UTC offset).
Non-finite Python floats are encoded too, because canonical JSON forbids NaN.

Plain dicts may not use the reserved keys ``:codec:`` or ``:key:``: they would be
ambiguous, so encoding them is refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any
from uuid import UUID

import numpy as np

from alchemiscale_like.errors import ValidationError
from alchemiscale_like.models.limits import check_depth

CODEC_TAG = ":codec:"
KEY_TAG = ":key:"
RESERVED_KEYS = frozenset({CODEC_TAG, KEY_TAG})


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValidationError("codec payload must be a base64 string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValidationError(f"invalid base64 in codec payload: {exc}") from exc


def _dtype(text: Any) -> np.dtype[Any]:
    if not isinstance(text, str):
        raise ValidationError("numpy dtype must be a string")
    try:
        dtype = np.dtype(text)
    except TypeError as exc:
        raise ValidationError(f"invalid numpy dtype {text!r}") from exc
    if dtype.hasobject:
        raise ValidationError("numpy object arrays are not supported")
    return dtype


def _encode_ndarray(value: np.ndarray[Any, Any]) -> dict[str, Any]:
    if value.dtype.hasobject:
        raise ValidationError("numpy object arrays cannot be encoded")
    return {
        CODEC_TAG: "ndarray",
        "dtype": value.dtype.str,
        "shape": list(value.shape),
        "data": _b64(np.ascontiguousarray(value).tobytes()),
    }


def _decode_ndarray(obj: dict[str, Any]) -> np.ndarray[Any, Any]:
    dtype = _dtype(obj.get("dtype"))
    shape = obj.get("shape")
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValidationError("ndarray shape must be a list of non-negative integers")
    data = _unb64(obj.get("data"))
    count = math.prod(shape)
    if len(data) != count * dtype.itemsize:
        raise ValidationError("ndarray data length does not match its shape and dtype")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _encode_npscalar(value: np.generic) -> dict[str, Any]:
    return {CODEC_TAG: "npscalar", "dtype": value.dtype.str, "data": _b64(value.tobytes())}


def _decode_npscalar(obj: dict[str, Any]) -> np.generic:
    dtype = _dtype(obj.get("dtype"))
    data = _unb64(obj.get("data"))
    if len(data) != dtype.itemsize:
        raise ValidationError("npscalar data length does not match its dtype")
    return np.frombuffer(data, dtype=dtype)[0]  # type: ignore[no-any-return]


def _decode_datetime(obj: dict[str, Any]) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(obj["value"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError("invalid datetime codec payload") from exc


def _decode_float(obj: dict[str, Any]) -> float:
    value = obj.get("value")
    if value not in ("nan", "inf", "-inf"):
        raise ValidationError("float codec holds only 'nan', 'inf' or '-inf'")
    return float(value)


def _decode_str_field(build: Callable[[str], Any]) -> Callable[[dict[str, Any]], Any]:
    def decode(obj: dict[str, Any]) -> Any:
        value = obj.get("value")
        if not isinstance(value, str):
            raise ValidationError("codec value must be a string")
        try:
            return build(value)
        except ValueError as exc:
            raise ValidationError(f"invalid codec value {value!r}") from exc

    return decode


_DECODERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "ndarray": _decode_ndarray,
    "npscalar": _decode_npscalar,
    "datetime": _decode_datetime,
    "path": _decode_str_field(Path),
    "uuid": _decode_str_field(UUID),
    "bytes": lambda obj: _unb64(obj.get("value")),
    "float": _decode_float,
}

#: Extra tagged types (e.g. ResultFile) register here: name -> (type, encode, decode).
_EXTRA: dict[
    str, tuple[type, Callable[[Any], dict[str, Any]], Callable[[dict[str, Any]], Any]]
] = {}


def register_codec(
    name: str,
    cls: type,
    encode: Callable[[Any], dict[str, Any]],
    decode: Callable[[dict[str, Any]], Any],
) -> None:
    """Register a tagged encoding for ``cls`` (used by :class:`ResultFile`)."""
    _EXTRA[name] = (cls, encode, decode)


def has_codec(value: Any) -> bool:
    """True if ``value`` is an instance of a type registered with :func:`register_codec`."""
    return any(isinstance(value, cls) for cls, _, _ in _EXTRA.values())


def encode_value(value: Any) -> Any:
    """Encode a scalar value that JSON cannot hold; return other values unchanged.

    Containers are not walked here; :func:`to_jsonable` does that.
    """
    if isinstance(value, np.generic):  # before float: np.float64 subclasses float
        return _encode_npscalar(value)
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {CODEC_TAG: "float", "value": repr(value)}
    if isinstance(value, np.ndarray):
        return _encode_ndarray(value)
    if isinstance(value, dt.datetime):
        return {CODEC_TAG: "datetime", "value": value.isoformat()}
    if isinstance(value, PurePath):
        return {CODEC_TAG: "path", "value": str(value)}
    if isinstance(value, UUID):
        return {CODEC_TAG: "uuid", "value": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {CODEC_TAG: "bytes", "value": _b64(bytes(value))}
    for name, (cls, encode, _) in _EXTRA.items():
        if isinstance(value, cls):
            return {CODEC_TAG: name, **encode(value)}
    raise ValidationError(f"cannot encode a value of type {type(value).__name__} as JSON")


def check_dict_key(key: Any) -> str:
    """Return ``key`` if it may be a JSON object key here (a string, not reserved)."""
    if not isinstance(key, str):
        raise ValidationError(f"dict keys must be strings, got {type(key).__name__}")
    if key in RESERVED_KEYS:
        raise ValidationError(f"dict key {key!r} is reserved")
    return key


def to_jsonable(value: Any) -> Any:
    """Recursively encode ``value`` into JSON-native types (dicts, lists, str, numbers)."""
    if isinstance(value, dict):
        return {check_dict_key(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    return encode_value(value)


def from_jsonable(value: Any) -> Any:
    """Inverse of :func:`to_jsonable`: decode every tagged dict, recursively.

    Raises:
        ValidationError: a malformed or unknown codec, or nesting deeper than
            :data:`~alchemiscale_like.models.limits.MAX_NESTING`.
    """
    check_depth(value, what="encoded value")
    return _decode(value)


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if CODEC_TAG in value:
            name = value[CODEC_TAG]
            if name in _DECODERS:
                return _DECODERS[name](value)
            if name in _EXTRA:
                return _EXTRA[name][2](value)
            raise ValidationError(f"unknown codec {name!r}")
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value
