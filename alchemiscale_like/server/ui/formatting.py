"""Template filters: ages, times, sizes and short keys as people read them."""

from __future__ import annotations

import datetime as dt

from alchemiscale_like.models.scope import ScopedKey


def age(seconds: float) -> str:
    """``12 s``, ``4 min``, ``3.2 h`` or ``2.0 d``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def seconds(value: float | None) -> str:
    """A duration: ``0.42 s``, ``12.3 s``, or a dash when unknown."""
    if value is None:
        return "\u2013"
    return f"{value:.2f} s" if value < 10 else age(value)


def when(moment: dt.datetime | None) -> str:
    """A UTC timestamp to the second."""
    if moment is None:
        return "\u2013"
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def short_key(key: ScopedKey | str) -> str:
    """``ClassName-1a2b3c4d…``: enough of a key to tell rows apart."""
    text = key.gufe_key if isinstance(key, ScopedKey) else str(key)
    name, _, digest = text.partition("-")
    return f"{name}-{digest[:8]}…" if digest else text


def human_size(size: int) -> str:
    """Bytes in B, KiB, MiB or GiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
