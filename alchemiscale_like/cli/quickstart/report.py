"""What the quickstart shows: live progress, the results table, the resume report, next steps.

On a terminal the progress is a live ``rich`` table; elsewhere (a pipe, a CI log)
one plain line per change. The final numbers are also written as JSON
(``summary.json``) for scripts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from alchemiscale_like.atomicfiles import write_atomic
from alchemiscale_like.cli.quickstart.demo import EstimateRow, SubmittedDemo, TransformationProgress
from alchemiscale_like.cli.quickstart.deployment import ADMIN_USER, DataDir
from alchemiscale_like.cli.quickstart.kill import ResumeReport
from alchemiscale_like.server.ui import UI_PATH

#: The README's "Python example" (tests/quickstart checks that the two are the same text
#: and runs it against a ``quickstart --keep-running`` server).
PYTHON_EXAMPLE = """\
import alchemiscale_like.protocols  # registers HarmonicTIProtocol: results are gathered here
from alchemiscale_like import UserClient
from alchemiscale_like.client.config import load_client_config

config = load_client_config()  # from $ALCHEMISCALE_LIKE_CONFIG: quickstart's client.yaml
with UserClient(config.api_url, config.identifier, config.key.get_secret_value()) as client:
    [network] = client.query_networks(name="harmonic-example")
    print(client.get_network_status(network))  # {'complete': 6}
    for transformation in client.get_network_transformations(network):
        name = client.get_transformation(transformation).name
        data = client.get_transformation_results(transformation).data
        print(
            f"{name}: {data['estimate']:.3f} ± {data['uncertainty']:.3f} kT"
            f" (exact {data['analytic']:.3f})"
        )
    task = client.get_transformation_tasks(transformation)[0]
    files = client.list_result_files(task)  # name, size, sha256, unit_key, attempt
    print(client.download_result_file(files[0], "."))  # streamed, sha256-verified
"""


class ProgressDisplay:
    """Per-transformation progress: a live table on a terminal, plain lines elsewhere."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._live: Live | None = None
        self._last: dict[str, tuple[int, int, int]] = {}

    def __enter__(self) -> ProgressDisplay:
        if self.console.is_terminal:
            self._live = Live(console=self.console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._live is not None:
            last = self._live.renderable
            self._live.__exit__(exc_type, exc, traceback)
            self.console.print(last)

    def update(self, rows: Sequence[TransformationProgress], status: str) -> None:
        """Show the latest progress and a one-line status (services, leases)."""
        if self._live is not None:
            self._live.update(Group(progress_table(rows), Text(status, style="dim")))
            return
        for row in rows:
            now = (row.tasks_complete, row.units_done, row.units_total)
            if self._last.get(row.name) != now:
                self._last[row.name] = now
                self.console.print(
                    f"progress {row.name}: tasks {row.tasks_complete}/{row.tasks_total} "
                    f"units {row.units_done}/{row.units_total}",
                    highlight=False,
                )

    def note(self, text: str) -> None:
        """Print a line above the live table (or in sequence with the plain lines)."""
        self.console.print(text, highlight=False)


def progress_table(rows: Sequence[TransformationProgress]) -> Table:
    """The live table: tasks complete and units done per transformation."""
    table = Table(title="HarmonicTI demo network")
    table.add_column("Transformation")
    table.add_column("Tasks complete", justify="right")
    table.add_column("Units done", justify="right")
    for row in rows:
        error = f" ({row.tasks_error} in error)" if row.tasks_error else ""
        table.add_row(
            row.name,
            f"{row.tasks_complete}/{row.tasks_total}{error}",
            f"{row.units_done}/{row.units_total}",
        )
    return table


def results_table(rows: Sequence[EstimateRow]) -> Table:
    """The final table: each transformation's estimate ± error next to its exact value."""
    table = Table(title="Free energy differences (kT)")
    table.add_column("Transformation")
    table.add_column("Estimate ± error", justify="right")
    table.add_column("Exact", justify="right")
    table.add_column("|Δ|/σ", justify="right")  # noqa: RUF001 (sigma, the error)
    table.add_column("Tasks", justify="right")
    for row in rows:
        table.add_row(
            row.name,
            f"{row.estimate:.4f} ± {row.uncertainty:.4f}",
            f"{row.exact:.4f}",
            f"{row.sigmas:.2f}",
            str(row.tasks),
        )
    return table


def short_key(key: str) -> str:
    """``ClassName-`` and the first 8 hex digits of a key (as the user CLI shows keys)."""
    name, _, digest = key.rpartition("-")
    return f"{name}-{digest[:8]}" if name else key


def print_resume_report(console: Console, report: ResumeReport) -> None:
    """Which units the surviving service reused, continued from a checkpoint, and ran."""
    kill = report.kill
    units = len(report.reused) + len(report.ran)
    claimed = (
        f"{report.survivor} claimed it {report.taken_over_after:.1f} s after the kill"
        if report.taken_over_after is not None
        else f"{report.survivor} claimed it"
    )
    console.print(
        f"\n--demo-kill: {kill.service} was SIGKILLed holding task {kill.task} "
        f"({report.transformation}) after uploading {len(kill.uploaded)} of its {units} "
        f"units; its lease expired and {claimed}.",
        highlight=False,
    )
    continued = {u.key for u in report.continued}
    table = Table(title=f"The resumed task's units: what {report.survivor} did")
    table.add_column("Unit")
    table.add_column("Key")
    table.add_column(report.survivor)
    for unit in report.reused:
        table.add_row(unit.name, short_key(unit.key), "reused, not run")
    for unit in report.ran:
        if unit.key in continued:
            how = "continued from checkpoint"
        elif unit.key in kill.in_flight:
            how = "ran (was in flight)"
        else:
            how = "ran"
        table.add_row(unit.name, short_key(unit.key), how)
    console.print(table)
    console.print(
        f"reused ({kill.service}'s results, not run again): "
        f"{', '.join(u.name for u in report.reused)}\n"
        f"ran by {report.survivor}: {', '.join(u.name for u in report.ran)}",
        highlight=False,
    )


def print_next_steps(
    console: Console, data: DataDir, demo: SubmittedDemo, *, keep_running: bool, urls: Sequence[str]
) -> None:
    """Where results, logs and configs are, and the exact commands to explore further."""
    root = data.root
    task = demo.tasks[0]
    logs = ", ".join(sorted(p.name for p in data.logs.glob("*.log")))
    console.print(
        "\nWhere things are\n"
        f"  data folder    {root}\n"
        f"  state store    {data.state_db} (SQLite)\n"
        f"  object store   {data.objects} (unit results, files, checkpoints, DAGs)\n"
        f"  summary        {data.summary}\n"
        f"  logs           {data.logs}/ ({logs})\n"
        f"  client config  {data.client_config} (the admin user's key; mode 0600)\n"
        f"  server config  {data.server_env} (stores and secrets of both APIs; mode 0600)",
        highlight=False,
        soft_wrap=True,
    )
    if keep_running:
        console.print(
            f"\nThe servers are running ({', '.join(urls)}); stop everything with\n"
            f"  alchemiscale-like quickstart --stop --data-dir {root}",
            highlight=False,
            soft_wrap=True,
        )
        console.print(
            f"\nDashboard\n  {urls[0]}{UI_PATH}/\n"
            f"  log in as {ADMIN_USER!r} with the key on the 'key:' line of {data.client_config}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(
            "\nEverything is stopped. Run 'alchemiscale-like quickstart --keep-running' to "
            "leave the servers up for the commands below.",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        "\nExplore further\n"
        f"  export ALCHEMISCALE_LIKE_CONFIG={data.client_config}\n"
        "  alchemiscale-like network list\n"
        f"  alchemiscale-like status {demo.network}\n"
        f"  alchemiscale-like results {demo.network}\n"
        f"  alchemiscale-like files list {task}\n"
        f"  alchemiscale-like files download {task} NAME ./downloads\n"
        "\nPython (with ALCHEMISCALE_LIKE_CONFIG exported as above):\n",
        highlight=False,
        soft_wrap=True,
    )
    console.print(Text(PYTHON_EXAMPLE), soft_wrap=True)


def write_summary(
    data: DataDir,
    demo: SubmittedDemo,
    rows: Sequence[EstimateRow],
    report: ResumeReport | None,
    seconds: float,
) -> None:
    """Write ``summary.json``: the network, the table, the resume report, the paths."""
    body: dict[str, Any] = {
        "network": str(demo.network),
        "tasks": [str(t) for t in demo.tasks],
        "transformations": [row.as_json() for row in rows],
        "demo_kill": report.as_json() if report is not None else None,
        "seconds": seconds,
        "data_dir": str(data.root),
        "client_config": str(data.client_config),
        "logs": sorted(str(p) for p in data.logs.glob("*.log")),
    }
    write_atomic(data.summary, json.dumps(body, indent=2).encode())
