"""`quorum demo`: a whole labeling job through the public API with simulated workers, scored against gold."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from quorum_cli.labeling_run import RunResult, fetch_answers, run_labeling_job
from quorum_cli.platform import PlatformError, borrowed_platform
from quorum_cli.simulation import CrowdDataset, accuracy, majority_vote, simulated_digits

console = Console()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(dataset: CrowdDataset, result: RunResult, answers: list[dict], out: Path, price: float) -> dict:
    attribute = result.job.get("label_attribute_name") or result.job["name"]
    predictions = result.predictions(attribute)
    acc, n_gold = accuracy(predictions, {k: v for k, v in dataset.gold.items() if k in set(dataset.items)})
    item_of_object = dict(enumerate(dataset.items))
    mv = majority_vote([(item_of_object[int(a["object_id"])], a["answerContent"]["label"]) for a in answers])
    mv_acc, _ = accuracy(mv, {k: v for k, v in dataset.gold.items() if k in set(dataset.items)})
    n_answers = len(answers)
    summary = {
        "dataset": dataset.name,
        "objects": len(dataset.items),
        "status": result.job["status"],
        "answers": n_answers,
        "accuracy": round(acc, 4),
        "majority_vote_accuracy": round(mv_acc, 4),
        "gold_items": n_gold,
        "cost_usd": round(n_answers * price, 4),
        "wall_s": round(result.wall_s, 2),
        "answers_per_s": round(n_answers / result.wall_s, 1) if result.wall_s else None,
        "next_task_p50_ms": round(_percentile(result.next_latencies_ms, 0.5), 1),
        "next_task_p99_ms": round(_percentile(result.next_latencies_ms, 0.99), 1),
        "submit_p50_ms": round(_percentile(result.submit_latencies_ms, 0.5), 1),
        "submit_p99_ms": round(_percentile(result.submit_latencies_ms, 0.99), 1),
        "output_manifest": str(out / "output.manifest"),
    }
    return summary


def demo(
    dataset: Path | None = typer.Option(
        None, "--dataset", help="A crowd dataset dir (labels.csv, gold.csv[, items.jsonl])."
    ),
    out: Path = typer.Option(Path("demo-out"), "--out", help="Where output.manifest and summary.json go."),
    workers_per_object: int = typer.Option(3, "--workers-per-object", min=1, max=10),
    api: str | None = typer.Option(None, "--api", envvar="QUORUM_API", help="Use this running platform."),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="QUORUM_API_KEY", help="Requester key for --api."
    ),
    limit: int | None = typer.Option(None, help="Label only the first N items of the dataset."),
    price: float = typer.Option(0.012, help="Price per task in USD."),
    concurrency: int = typer.Option(64, help="Concurrent HTTP connections of the simulated workers."),
    seed: int = typer.Option(0),
) -> None:
    """Run a labeling job end to end with simulated workers and print accuracy, answers, cost and speed."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        data = CrowdDataset.load(dataset, limit=limit) if dataset else simulated_digits(out / "data")
    except (FileNotFoundError, KeyError, ValueError) as err:
        console.print(f"[red]Cannot read dataset {dataset}:[/] {err}")
        raise typer.Exit(1) from err
    console.print(
        f"Dataset [bold]{data.name}[/]: {len(data.items)} items, {len(data.workers)} workers, "
        f"{len(data.categories)} classes, {len(data.answers)} real answers, {len(data.gold)} gold"
    )

    try:
        with borrowed_platform(api, api_key, console, requester_name="demo") as (api_url, key):
            result = asyncio.run(
                run_labeling_job(
                    api_url,
                    key,
                    data,
                    workers_per_object=workers_per_object,
                    price_per_task_usd=price,
                    concurrency=concurrency,
                    seed=seed,
                )
            )
            answers = asyncio.run(fetch_answers(api_url, key, result.job["job_id"]))
    except PlatformError as err:
        console.print(f"[red]{err}[/]")
        raise typer.Exit(1) from err
    (out / "output.manifest").write_text("".join(json.dumps(line) + "\n" for line in result.output_lines))
    summary = report(data, result, answers, out, price)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = Table(title=f"quorum demo: {data.name}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        table.add_row(key, str(value))
    console.print(table)
