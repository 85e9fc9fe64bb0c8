"""Canonical JSON: the one encoding that keys are hashed from and the object store stores.

``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``, UTF-8
(design.md, Models). NaN and infinities are refused: they are not JSON, and
values that need them go through the tagged codecs of :mod:`.codecs` first.
"""

from __future__ import annotations

import json
from typing import Any

from alchemiscale_like.errors import ValidationError


def canonical_json(obj: Any) -> bytes:
    """The canonical JSON bytes of a JSON-native value (sorted keys, compact, UTF-8).

    Raises:
        ValidationError: ``obj`` holds something JSON cannot encode (a set, bytes, an
            arbitrary object, NaN or an infinity), or nests too deeply to encode.
    """
    try:
        text = json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"value is not canonical JSON: {exc}") from exc
    except RecursionError:
        raise ValidationError("value nests too deeply to be encoded as JSON") from None
    return text.encode("utf-8")
