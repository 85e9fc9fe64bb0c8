"""gufe-style models: tokenization, scopes, components, protocol objects, networks. No I/O."""

from alchemiscale_like.models.components import (
    ChemicalSystem,
    Component,
    ProteinComponent,
    SmallMoleculeComponent,
    SolventComponent,
)
from alchemiscale_like.models.context import Context
from alchemiscale_like.models.protocol import Protocol, ProtocolResult, ProtocolSettings
from alchemiscale_like.models.protocoldag import ProtocolDAG, ProtocolDAGResult
from alchemiscale_like.models.protocolunit import (
    ProtocolUnit,
    ProtocolUnitFailure,
    ProtocolUnitResult,
)
from alchemiscale_like.models.resultfile import ResultFile, validate_file_name
from alchemiscale_like.models.scope import Scope, ScopedKey
from alchemiscale_like.models.tokenization import Tokenizable
from alchemiscale_like.models.transformation import (
    AlchemicalNetwork,
    NonTransformation,
    Transformation,
)
from alchemiscale_like.models.verify import VerifiedEntry, verify_keyed_chain

__all__ = [
    "AlchemicalNetwork",
    "ChemicalSystem",
    "Component",
    "Context",
    "NonTransformation",
    "ProteinComponent",
    "Protocol",
    "ProtocolDAG",
    "ProtocolDAGResult",
    "ProtocolResult",
    "ProtocolSettings",
    "ProtocolUnit",
    "ProtocolUnitFailure",
    "ProtocolUnitResult",
    "ResultFile",
    "Scope",
    "ScopedKey",
    "SmallMoleculeComponent",
    "SolventComponent",
    "Tokenizable",
    "Transformation",
    "VerifiedEntry",
    "validate_file_name",
    "verify_keyed_chain",
]
