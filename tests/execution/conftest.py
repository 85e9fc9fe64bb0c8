"""Execution fixtures: executors in a temporary folder and small transformations."""

from pathlib import Path

import pytest

from alchemiscale_like.execution.dag_executor import DAGExecutor
from alchemiscale_like.execution.fetcher import FileFetcher
from alchemiscale_like.execution.unit_executor import UnitExecutor
from alchemiscale_like.models import ChemicalSystem, SmallMoleculeComponent, Transformation


def make_system(k: float) -> ChemicalSystem:
    return ChemicalSystem(
        components={
            "ligand": SmallMoleculeComponent(smiles="C", properties={"spring_constant": k}),
        }
    )


def make_transformation(protocol) -> Transformation:
    return Transformation(stateA=make_system(1.0), stateB=make_system(2.0), protocol=protocol)


@pytest.fixture
def unit_executor(tmp_path: Path) -> UnitExecutor:
    return UnitExecutor(
        tmp_path / "work", tmp_path / "checkpoints", FileFetcher(tmp_path / "cache")
    )


def dag_executor(tmp_path: Path, model: str = "inprocess", **kwargs) -> DAGExecutor:
    ue = UnitExecutor(tmp_path / "work", tmp_path / "checkpoints", FileFetcher(tmp_path / "cache"))
    return DAGExecutor(ue, model=model, **kwargs)
