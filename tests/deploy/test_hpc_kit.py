"""The HPC kit (top-level ``compute/``): templates that parse, and run-services.sh's rules.

The job templates are checked with ``bash -n`` and, for HTCondor (not installed here), by
a parser of submit files. run-services.sh's walltime and configuration rules run in bash
itself. ``test_slurm_job.py`` runs the Slurm template against real test servers.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

import alchemiscale_like.compute
from alchemiscale_like.compute.settings import ComputeServiceSettings
from tests.deploy.kit import (
    KIT,
    RUN_SERVICES,
    SHELL_FILES,
    bash_function,
    clean_env,
    parse_submit,
)


def directives(name: str, prefix: str) -> list[str]:
    """The scheduler directives (``#SBATCH ...``) of a template, without the prefix."""
    return [
        line[len(prefix) :].strip()
        for line in (KIT / name).read_text().splitlines()
        if line.startswith(prefix + " ")
    ]


# -- the templates ------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHELL_FILES)
def test_shell_template_is_valid_bash(name: str) -> None:
    checked = subprocess.run(
        ["bash", "-n", str(KIT / name)], capture_output=True, text=True, timeout=30, check=False
    )
    assert checked.returncode == 0, checked.stderr


def test_bash_n_rejects_a_broken_script(tmp_path: Path) -> None:
    # The check above means something only if bash -n fails on a syntax error.
    broken = tmp_path / "broken.sh"
    broken.write_text((KIT / "slurm.sbatch").read_text().replace("done", "", 1))
    checked = subprocess.run(["bash", "-n", str(broken)], capture_output=True, timeout=30)
    assert checked.returncode != 0


def test_slurm_template_asks_one_node_a_walltime_and_a_batch_signal() -> None:
    found = directives("slurm.sbatch", "#SBATCH")
    assert "--nodes=1" in found
    assert any(re.fullmatch(r"--ntasks=[1-9]\d*", d) for d in found)
    assert any(re.fullmatch(r"--time=[\d:-]+", d) for d in found)
    # B: signals the batch shell alone, which forwards one SIGTERM per service.
    assert any(re.fullmatch(r"--signal=B:USR1@\d+", d) for d in found)


def test_pbs_template_asks_a_walltime() -> None:
    found = directives("pbs.pbs", "#PBS")
    assert any(re.fullmatch(r"-l walltime=\d+:\d\d:\d\d", d) for d in found)


def test_lsf_walltime_repeats_the_run_limit() -> None:
    """LSF exports no walltime: the template's ALCHEMISCALE_LIKE_WALLTIME must equal -W."""
    found = directives("lsf.bsub", "#BSUB")
    (limit,) = [d.split()[1] for d in found if d.startswith("-W ")]
    hours, minutes = limit.split(":") if ":" in limit else ("0", limit)
    match = re.search(
        r"ALCHEMISCALE_LIKE_WALLTIME=\$\{ALCHEMISCALE_LIKE_WALLTIME:-([^}]+)\}",
        (KIT / "lsf.bsub").read_text(),
    )
    assert match is not None
    seconds = bash_function("duration_seconds", match.group(1))
    assert seconds.returncode == 0, seconds.stderr
    assert int(seconds.stdout) == int(hours) * 3600 + int(minutes) * 60
    assert "-wa USR1" in found


def test_htcondor_submit_file_has_what_the_job_needs() -> None:
    commands, queues = parse_submit((KIT / "htcondor.sub").read_text())
    for key in (
        "universe",
        "executable",
        "arguments",
        "transfer_input_files",
        "request_cpus",
        "request_memory",
        "kill_sig",
        "allowed_execute_duration",
        "environment",
        "output",
        "error",
        "log",
    ):
        assert commands.get(key), f"htcondor.sub has no {key}"
    assert commands["universe"] == "vanilla"
    assert commands["executable"] == "htcondor-job.sh"
    assert (KIT / commands["executable"]).is_file()
    transferred = [f.strip() for f in commands["transfer_input_files"].split(",")]
    assert "run-services.sh" in transferred
    assert all((KIT / name).is_file() for name in transferred)
    assert commands["kill_sig"] == "SIGTERM"
    environment = dict(item.split("=", 1) for item in commands["environment"].strip('"').split())
    # One walltime for both: the limit HTCondor enforces and the one the services leave by.
    assert environment["ALCHEMISCALE_LIKE_WALLTIME"] == commands["allowed_execute_duration"]
    assert int(environment["ALCHEMISCALE_LIKE_WALLTIME"]) > 0
    assert int(environment["ALCHEMISCALE_LIKE_SERVICES_PER_NODE"]) >= 1
    assert queues
    assert re.fullmatch(r"queue( \d+)?", queues[-1])


def test_submit_parser_rejects_what_condor_submit_would() -> None:
    with pytest.raises(ValueError, match="not a submit command"):
        parse_submit("executable htcondor-job.sh\nqueue\n")


def test_example_service_yaml_is_valid_with_what_the_kit_sets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The kit hands these variables to each service: they must be real settings fields.
    monkeypatch.setenv("ALCHEMISCALE_LIKE_COMPUTE_SERVICE_SUFFIX", "node1-4242-1")
    monkeypatch.setenv("ALCHEMISCALE_LIKE_COMPUTE_SCRATCH_DIR", str(tmp_path))
    monkeypatch.setenv("ALCHEMISCALE_LIKE_COMPUTE_MAX_TIME", "3540")
    monkeypatch.setenv("ALCHEMISCALE_LIKE_COMPUTE_LOG_FILE", str(tmp_path / "s.log"))
    settings = ComputeServiceSettings.load(KIT / "service.yaml")
    assert settings.service_suffix == "node1-4242-1"
    assert settings.scratch_dir == tmp_path
    assert settings.max_time == 3540.0
    assert settings.log_file == tmp_path / "s.log"
    assert settings.stop_margin is not None
    assert settings.stop_margin > 0


def test_kit_folder_is_no_python_package() -> None:
    # Top-level compute/ must never shadow alchemiscale_like.compute or be collected.
    assert not list(KIT.rglob("*.py"))
    assert Path(alchemiscale_like.compute.__file__).parent.name == "compute"
    assert Path(alchemiscale_like.compute.__file__).parents[1].name == "alchemiscale_like"


# -- run-services.sh: durations and walltime sources --------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("43200", 43200),
        ("90.7", 90),
        ("12:00:00", 43200),
        ("59:58", 3598),
        ("1-02:03:04", 93784),
        ("0-00:00:09", 9),
        ("11h30m", 41400),
        ("1d", 86400),
        ("45s", 45),
        ("2h5s", 7205),
        ("08:09:07", 29347),  # leading zeros are decimal, not octal
    ],
)
def test_duration_formats(text: str, seconds: int) -> None:
    parsed = bash_function("duration_seconds", text)
    assert parsed.returncode == 0, parsed.stderr
    assert int(parsed.stdout) == seconds


@pytest.mark.parametrize(
    "text", ["", "UNLIMITED", "NOT_SET", "soon", "-5", "1-02:03", "1:2:3:4", "11h30", "1.5h"]
)
def test_duration_rejects(text: str) -> None:
    parsed = bash_function("duration_seconds", text)
    assert parsed.returncode != 0
    assert parsed.stdout == ""


def walltime(env: dict[str, str]) -> tuple[int, str]:
    code = 'find_walltime && echo "$WALLTIME_LEFT $WALLTIME_SOURCE"'
    found = bash_function("eval", code, env=env)
    assert found.returncode == 0, found.stderr
    left, source = found.stdout.split()
    return int(left), source


def test_explicit_walltime_wins_over_the_scheduler() -> None:
    env = {"ALCHEMISCALE_LIKE_WALLTIME": "2h", "SLURM_JOB_END_TIME": "4000000000"}
    assert walltime(env) == (7200, "ALCHEMISCALE_LIKE_WALLTIME")
    before = int(time.time())
    left, source = walltime(env | {"ALCHEMISCALE_LIKE_JOB_END_TIME": str(before + 1000)})
    after = int(time.time())
    assert source == "ALCHEMISCALE_LIKE_JOB_END_TIME"
    assert before + 1000 - after <= left <= 1000


def test_scheduler_walltime_sources() -> None:
    before = int(time.time())
    left, source = walltime({"SLURM_JOB_ID": "7", "SLURM_JOB_END_TIME": str(before + 500)})
    after = int(time.time())
    assert source == "SLURM_JOB_END_TIME"
    assert before + 500 - after <= left <= 500
    assert walltime({"PBS_JOBID": "7.pbs", "PBS_WALLTIME": "3600"}) == (3600, "PBS_WALLTIME")


def test_no_walltime_source_sets_nothing() -> None:
    # Inside a Slurm job without SLURM_JOB_END_TIME and without squeue (as here).
    found = bash_function("find_walltime", env={"SLURM_JOB_ID": "7"})
    assert found.returncode == 1
    assert found.stdout == ""


@pytest.mark.parametrize(
    ("args", "env", "count"),
    [
        ([], {}, 1),
        ([], {"SLURM_NTASKS": "3", "SLURM_JOB_NUM_NODES": "1"}, 3),
        ([], {"SLURM_NTASKS": "4", "SLURM_NTASKS_PER_NODE": "2"}, 2),
        ([], {"ALCHEMISCALE_LIKE_SERVICES_PER_NODE": "5", "SLURM_NTASKS": "2"}, 5),
        (["7"], {"ALCHEMISCALE_LIKE_SERVICES_PER_NODE": "5"}, 7),
        # An explicit count is taken as it is on a multi-node job (the first node runs them).
        ([], {"ALCHEMISCALE_LIKE_SERVICES_PER_NODE": "2", "SLURM_JOB_NUM_NODES": "3"}, 2),
    ],
)
def test_service_count(args: list[str], env: dict[str, str], count: int) -> None:
    found = bash_function("service_count", *args, env=env)
    assert found.returncode == 0, found.stderr
    assert int(found.stdout) == count


def test_service_suffixes_are_safe_and_bounded() -> None:
    made = bash_function("service_suffix", "node 1.example/org-4242[3]-1796115743", "12")
    assert made.stdout.strip() == "node-1.example-org-4242-3--1796115743-12"
    long = bash_function("service_suffix", "n" * 100, "3").stdout.strip()
    assert len(long) == 64
    assert long.endswith("-3")
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", long)


# -- run-services.sh: bad configuration stops it before any service starts --------------------


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["-c", "missing.yaml"], {}, "no readable service config"),
        (["-n", "0"], {}, "number of services"),
        (["-n", "many"], {}, "number of services"),
        ([], {"ALCHEMISCALE_LIKE_SERVICES_PER_NODE": "257"}, "number of services"),
        ([], {"SLURM_NTASKS": "4", "SLURM_JOB_NUM_NODES": "2"}, "use --nodes=1"),
        ([], {"SLURM_NTASKS_PER_NODE": "2", "SLURM_JOB_NUM_NODES": "2"}, "use --nodes=1"),
        ([], {"ALCHEMISCALE_LIKE_WALLTIME": "soon"}, "ALCHEMISCALE_LIKE_WALLTIME must"),
        ([], {"ALCHEMISCALE_LIKE_JOB_END_TIME": "tomorrow"}, "JOB_END_TIME must"),
        ([], {"ALCHEMISCALE_LIKE_WALLTIME": "50"}, "not more than the 60s reserve"),
        ([], {"ALCHEMISCALE_LIKE_WALLTIME_RESERVE": "1m"}, "RESERVE must be whole seconds"),
        ([], {"ALCHEMISCALE_LIKE_COMMAND": "/nonexistent/cli"}, "is not on PATH"),
        (["--bogus"], {}, "unknown argument"),
    ],
)
def test_bad_configuration_exits_2_and_starts_nothing(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    (tmp_path / "service.yaml").write_text("identifier: worker\n")
    scratch = tmp_path / "scratch"
    ran = subprocess.run(
        ["bash", str(RUN_SERVICES), *args],
        env=clean_env(ALCHEMISCALE_LIKE_SCRATCH_BASE=str(scratch), **env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 2, ran.stderr
    assert "event=config_error" in ran.stderr
    assert message in ran.stderr
    assert "event=service_started" not in ran.stderr
    assert not scratch.exists()
