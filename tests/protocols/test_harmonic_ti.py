import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from alchemiscale_like.errors import ValidationError
from alchemiscale_like.execution.checkpoints import CheckpointFolder
from alchemiscale_like.execution.fetcher import FileFetcher
from alchemiscale_like.execution.unit_executor import UnitExecutor
from alchemiscale_like.models import (
    ChemicalSystem,
    ProteinComponent,
    SmallMoleculeComponent,
    Transformation,
)
from alchemiscale_like.protocols import (
    HarmonicTIProtocol,
    HarmonicTISettings,
    analytic_free_energy,
)
from alchemiscale_like.protocols.harmonic_ti import HarmonicSamplingUnit
from tests.execution.conftest import dag_executor, make_system

FAST = HarmonicTISettings(
    n_lambda=5,
    n_repeats=2,
    n_walkers=48,
    n_steps=1500,
    n_equilibration=200,
    checkpoint_interval=500,
)


def transformation(settings=FAST, k_a=1.0, k_b=2.5) -> Transformation:
    return Transformation(
        stateA=make_system(k_a),
        stateB=make_system(k_b),
        protocol=HarmonicTIProtocol(settings=settings),
    )


def test_dag_shape():
    dag = transformation().create(seed=1)
    names = [u.name for u in dag.ordered_units()]
    assert names[0] == "setup"
    assert names[-1] == "analysis"
    assert len(names) == 2 + FAST.n_lambda * FAST.n_repeats


@pytest.mark.parametrize(("k_a", "k_b", "dims"), [(1.0, 2.5, 3), (4.0, 1.0, 1), (1.0, 8.0, 2)])
def test_estimate_agrees_with_analytic_value(tmp_path, k_a, k_b, dims):
    settings = FAST.model_copy(update={"dimensions": dims})
    t = transformation(settings, k_a, k_b)
    result = dag_executor(tmp_path).execute(t.create(seed=3))
    assert result.ok()
    gathered = t.gather([result])
    exact = analytic_free_energy(k_a, k_b, dims)
    assert gathered.data["analytic"] == pytest.approx(exact)
    assert gathered.get_uncertainty() > 0
    assert abs(gathered.get_estimate() - exact) < 4 * gathered.get_uncertainty()


def test_identical_states_give_exactly_zero(tmp_path):
    t = transformation(FAST, 2.0, 2.0)
    gathered = t.gather([dag_executor(tmp_path).execute(t.create(seed=3))])
    assert gathered.get_estimate() == 0.0
    assert gathered.get_uncertainty() == 0.0


def test_gather_combines_repeats_across_dag_results(tmp_path):
    t = transformation()
    results = [dag_executor(tmp_path / str(s)).execute(t.create(seed=s)) for s in (1, 2)]
    one = t.gather(results[:1])
    both = t.gather(results)
    assert len(one.data["repeats"]) == FAST.n_repeats
    assert len(both.data["repeats"]) == 2 * FAST.n_repeats
    assert both.n_protocol_dag_results == 2
    assert both.get_uncertainty() < one.get_uncertainty()
    assert abs(both.get_estimate() - both.data["analytic"]) < 4 * both.get_uncertainty()


def test_gather_ignores_failed_dag_results():
    assert transformation().gather([]).get_estimate() is None


def test_extends_starts_from_previous_final_positions(tmp_path):
    t = transformation()
    first = dag_executor(tmp_path / "a").execute(t.create(seed=1))
    dag2 = t.create(extends=first, seed=2)
    assert dag2.extends_key == first.key
    sampling = [u for u in dag2.protocol_units if isinstance(u, HarmonicSamplingUnit)]
    finals = {
        (r.outputs["repeat"], r.outputs["window"]): r.outputs["final_positions"]
        for r in first.protocol_unit_results
        if "final_positions" in r.outputs
    }
    for unit in sampling:
        assert (
            unit.inputs["initial_positions"]
            == finals[(unit.inputs["repeat"], unit.inputs["window"])]
        )
    assert dag_executor(tmp_path / "b").execute(dag2).ok()


def test_bad_states_are_refused():
    plain = ChemicalSystem(components={"x": SmallMoleculeComponent(smiles="C")})
    with pytest.raises(ValidationError, match="spring_constant"):
        Transformation(
            stateA=plain, stateB=make_system(1.0), protocol=HarmonicTIProtocol(settings=FAST)
        ).create()
    negative = make_system(-1.0)
    with pytest.raises(ValidationError, match="positive"):
        transformation().protocol.create(stateA=negative, stateB=make_system(1.0))


def test_setup_refuses_different_spectators(tmp_path):
    a = make_system(1.0)
    b = ChemicalSystem(
        components={**make_system(2.0).components, "protein": ProteinComponent(sequence="MK")}
    )
    t = Transformation(stateA=a, stateB=b, protocol=HarmonicTIProtocol(settings=FAST))
    result = dag_executor(tmp_path).execute(t.create(seed=1))
    assert not result.ok()
    assert "identical" in result.protocol_unit_failures[0].exception[1]


_KILLABLE = """
import sys, json
from pathlib import Path
from alchemiscale_like.execution.fetcher import FileFetcher
from alchemiscale_like.execution.unit_executor import UnitExecutor
from alchemiscale_like.models import ProtocolUnit, ProtocolUnitResult
import alchemiscale_like.protocols
root = Path(sys.argv[1])
unit = ProtocolUnit.from_json((root / "unit.json").read_text())
setup = ProtocolUnitResult.from_json((root / "setup.json").read_text())
ex = UnitExecutor(root / "work", root / "checkpoints", FileFetcher(root / "cache"))
ex.run(unit, {setup.source_key: setup}, attempt=1)
"""


def checkpointed_state(unit_folder: Path) -> dict | None:
    """The state.json of the unit's committed checkpoint generation, or None."""
    try:
        generation = CheckpointFolder(unit_folder).current()
        if generation is None:
            return None
        return json.loads((generation.folder / "state.json").read_text())
    except FileNotFoundError:  # a newer generation replaced it while we looked
        return None


def test_sampling_unit_continues_from_its_checkpoint(tmp_path):
    settings = FAST.model_copy(
        update={"n_steps": 60_000, "checkpoint_interval": 2_000, "n_walkers": 8, "n_repeats": 1}
    )
    dag = transformation(settings).create(seed=9)
    setup_unit, sampling_unit = dag.ordered_units()[:2]
    ref = UnitExecutor(tmp_path / "ref", tmp_path / "ref-ck", FileFetcher(tmp_path / "ref-cache"))
    setup = ref.run(setup_unit, {}, 1).result
    uninterrupted = ref.run(sampling_unit, {setup.source_key: setup}, 1).result

    root = tmp_path / "killed"
    root.mkdir()
    (root / "unit.json").write_text(sampling_unit.to_json())
    (root / "setup.json").write_text(setup.to_json())
    proc = subprocess.Popen([sys.executable, "-c", _KILLABLE, str(root)])
    unit_folder = root / "checkpoints" / sampling_unit.key
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = checkpointed_state(unit_folder)
        if state is not None and state["step"] >= 10_000:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    final_state = checkpointed_state(unit_folder)
    assert final_state is not None
    checkpointed_step = final_state["step"]
    total = settings.n_steps + settings.n_equilibration
    assert 10_000 <= checkpointed_step < total, "killed mid-unit, after a checkpoint"

    resumed = UnitExecutor(root / "work", root / "checkpoints", FileFetcher(root / "cache"))
    result = resumed.run(sampling_unit, {setup.source_key: setup}, 1).result
    assert result.ok()
    # Continuing from the checkpoint reproduces the uninterrupted run exactly.
    for key in ("mean", "stderr", "final_positions", "acceptance"):
        assert result.outputs[key] == uninterrupted.outputs[key]
    assert result.outputs["dudl_file"].sha256 == uninterrupted.outputs["dudl_file"].sha256
    samples = np.load(resumed.fetcher.fetch(result.outputs["dudl_file"]))
    assert samples.shape == (settings.n_steps // settings.sample_interval, settings.n_walkers)


def test_checkpoint_state_is_json(tmp_path):
    settings = FAST.model_copy(update={"n_steps": 1000, "checkpoint_interval": 300})
    dag = transformation(settings).create(seed=1)
    setup_unit, sampling_unit = dag.ordered_units()[:2]
    ex = UnitExecutor(tmp_path / "w", tmp_path / "c", FileFetcher(tmp_path / "cache"))
    setup = ex.run(setup_unit, {}, 1).result

    # Run to completion; the checkpoint folder stays until the DAG executor removes it.
    ex.run(sampling_unit, {setup.source_key: setup}, 1)
    generation = CheckpointFolder(tmp_path / "c" / sampling_unit.key).current()
    assert generation is not None
    state = json.loads((generation.folder / "state.json").read_text())
    assert set(state) == {"x", "rng", "step", "accepted", "n_samples"}
    assert set(generation.files) == {"state.json", "samples.npy"}
