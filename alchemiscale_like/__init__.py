"""alchemiscale-like: a checkpointing protocol-DAG compute service.

The public contract (see design.md) is importable from here.
"""

from alchemiscale_like.errors import AlchemiscaleLikeError
from alchemiscale_like.models import (
    AlchemicalNetwork,
    ChemicalSystem,
    NonTransformation,
    ProteinComponent,
    Scope,
    ScopedKey,
    SmallMoleculeComponent,
    SolventComponent,
    Transformation,
)

__version__ = "0.1.0"

__all__ = [
    "AlchemicalNetwork",
    "AlchemiscaleLikeError",
    "ChemicalSystem",
    "NonTransformation",
    "ProteinComponent",
    "Scope",
    "ScopedKey",
    "SmallMoleculeComponent",
    "SolventComponent",
    "Transformation",
    "__version__",
]
