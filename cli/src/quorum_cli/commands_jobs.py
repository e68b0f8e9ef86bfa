"""`quorum job create|status|list|stop|workers|output|answers`: labeling jobs from the command line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table

from quorum_cli.commands_common import (
    ApiKeyOption,
    ApiOption,
    JsonOption,
    console,
    err_console,
    fail,
    handle_errors,
    make_client,
    print_json,
)

app = typer.Typer(help="Create, follow, stop and export labeling jobs.", no_args_is_help=True)

TERMINAL_STATES = frozenset({"completed", "stopped", "failed"})
_STATUS_STYLE = {
    "initializing": "yellow",
    "in_progress": "cyan",
    "stopping": "yellow",
    "stopped": "magenta",
    "completed": "green",
    "failed": "red",
}


def parse_categories(categories: str | None, categories_file: Path | None) -> list[str]:
    """`a,b,c`, or a file: a JSON array, Ground Truth's label-category JSON, or one category per line."""
    if (categories is None) == (categories_file is None):
        fail("invalid_argument", "give exactly one of --categories a,b,c or --categories-file FILE")
    if categories is not None:
        values = [c.strip() for c in categories.split(",")]
    else:
        assert categories_file is not None
        text = categories_file.read_text(encoding="utf-8")
        values = _categories_from_text(text)
    values = [v for v in values if v]
    if not values:
        fail("invalid_argument", "no categories given")
    return values


def _categories_from_text(text: str) -> list[str]:
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        try:
            doc = json.loads(stripped)
        except ValueError as err:
            fail("invalid_argument", f"the categories file is not valid JSON: {err}")
        if isinstance(doc, dict):  # {"document-version": ..., "labels": [{"label": "cat"}, ...]}
            doc = [
                item.get("label", "") if isinstance(item, dict) else item for item in doc.get("labels", [])
            ]
        if not isinstance(doc, list) or not all(isinstance(v, str) for v in doc):
            fail("invalid_argument", "the categories file must hold a list of strings")
        return [v.strip() for v in doc]
    return [line.strip() for line in stripped.splitlines()]


@app.command("create")
@handle_errors
def create(
    name: Annotated[str, typer.Option("--name", help="Job name (letters, digits, hyphens).")],
    task_type: Annotated[
        str, typer.Option("--task-type", help="e.g. image-classification, text-classification.")
    ],
    team: Annotated[str, typer.Option("--team", help="Id of the team whose workers label the job.")],
    categories: Annotated[
        str | None, typer.Option("--categories", help="Comma-separated classes: a,b,c.")
    ] = None,
    categories_file: Annotated[
        Path | None,
        typer.Option("--categories-file", help="JSON array, GT label-category file, or one class per line."),
    ] = None,
    workers_per_object: Annotated[
        int,
        typer.Option("--workers-per-object", min=1, help="Answers per object (the maximum when adaptive)."),
    ] = 3,
    target_confidence: Annotated[
        float,
        typer.Option(
            "--target-confidence",
            min=0.0,
            help="Adaptive redundancy: label an object once its posterior reaches this (0.5 < t < 1; "
            "0 = off, every object gets --workers-per-object answers).",
        ),
    ] = 0.0,
    min_workers_per_object: Annotated[
        int,
        typer.Option(
            "--min-workers-per-object",
            min=0,
            help="Adaptive jobs: answers before an object may be labeled (default 1).",
        ),
    ] = 0,
    time_limit: Annotated[
        int, typer.Option("--time-limit", min=1, help="Seconds a worker has per task.")
    ] = 300,
    price: Annotated[float, typer.Option("--price", min=0.0, help="USD paid per task (per answer).")] = 0.0,
    manifest: Annotated[
        Path | None, typer.Option("--manifest", help="Input manifest (JSON lines) to upload.")
    ] = None,
    manifest_path: Annotated[
        str | None,
        typer.Option("--manifest-path", help="A manifest path the jobs service reads on its own machine."),
    ] = None,
    instructions: Annotated[
        str, typer.Option("--instructions", help="Instructions for workers; @FILE reads them from a file.")
    ] = "",
    label_attribute_name: Annotated[
        str | None,
        typer.Option("--label-attribute-name", help="Output key of the labels (default: the job name)."),
    ] = None,
    source_label_attribute: Annotated[
        str,
        typer.Option(
            "--source-label-attribute",
            help="label-verification / adjustment jobs: the attribute of the manifest's lines holding the "
            "previous label (e.g. a Ground Truth output manifest's label attribute).",
        ),
    ] = "",
    template: Annotated[
        Path | None,
        typer.Option(
            "--template",
            help="custom jobs: the HTML template file ({{ task.input.NAME }} variables; see docs/portal.md).",
        ),
    ] = None,
    custom_consolidation: Annotated[
        str,
        typer.Option(
            "--custom-consolidation",
            help='custom jobs: "majority" (default: the answer most workers gave) or "all" (every answer).',
        ),
    ] = "",
    known_answer_attribute: Annotated[
        str,
        typer.Option(
            "--known-answer-attribute",
            help="Classification jobs: the manifest attribute (e.g. gold-label) holding the class of "
            "known-answer objects; workers never see it, consolidation uses it to anchor and measure them.",
        ),
    ] = "",
    auto_label: Annotated[
        bool,
        typer.Option(
            "--auto-label",
            help="Automated labeling (classification): a model trained on human labels machine-labels the "
            "objects it is sure about; humans label the rest.",
        ),
    ] = False,
    target_accuracy: Annotated[
        float,
        typer.Option("--target-accuracy", min=0.0, help="--auto-label: accuracy machine labels must reach."),
    ] = 0.95,
    min_dataset_size: Annotated[
        int,
        typer.Option("--min-dataset-size", min=0, help="--auto-label: refuse smaller jobs (default 1250)."),
    ] = 0,
    max_human_labeled: Annotated[
        int,
        typer.Option(
            "--max-human-labeled", min=0, help="--auto-label: human-labeled objects at most (0 = any)."
        ),
    ] = 0,
    validation_workers: Annotated[
        int,
        typer.Option(
            "--validation-workers",
            min=0,
            help="--auto-label: answers per random draw at most, the labels that certify the model: "
            "--workers-per-object at once, more only while they disagree (0 = --workers-per-object + 2).",
        ),
    ] = 0,
    api: ApiOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a labeling job from a manifest."""
    if (manifest is None) == (manifest_path is None):
        fail("invalid_argument", "give exactly one of --manifest FILE (uploaded) or --manifest-path PATH")
    if manifest is not None and not manifest.is_file():
        fail("file_error", f"no such manifest file: {manifest}")
    classes = parse_categories(categories, categories_file)
    if instructions.startswith("@"):
        instructions = Path(instructions[1:]).read_text(encoding="utf-8")
    if template is not None and not template.is_file():
        fail("file_error", f"no such template file: {template}")
    template_html = template.read_text(encoding="utf-8") if template is not None else ""
    with make_client(api, api_key) as client:
        job = client.create_job(
            name=name,
            task_type=task_type,
            categories=classes,
            team_id=team,
            workers_per_object=workers_per_object,
            task_time_limit_s=time_limit,
            price_per_task_usd=price,
            instructions=instructions,
            label_attribute_name=label_attribute_name,
            target_confidence=target_confidence,
            min_workers_per_object=min_workers_per_object,
            source_label_attribute=source_label_attribute,
            template=template_html,
            custom_consolidation=custom_consolidation,
            auto_labeling={
                "enabled": True,
                "target_accuracy": target_accuracy,
                "min_dataset_size": min_dataset_size,
                "max_human_labeled": max_human_labeled,
                "validation_workers_per_object": validation_workers,
            }
            if auto_label
            else None,
            known_answer_attribute=known_answer_attribute,
            manifest_file=manifest,
            manifest_path=manifest_path,
        )
    if as_json:
        print_json(job)
        return
    console.print(
        f"Created job [bold]{job['name']}[/] id [cyan]{job['job_id']}[/]: "
        f"{job['counters']['total']} objects, status {_status(job['status'])}"
    )
    console.print(f"Follow it with: quorum job status {job['job_id']} --watch")


def _plain_table(title: str) -> Table:
    """A borderless table with a left-aligned title: long ids fit an 80-column terminal."""
    return Table(title=title, box=None, padding=(0, 1), title_justify="left", pad_edge=False)


def _status(status: str) -> str:
    return f"[{_STATUS_STYLE.get(status, 'white')}]{status}[/]"


def job_table(job: dict[str, Any]) -> Table:
    """The job's settings, counters and a progress bar, as one table."""
    c = job["counters"]
    table = Table(title=f"job {job['name']}", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("id", job["job_id"])
    table.add_row("status", _status(job["status"]))
    if job.get("failure_reason"):
        table.add_row("failure", f"[red]{job['failure_reason']}[/]")
    table.add_row("task type", job["task_type"])
    table.add_row("categories", ", ".join(job["categories"]))
    table.add_row("team", job["team_id"])
    if job.get("target_confidence"):
        table.add_row(
            "workers per object",
            f"{job.get('min_workers_per_object', 1)} to {job['workers_per_object']} "
            f"(adaptive, target confidence {job['target_confidence']:g})",
        )
    else:
        table.add_row("workers per object", str(job["workers_per_object"]))
    table.add_row(
        "progress",
        Group(ProgressBar(total=max(c["total"], 1), completed=c["total"] * job["progress"], width=40)),
    )
    table.add_row("", f"{job['progress'] * 100:.1f}% of {c['total']} objects")
    table.add_row("human labeled", str(c["human_labeled"]))
    table.add_row("machine labeled", str(c["machine_labeled"]))
    table.add_row("failed", str(c["failed"]))
    table.add_row("unlabeled", str(c["unlabeled"]))
    table.add_row("answers", str(job["answers"]))
    table.add_row("cost", f"${job['cost_usd']:.4f} (${job['price_per_task_usd']} per task)")
    table.add_row("created", job.get("created_at") or "")
    if job.get("completed_at"):
        table.add_row("completed", job["completed_at"])
    return table


@app.command("status")
@handle_errors
def status(
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until the job is finished.")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.2, help="Seconds between refreshes.")] = 2.0,
    api: ApiOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a job's status, counters, progress and cost."""
    with make_client(api, api_key) as client:
        job = client.get_job(job_id)
        if as_json:
            print_json(job)
            return
        if not watch:
            console.print(job_table(job))
            return
        with Live(job_table(job), console=console, auto_refresh=False) as live:
            while job["status"] not in TERMINAL_STATES:
                time.sleep(interval)
                job = client.get_job(job_id)
                live.update(job_table(job), refresh=True)


@app.command("list")
@handle_errors
def list_(
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=1000)] = 50,
    page_token: Annotated[str, typer.Option("--page-token", help="From a previous page.")] = "",
    api: ApiOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """List your jobs, newest first."""
    with make_client(api, api_key) as client:
        page = client.list_jobs(page_size=page_size, page_token=page_token)
    if as_json:
        print_json(page)
        return
    # Few columns, no borders: full 32-character ids must fit an 80-column terminal uncut
    # (`quorum job status ID` shows the rest).
    table = _plain_table(f"{page['count']} job(s)")
    table.add_column("job id", style="cyan", no_wrap=True, min_width=32)
    table.add_column("name", overflow="ellipsis", no_wrap=True, max_width=14)
    table.add_column("status", no_wrap=True, min_width=11)
    table.add_column("done", justify="right", no_wrap=True, min_width=4)
    table.add_column("cost", justify="right", no_wrap=True, min_width=8)
    for job in page["data"]:
        table.add_row(
            job["job_id"],
            job["name"],
            _status(job["status"]),
            f"{job['progress'] * 100:.0f}%",
            f"${job['cost_usd']:.2f}",
        )
    console.print(table)
    if page.get("next_page_token"):
        console.print(f"More: quorum job list --page-token {page['next_page_token']}")


@app.command("stop")
@handle_errors
def stop(
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    api: ApiOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop a job: no new tasks; labels gathered so far are kept and exported."""
    with make_client(api, api_key) as client:
        job = client.stop_job(job_id)
    if as_json:
        print_json(job)
        return
    console.print(f"Job [cyan]{job['job_id']}[/] is {_status(job['status'])}")


@app.command("workers")
@handle_errors
def workers(
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    method: Annotated[
        str, typer.Option("--method", help="Worker model: ds (default), mv, one_coin_ds, glad, mace, auto.")
    ] = "",
    api: ApiOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show each worker's answers, estimated accuracy and agreement with the consolidated labels."""
    with make_client(api, api_key) as client:
        report = client.job_workers(job_id, method=method)
    if as_json:
        print_json(report)
        return
    table = _plain_table(f"{report['count']} worker(s) of job {report['job_id']} ({report['method']})")
    table.add_column("worker", style="cyan", no_wrap=True)
    table.add_column("answers", justify="right", no_wrap=True)
    table.add_column("accuracy", justify="right", no_wrap=True)
    table.add_column("agreement", justify="right", no_wrap=True)
    known = report.get("known_objects", 0)
    if known:
        table.add_column("on known", justify="right", no_wrap=True)
    for w in report["data"]:
        # The automated-labeling model (one more annotator whose reliability is learned; not a person).
        who = f"{w['worker_id']} (model)" if w.get("machine") else w["worker_id"]
        cells = [who, str(w["answers"]), f"{w['accuracy']:.3f}", f"{w['agreement'] * 100:.1f}%"]
        if known:
            n = w.get("known_answers", 0)
            cells.append(f"{w['known_accuracy'] * 100:.1f}% of {n}" if n else "-")
        table.add_row(*cells)
    console.print(table)
    if known:
        console.print(
            f"on known: share of the worker's answers to the job's {known} known-answer object(s) that were "
            "the known class (observed)",
            highlight=False,
            soft_wrap=True,
        )
    # What the numbers mean differs by task type (box reliability, span reliability, pixel accuracy, ...).
    for name in ("accuracy", "agreement"):
        if report.get(f"{name}_measure"):
            console.print(f"{name}: {report[f'{name}_measure']}", highlight=False, soft_wrap=True)


@app.command("auto-labeling")
@handle_errors
def auto_labeling(
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    api: ApiOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a job's automated-labeling iterations and its cost against labeling everything by hand."""
    with make_client(api, api_key) as client:
        report = client.job_auto_labeling(job_id)
    if as_json:
        print_json(report)
        return
    table = _plain_table(
        f"Automated labeling of job {report['job_id']} (target accuracy "
        f"{report['settings']['target_accuracy']})"
    )
    for column in ("iteration", "trained on", "machine-labeled", "to humans", "human total", "machine total",
                   "est. accuracy", "decision"):  # fmt: skip
        table.add_column(column, justify="left" if column == "decision" else "right", no_wrap=True)
    for it in report["iterations"]:
        table.add_row(
            str(it["iteration"]),
            str(it["n_train"]) if it["iteration"] else "-",
            str(it["machine_labeled"]),
            str(it["sent_to_humans"]),
            str(it["human_labeled_total"]),
            str(it["machine_labeled_total"]),
            f"{it['estimated_accuracy']:.3f}" if it["iteration"] else "-",
            it["decision"],
        )
    console.print(table)
    console.print(
        f"{report['machine_labeled']} of {report['objects']} objects machine-labeled; "
        f"{report['human_answers']} human answers, cost {report['cost_usd']:.2f} USD vs "
        f"{report['all_human_cost_usd']:.2f} all-human ({report['cost_saving_percent']:.1f}% saved)"
    )


def _download(kind: str, job_id: str, output: Path | None, api: str | None, api_key: str | None) -> None:
    with make_client(api, api_key) as client:
        fetch = client.download_output if kind == "output" else client.download_answers
        if output is None or str(output) == "-":
            fetch(job_id, sys.stdout.buffer)
            sys.stdout.flush()
            return
        # Written aside and renamed: an interrupted download never leaves a truncated file behind.
        partial = output.with_name(output.name + ".part")
        try:
            with partial.open("wb") as fh:
                written = fetch(job_id, fh)
            partial.replace(output)
        finally:
            partial.unlink(missing_ok=True)
    err_console.print(f"Wrote {written} bytes to {output}")


@app.command("output")
@handle_errors
def output(
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    out: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: standard output).")
    ] = None,
    api: ApiOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Download the output manifest (Ground Truth format)."""
    _download("output", job_id, out, api, api_key)


@app.command("answers")
@handle_errors
def answers(
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    out: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: standard output).")
    ] = None,
    api: ApiOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Download every raw worker answer (one JSON line each)."""
    _download("answers", job_id, out, api, api_key)
