"""Protocols shipped with alchemiscale-like."""

from alchemiscale_like.protocols.harmonic_ti import (
    HarmonicTIProtocol,
    HarmonicTIResult,
    HarmonicTISettings,
    analytic_free_energy,
)

__all__ = [
    "HarmonicTIProtocol",
    "HarmonicTIResult",
    "HarmonicTISettings",
    "analytic_free_energy",
]
