"""``max_time``: a subprocess service leaves before its walltime, and its task lives on.

The task's one unit outlasts any walltime on its first attempt (it finishes only once
resumed; see :class:`~tests.compute.helper_protocols.OutlastUnit`), so the service must
interrupt it. The walltime is an hour and the stop point (``max_time - stop_margin``) a
few seconds in: a service that waited for the unit or for its walltime would still run
when :data:`~tests.compute.service_processes.WAIT` (minutes) ends, failing the test long
before the hour. Nothing here depends on how fast the machine is.
"""

from __future__ import annotations

from pathlib import Path

from alchemiscale_like.models import (
    AlchemicalNetwork,
    ChemicalSystem,
    SmallMoleculeComponent,
    Transformation,
)
from alchemiscale_like.models.task import TaskStatus
from tests.compute.conftest import Tenant
from tests.compute.helper_protocols import MODULE, OutlastProtocol, OutlastSettings
from tests.compute.service_processes import Service, make_service, running

WALLTIME = 3600.0
#: Seconds from the service's start to its stop point. It must have started the unit by
#: then; one that did not (a slow start on a busy machine) must still leave cleanly,
#: holding nothing, and the next try leaves more time.
STOP_AFTER = (8.0, 16.0, 32.0, 64.0)
SETTINGS = OutlastSettings(seconds=0.05, chunks_after_resume=3)
MODULE_PROTOCOL = OutlastProtocol.__name__


def outlast_network() -> AlchemicalNetwork:
    systems = [
        ChemicalSystem(
            name=f"outlast-{i}",
            components={"ligand": SmallMoleculeComponent(name=f"o{i}", smiles="C" * (i + 1))},
        )
        for i in range(2)
    ]
    protocol = OutlastProtocol(settings=SETTINGS)
    edge = Transformation(stateA=systems[0], stateB=systems[1], protocol=protocol, name="outlast")
    return AlchemicalNetwork(edges=[edge], nodes=systems, name="outlast")


def service(tenant: Tenant, tmp_path: Path, name: str, **settings: object) -> Service:
    return make_service(
        tmp_path,
        name,
        api_url=tenant.deployment.compute_url,
        identifier=tenant.compute,
        key=tenant.compute_key,
        modules=[MODULE],
        stop_grace=0.0,
        **settings,
    )


def test_max_time_releases_the_task_and_exits_before_the_walltime(
    tenant: Tenant, tmp_path: Path
) -> None:
    user = tenant.user_client()
    network_sk = user.create_network(outlast_network(), tenant.scope)
    (transformation,) = user.get_network_transformations(network_sk)
    (task,) = user.create_tasks(transformation)
    user.action_tasks([task], network_sk)

    for attempt, stop_after in enumerate(STOP_AFTER):
        first = service(
            tenant,
            tmp_path,
            f"walltime{attempt}",
            max_time=WALLTIME,
            stop_margin=WALLTIME - stop_after,
        )
        with running(first):
            assert first.wait() == 0, first.tail()
        # Whatever it got to before its stop point, it left cleanly and holds nothing.
        (started,) = first.events("service_start")
        assert MODULE_PROTOCOL in started["protocols"].split(","), started
        assert len(first.events("deregistered")) == 1, first.tail()
        assert user.get_tasks_status([task]) == [TaskStatus.WAITING], first.tail()
        claimed = [e["task"] for e in first.events("claim")]
        assert [e["task"] for e in first.events("release")] == claimed, first.tail()
        assert first.events("task_done") == []
        if first.events("unit_start"):
            break
    else:
        raise AssertionError(f"no service started the unit before its stop point {STOP_AFTER}")

    # It claimed the task, interrupted the unit in flight at its checkpoint, uploaded the
    # checkpoint and gave the task back at once (no lease expiry needed).
    assert claimed == [str(task)]
    assert first.events("unit_stop_requested"), first.tail()
    assert first.events("unit_stopped"), first.tail()
    assert first.events("checkpoint_uploaded"), first.tail()
    assert user.get_task_results(task) == []

    # Another service, without a walltime, resumes the unit from that checkpoint.
    second = service(tenant, tmp_path, "resumer")
    with running(second):
        assert second.wait() == 0, second.tail()
    assert user.get_tasks_status([task]) == [TaskStatus.COMPLETE], second.tail()
    assert second.events("checkpoint_restored"), second.tail()
    (ref,) = user.get_task_results(task)
    (unit_result,) = user.get_task_result(task, ref.key).protocol_unit_results
    resumed_at = unit_result.outputs["resumed_at"]
    assert isinstance(resumed_at, int)
    assert resumed_at >= 1
    assert unit_result.outputs["chunks"] == resumed_at + SETTINGS.chunks_after_resume
