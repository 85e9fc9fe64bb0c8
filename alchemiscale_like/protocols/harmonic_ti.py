"""`HarmonicTIProtocol`: thermodynamic integration between two harmonic wells.

Each end state holds one SmallMoleculeComponent whose ``properties`` carry a
``spring_constant`` k; the molecule is modelled as a particle in a
``d``-dimensional harmonic well ``U(x) = k |x|^2 / 2``. The free energy
difference from A to B has a closed form,

    dG = (d / 2) kT ln(kB / kA),

and TI estimates it by sampling ``U_lambda = (1 - lambda) U_A + lambda U_B``
with Metropolis Monte Carlo at Gauss-Legendre lambda nodes and integrating
``<dU/dlambda> = <(kB - kA) |x|^2 / 2>``. Other components (solvent, protein)
must be identical in both states: they cancel.

DAG: one setup unit -> ``n_repeats x n_lambda`` sampling units -> one analysis
unit. Sampling units save their dU/dlambda samples as ``.npy`` result files and
checkpoint (positions, RNG state, samples so far) every ``checkpoint_interval``
steps, continuing from the checkpoint when one is present.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from pydantic import Field

from alchemiscale_like.errors import UnitInterrupted, ValidationError
from alchemiscale_like.models.components import ChemicalSystem, SmallMoleculeComponent
from alchemiscale_like.models.context import Context
from alchemiscale_like.models.protocol import Protocol, ProtocolResult, ProtocolSettings
from alchemiscale_like.models.protocoldag import ProtocolDAGResult
from alchemiscale_like.models.protocolunit import ProtocolUnit, ProtocolUnitResult


class HarmonicTISettings(ProtocolSettings):
    """Settings of :class:`HarmonicTIProtocol` (energies in units of kT)."""

    kT: float = Field(default=1.0, gt=0)
    dimensions: int = Field(default=3, ge=1, le=64)
    n_lambda: int = Field(default=6, ge=2, le=64)
    n_repeats: int = Field(default=3, ge=1, le=1000)
    n_walkers: int = Field(default=64, ge=2, le=100_000)
    n_equilibration: int = Field(default=500, ge=0)
    n_steps: int = Field(default=5_000, ge=1)
    sample_interval: int = Field(default=10, ge=1)
    step_scale: float = Field(default=1.2, gt=0)
    checkpoint_interval: int = Field(default=1_000, ge=1)


def spring_constant(system: ChemicalSystem) -> tuple[str, float]:
    """The label and spring constant of the one harmonic small molecule in ``system``."""
    found = [
        (label, c)
        for label, c in system.components.items()
        if isinstance(c, SmallMoleculeComponent) and "spring_constant" in c.properties
    ]
    if len(found) != 1:
        raise ValidationError(
            "HarmonicTIProtocol needs exactly one SmallMoleculeComponent with a "
            f"'spring_constant' property in each state; "
            f"{system.name or system.key} has {len(found)}"
        )
    label, component = found[0]
    k = component.properties["spring_constant"]
    if not isinstance(k, (int, float)) or isinstance(k, bool) or not k > 0:
        raise ValidationError(f"spring_constant must be a positive number, got {k!r}")
    return label, float(k)


def analytic_free_energy(k_a: float, k_b: float, dimensions: int, kT: float = 1.0) -> float:
    """The exact free energy difference dG(A -> B) of the two harmonic wells."""
    return 0.5 * dimensions * kT * math.log(k_b / k_a)


class HarmonicSetupUnit(ProtocolUnit):
    """Validate the end states and lay out the lambda schedule."""

    def _execute(
        self,
        ctx: Context,
        *,
        stateA: ChemicalSystem,
        stateB: ChemicalSystem,
        settings: dict[str, Any],
    ) -> dict[str, Any]:
        s = HarmonicTISettings.model_validate(settings)
        label_a, k_a = spring_constant(stateA)
        label_b, k_b = spring_constant(stateB)
        rest_a = {k: v.key for k, v in stateA.components.items() if k != label_a}
        rest_b = {k: v.key for k, v in stateB.components.items() if k != label_b}
        if rest_a != rest_b:
            raise ValidationError("components other than the harmonic molecule must be identical")
        nodes, weights = np.polynomial.legendre.leggauss(s.n_lambda)
        return {
            "k_a": k_a,
            "k_b": k_b,
            "lambdas": [float(x) for x in (nodes + 1) / 2],
            "weights": [float(w) for w in weights / 2],
            "analytic_dG": analytic_free_energy(k_a, k_b, s.dimensions, s.kT),
        }


class HarmonicSamplingUnit(ProtocolUnit):
    """Metropolis Monte Carlo of ``n_walkers`` independent walkers at one lambda."""

    def _execute(
        self,
        ctx: Context,
        *,
        setup: ProtocolUnitResult,
        settings: dict[str, Any],
        window: int,
        repeat: int,
        seed: int,
        initial_positions: list[list[float]] | None = None,
    ) -> dict[str, Any]:
        s = HarmonicTISettings.model_validate(settings)
        lam = setup.outputs["lambdas"][window]
        k_a, k_b = setup.outputs["k_a"], setup.outputs["k_b"]
        k_lam = (1 - lam) * k_a + lam * k_b
        step = s.step_scale * math.sqrt(s.kT / k_lam)
        total = s.n_equilibration + s.n_steps
        restored = ctx.restore_checkpoint()
        if restored is not None:
            # One whole generation: the state and the samples were saved together.
            state = json.loads((restored / "state.json").read_text())
            rng = np.random.Generator(np.random.PCG64())
            rng.bit_generator.state = state["rng"]
            x = np.asarray(state["x"], dtype=np.float64)
            done, accepted = int(state["step"]), int(state["accepted"])
            samples = list(np.load(restored / "samples.npy")) if state["n_samples"] else []
        else:
            rng = np.random.Generator(
                np.random.PCG64(np.random.SeedSequence([seed, repeat, window]))
            )
            if initial_positions is not None:
                x = np.asarray(initial_positions, dtype=np.float64)
            else:
                x = np.zeros((s.n_walkers, s.dimensions))
            done, accepted, samples = 0, 0, []
        energy = 0.5 * k_lam * np.einsum("ij,ij->i", x, x)
        while done < total:
            chunk_end = min(total, (done // s.checkpoint_interval + 1) * s.checkpoint_interval)
            for i in range(done, chunk_end):
                trial = x + step * rng.standard_normal(x.shape)
                trial_energy = 0.5 * k_lam * np.einsum("ij,ij->i", trial, trial)
                accept = rng.random(len(x)) < np.exp(-(trial_energy - energy) / s.kT)
                x[accept] = trial[accept]
                energy[accept] = trial_energy[accept]
                accepted += int(accept.sum())
                if i >= s.n_equilibration and (i - s.n_equilibration) % s.sample_interval == 0:
                    samples.append(0.5 * (k_b - k_a) * np.einsum("ij,ij->i", x, x))
            done = chunk_end
            if done < total:
                with ctx.save_checkpoint() as folder:
                    if samples:
                        np.save(folder / "samples.npy", np.asarray(samples))
                    state = {
                        "x": x.tolist(),
                        "rng": rng.bit_generator.state,
                        "step": done,
                        "accepted": accepted,
                        "n_samples": len(samples),
                    }
                    (folder / "state.json").write_text(json.dumps(state))
                if ctx.should_stop():
                    raise UnitInterrupted(f"stopped after step {done} of {total} (checkpointed)")
        dudl = np.asarray(samples)
        out_file = ctx.permanent / f"dudl_r{repeat}_w{window}.npy"
        np.save(out_file, dudl)
        per_walker = dudl.mean(axis=0)
        return {
            "window": window,
            "repeat": repeat,
            "lambda": lam,
            "dudl_file": out_file,
            "mean": float(per_walker.mean()),
            "stderr": float(per_walker.std(ddof=1) / math.sqrt(len(per_walker))),
            "acceptance": accepted / (total * len(x)),
            "final_positions": x.tolist(),
        }


def window_statistics(dudl: np.ndarray[Any, Any]) -> tuple[float, float]:
    """Mean of dU/dlambda and its standard error from ``(n_samples, n_walkers)`` samples.

    Walkers are independent chains, so the spread of their time averages gives an
    honest standard error without modelling autocorrelation.
    """
    per_walker = dudl.mean(axis=0)
    return float(per_walker.mean()), float(per_walker.std(ddof=1) / math.sqrt(len(per_walker)))


class HarmonicAnalysisUnit(ProtocolUnit):
    """Integrate <dU/dlambda> over lambda for each repeat, from the sample files."""

    def _execute(
        self,
        ctx: Context,
        *,
        setup: ProtocolUnitResult,
        sampling: list[ProtocolUnitResult],
    ) -> dict[str, Any]:
        weights = setup.outputs["weights"]
        by_repeat: dict[int, dict[int, tuple[float, float]]] = {}
        for result in sampling:
            dudl = np.load(ctx.fetch(result.outputs["dudl_file"]))
            by_repeat.setdefault(result.outputs["repeat"], {})[result.outputs["window"]] = (
                window_statistics(dudl)
            )
        repeats = []
        for repeat, windows in sorted(by_repeat.items()):
            dg = sum(weights[w] * m for w, (m, _) in windows.items())
            var = sum((weights[w] * se) ** 2 for w, (_, se) in windows.items())
            repeats.append({"repeat": repeat, "dG": dg, "uncertainty": math.sqrt(var)})
        estimate, uncertainty = combine_repeats(repeats)
        return {
            "dG": estimate,
            "dG_uncertainty": uncertainty,
            "repeats": repeats,
            "analytic_dG": setup.outputs["analytic_dG"],
        }


def combine_repeats(repeats: list[dict[str, float]]) -> tuple[float, float]:
    """Mean of independent repeat estimates and its standard error."""
    n = len(repeats)
    estimate = sum(r["dG"] for r in repeats) / n
    uncertainty = math.sqrt(sum(r["uncertainty"] ** 2 for r in repeats)) / n
    return estimate, uncertainty


class HarmonicTIResult(ProtocolResult):
    """Gathered estimate: ``data`` holds ``estimate``, ``uncertainty``, ``repeats``."""


class HarmonicTIProtocol(Protocol):
    """Thermodynamic integration between harmonic wells; see the module docstring."""

    settings: HarmonicTISettings
    result_cls = HarmonicTIResult

    @classmethod
    def default_settings(cls) -> HarmonicTISettings:
        """Defaults: 6 lambda nodes, 3 repeats, 64 walkers, 5,000 steps per window."""
        return HarmonicTISettings()

    def _create(
        self,
        stateA: ChemicalSystem,
        stateB: ChemicalSystem,
        mapping: dict[str, Any] | None,
        extends: ProtocolDAGResult | None,
        seed: int,
    ) -> list[ProtocolUnit]:
        spring_constant(stateA)
        spring_constant(stateB)
        settings = self.settings.model_dump()
        setup = HarmonicSetupUnit(
            name="setup", inputs={"stateA": stateA, "stateB": stateB, "settings": settings}
        )
        starts = _final_positions(extends) if extends is not None else {}
        sampling = [
            HarmonicSamplingUnit(
                name=f"sampling repeat {repeat} window {window}",
                inputs={
                    "setup": setup,
                    "settings": settings,
                    "window": window,
                    "repeat": repeat,
                    "seed": seed,
                    "initial_positions": starts.get((repeat, window)),
                },
            )
            for repeat in range(self.settings.n_repeats)
            for window in range(self.settings.n_lambda)
        ]
        analysis = HarmonicAnalysisUnit(
            name="analysis", inputs={"setup": setup, "sampling": sampling}
        )
        return [setup, *sampling, analysis]

    def _gather(self, dag_results: list[ProtocolDAGResult]) -> dict[str, Any]:
        repeats: list[dict[str, float]] = []
        analytic = None
        for dag_result in dag_results:
            for result in dag_result.terminal_protocol_unit_results:
                repeats.extend(result.outputs["repeats"])
                analytic = result.outputs["analytic_dG"]
        if not repeats:
            return {"estimate": None, "uncertainty": None, "repeats": [], "analytic": None}
        estimate, uncertainty = combine_repeats(repeats)
        return {
            "estimate": estimate,
            "uncertainty": uncertainty,
            "repeats": repeats,
            "analytic": analytic,
            "units": "kT",
        }


def _final_positions(extends: ProtocolDAGResult) -> dict[tuple[int, int], list[list[float]]]:
    if not extends.ok():
        raise ValidationError("can only extend a successful ProtocolDAGResult")
    return {
        (r.outputs["repeat"], r.outputs["window"]): r.outputs["final_positions"]
        for r in extends.unit_to_result().values()
        if "final_positions" in r.outputs
    }
