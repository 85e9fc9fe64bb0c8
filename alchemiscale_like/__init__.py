"""alchemiscale-like: a checkpointing protocol-DAG compute service.

The public contract (see design.md) is importable from here.
"""

from importlib.metadata import PackageNotFoundError, version

from alchemiscale_like.client import ComputeClient, UserClient
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

try:
    __version__ = version("alchemiscale-like")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "AlchemicalNetwork",
    "AlchemiscaleLikeError",
    "ChemicalSystem",
    "ComputeClient",
    "NonTransformation",
    "ProteinComponent",
    "Scope",
    "ScopedKey",
    "SmallMoleculeComponent",
    "SolventComponent",
    "Transformation",
    "UserClient",
    "__version__",
]
