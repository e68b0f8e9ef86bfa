"""`quorum autolabel-bench`: automated labeling through the whole platform on a dataset with gold labels.

The dataset folder has `items.jsonl` (`item`, and `source` text or a `source-ref` image path relative to the
folder) and `gold.csv` (item,label) and no crowd answers: simulated workers answer with confusion matrices
whose skills are drawn from real crowds' (quorum_cli.simulation.CROWD_SKILL_QUANTILES; seeded, the same for
every run). The job runs with automated labeling at the target accuracy; every iteration is followed live
and scored against gold. Prints one JSON object; writes OUT/output.manifest (each line carries the item id
under `item`), OUT/summary.json and, when matplotlib is installed, OUT/iterations.png.

Text datasets also run the issue's one-shot reference beside it: frozen MiniLM embeddings + logistic
regression trained on a random 20% of the objects with gold labels, the confidence threshold picked on a
validation split of those for the target precision, applied to the other 80%.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.console import Console

from quorum_cli.labeling_run import ApiClient, RunResult, fetch_answers, run_labeling_job
from quorum_cli.platform import borrowed_platform
from quorum_cli.simulation import CrowdDataset, content_dataset
from quorum_jobs.core.autolabel import DRAW_EXTRA_ANSWERS, MAX_DRAW_ANSWERS

console = Console(stderr=True)

BASELINE_TRAIN_SHARE = 0.2
BASELINE_VALIDATION_SHARE = 0.25  # of the training share
MIN_ABOVE_THRESHOLD = 20  # validation predictions a baseline threshold must keep


def _machine_accuracy(lines: list[dict[str, Any]], attribute: str, gold: dict[str, str]) -> dict[str, Any]:
    """Accuracy against gold of the machine labels and of the human labels among `lines`."""
    machine = human = machine_right = human_right = 0
    for line in lines:
        meta = line.get(f"{attribute}-metadata") or {}
        if "class-name" not in meta:
            continue
        right = meta["class-name"] == gold.get(str(line.get("item")))
        if meta.get("human-annotated") == "no":
            machine += 1
            machine_right += right
        else:
            human += 1
            human_right += right
    return {
        "machine_labeled": machine,
        "machine_accuracy": round(machine_right / machine, 4) if machine else None,
        "human_labeled": human,
        "human_label_accuracy": round(human_right / human, 4) if human else None,
    }


def frozen_baseline(
    texts: list[str], labels: list[str], target_accuracy: float, seed: int = 0
) -> dict[str, Any]:
    """The one-shot reference of issue 5: frozen MiniLM + logistic regression on 20% of the data."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 - only for this reference

    from quorum_inference.adapters.features import TextEmbedder  # noqa: PLC0415 - loads torch

    started = time.perf_counter()
    x = TextEmbedder("cpu").embed(texts)
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])
    order = np.random.default_rng(seed).permutation(len(texts))
    n_labeled = int(round(BASELINE_TRAIN_SHARE * len(texts)))
    n_val = int(round(BASELINE_VALIDATION_SHARE * n_labeled))
    val, train, rest = order[:n_val], order[n_val:n_labeled], order[n_labeled:]
    model = LogisticRegression(max_iter=2000).fit(x[train], y[train])
    val_p = model.predict_proba(x[val])
    conf, right = val_p.max(axis=1), val_p.argmax(axis=1) == y[val]
    # The lowest threshold whose above-threshold validation predictions reach the target precision.
    threshold = None
    for t in np.sort(np.unique(conf)):
        above = conf >= t
        if above.sum() < MIN_ABOVE_THRESHOLD:
            break
        if right[above].mean() >= target_accuracy:
            threshold = float(t)
            break
    model = LogisticRegression(max_iter=2000).fit(x[order[:n_labeled]], y[order[:n_labeled]])
    p = model.predict_proba(x[rest])
    auto = p.max(axis=1) >= threshold if threshold is not None else np.zeros(len(rest), dtype=bool)
    correct = (p.argmax(axis=1) == y[rest])[auto]
    return {
        "method": "frozen MiniLM + logistic regression, 20% gold-labeled, threshold on a validation split",
        "threshold": round(threshold, 4) if threshold is not None else None,
        "machine_labeled_share_percent": round(100.0 * auto.sum() / len(texts), 2),
        "machine_accuracy": round(float(correct.mean()), 4) if auto.any() else None,
        "human_labeled_share_percent": round(100.0 * n_labeled / len(texts), 2),
        "wall_s": round(time.perf_counter() - started, 1),
    }


def plot_iterations(path: Path, iterations: list[dict[str, Any]], objects: int, title: str) -> bool:
    try:
        import matplotlib  # noqa: PLC0415 - optional (the `bench` extra)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return False
    xs = [it["iteration"] for it in iterations]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(
        xs, [100 * it["machine_labeled_total"] / objects for it in iterations], "o-", label="machine-labeled"
    )
    ax.plot(xs, [100 * it["human_labeled_total"] / objects for it in iterations], "s-", label="human-labeled")
    sent = np.cumsum([it["sent_to_humans"] for it in iterations])
    ax.plot(xs, 100 * (1 - sent / objects), "^--", label="never sent to humans (saving)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("% of objects")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _summary(
    data: CrowdDataset,
    result: RunResult,
    report: dict[str, Any],
    answers: list[dict[str, Any]],
    iterations: list[dict[str, Any]],
    workers_per_object: int,
) -> dict[str, Any]:
    attribute = result.job["label_attribute_name"]
    scored = _machine_accuracy(result.output_lines, attribute, data.gold)
    labeled = scored["machine_labeled"] + scored["human_labeled"]
    right = sum(
        (line.get(f"{attribute}-metadata") or {}).get("class-name") == data.gold.get(str(line.get("item")))
        for line in result.output_lines
    )
    objects = len(data.items)
    answered = {int(a["object_id"]) for a in answers}
    all_human_answers = objects * workers_per_object
    return {
        "dataset": data.name,
        "objects": objects,
        "classes": len(data.categories),
        "status": result.job["status"],
        "human_labeled_objects": len(answered),
        "machine_labeled_objects": scored["machine_labeled"],
        "failed_objects": objects - labeled,
        "machine_label_accuracy": scored["machine_accuracy"],
        "human_label_accuracy": scored["human_label_accuracy"],
        "accuracy_all": round(right / objects, 4),
        "human_answers": len(answers),
        "all_human_answers": all_human_answers,
        "human_objects_saving_percent": round(100.0 * (1 - len(answered) / objects), 2),
        "cost_saving_percent": round(100.0 * (1 - len(answers) / all_human_answers), 2),
        "cost_usd": report.get("cost_usd"),
        "all_human_cost_usd": report.get("all_human_cost_usd"),
        "iterations": iterations,
        "wall_s": round(result.wall_s, 1),
    }


def _iteration_row(it: dict[str, Any], scored: dict[str, Any] | None) -> dict[str, Any]:
    thresholds = [t["threshold"] for t in it["thresholds"] if t["threshold"] is not None]
    return {
        "iteration": it["iteration"],
        "model_version": it["model_version"],
        "n_train": it["n_train"],
        "n_validation": it["n_validation"],
        "validation_accuracy": round(it["validation_accuracy"], 4),
        "thresholds": thresholds,
        "estimated_accuracy": round(it["estimated_accuracy"], 4),
        "machine_labeled": it["machine_labeled"],
        "sent_to_humans": it["sent_to_humans"],
        "human_labeled_total": it["human_labeled_total"],
        "machine_labeled_total": it["machine_labeled_total"],
        "decision": it["decision"],
        # Machine labels given so far, scored against gold when the iteration was seen.
        "true_machine_accuracy": scored["machine_accuracy"] if scored else None,
    }


def autolabel_bench(
    dataset: Path = typer.Option(..., "--dataset", help="Folder with items.jsonl and gold.csv."),
    out: Path = typer.Option(
        Path("autolabel-out"), "--out", help="Where output.manifest and summary.json go."
    ),
    target_accuracy: float = typer.Option(0.95, "--target-accuracy", min=0.51, max=0.999),
    workers_per_object: int = typer.Option(3, "--workers-per-object", min=1, max=10),
    target_confidence: float = typer.Option(
        0.0, "--target-confidence", min=0.0, max=0.999, help="Adaptive redundancy target (0 = off)."
    ),
    min_workers: int = typer.Option(
        2,
        "--min-workers-per-object",
        min=1,
        max=10,
        help="Adaptive redundancy: answers an object gets before its posterior may stop it (at most "
        "--workers-per-object). 2: two agreeing answers can stop it, a single one cannot.",
    ),
    validation_workers: int = typer.Option(
        0,
        "--validation-workers",
        min=0,
        max=10,
        help="Answers per random draw at most, the labels that certify the model: --workers-per-object at "
        "once, more only while they disagree (0 = --workers-per-object + 2).",
    ),
    workers: int = typer.Option(10, "--workers", min=1, max=200, help="Simulated workers."),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline", help="Run the frozen reference (text)."),
    api: str | None = typer.Option(None, "--api", envvar="QUORUM_API", help="Use this running platform."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="QUORUM_API_KEY", help="Requester key."),
    price: float = typer.Option(0.012, help="Price per task in USD."),
    seed: int = typer.Option(0, help="Seed of the simulated workers and the reference's split."),
    timeout_s: float = typer.Option(3600, "--timeout-s", help="Give up on the job after this long."),
) -> None:
    """Run automated labeling through the platform with simulated workers; print JSON scored against gold."""
    try:
        data = content_dataset(dataset, n_workers=workers, seed=seed)
    except (FileNotFoundError, KeyError, ValueError) as err:
        console.print(f"[red]Cannot read dataset {dataset}:[/] {err}")
        raise typer.Exit(1) from err
    out.mkdir(parents=True, exist_ok=True)
    console.print(
        f"Dataset [bold]{data.name}[/]: {len(data.items)} objects, {len(data.categories)} classes, "
        f"{data.task_type}; {workers} simulated workers, {workers_per_object} per object"
    )
    least = min(min_workers, workers_per_object)  # adaptive redundancy's least answers per object
    seen: dict[int, dict[str, Any]] = {}

    async def follow(client: ApiClient, job_id: str, headers: dict[str, str]) -> None:
        """Score every new iteration's machine labels against gold as soon as it appears."""
        while True:
            r = await client.get(f"/v1/jobs/{job_id}/auto-labeling", headers=headers)
            if r.status_code == 200:
                new = [it for it in r.json()["iterations"] if it["iteration"] not in seen]
                if new:
                    output = await client.get(f"/v1/jobs/{job_id}/output", headers=headers)
                    lines = [json.loads(x) for x in output.text.splitlines() if x.strip()]
                    job = (await client.get(f"/v1/jobs/{job_id}", headers=headers)).json()
                    scored = _machine_accuracy(lines, job["label_attribute_name"], data.gold)
                    for it in new:
                        seen[it["iteration"]] = _iteration_row(it, scored)
                        console.print(
                            f"iteration {it['iteration']}: machine-labeled {it['machine_labeled']}, "
                            f"sent to humans {it['sent_to_humans']}, totals human {it['human_labeled_total']}"
                            f" / machine {it['machine_labeled_total']}; machine accuracy so far "
                            f"{scored['machine_accuracy']}"
                        )
            await asyncio.sleep(1.0)

    auto = {
        "enabled": True,
        "target_accuracy": target_accuracy,
        "min_dataset_size": min(1250, len(data.items)),
        "validation_workers_per_object": validation_workers,
    }
    if len(data.items) < 100:
        console.print("[red]Automated labeling needs at least 100 objects.[/]")
        raise typer.Exit(1)
    with borrowed_platform(api, api_key, console, requester_name="autolabel-bench") as (api_url, key):
        result = asyncio.run(
            run_labeling_job(
                api_url,
                key,
                data,
                workers_per_object=workers_per_object,
                price_per_task_usd=price,
                seed=seed,
                target_confidence=target_confidence or None,
                min_workers_per_object=least if target_confidence else None,
                auto_labeling=auto,
                monitor=follow,
                timeout_s=timeout_s,
            )
        )
        answers = asyncio.run(fetch_answers(api_url, key, result.job["job_id"]))
        import httpx  # noqa: PLC0415

        report = httpx.get(
            f"{api_url}/v1/jobs/{result.job['job_id']}/auto-labeling",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        ).json()
    final_attr = result.job["label_attribute_name"]
    final = _machine_accuracy(result.output_lines, final_attr, data.gold)
    iterations = [seen.get(it["iteration"]) or _iteration_row(it, None) for it in report["iterations"]]
    if iterations:
        iterations[-1]["true_machine_accuracy"] = final["machine_accuracy"]
    (out / "output.manifest").write_text("".join(json.dumps(line) + "\n" for line in result.output_lines))
    summary = _summary(data, result, report, answers, iterations, workers_per_object)
    summary.update(
        target_accuracy=target_accuracy,
        target_confidence=target_confidence,
        min_workers_per_object=least if target_confidence else workers_per_object,
        # The most answers a random draw may get (the jobs service's default when 0).
        validation_workers=validation_workers
        or min(MAX_DRAW_ANSWERS, workers_per_object + DRAW_EXTRA_ANSWERS),
        seed=seed,
    )
    if baseline and data.task_type == "text-classification":
        console.print("Frozen MiniLM reference…")
        texts = [data.contents[i]["source"] for i in data.items]
        summary["baseline"] = frozen_baseline(
            texts, [data.gold[i] for i in data.items], target_accuracy, seed
        )
    if plot_iterations(
        out / "iterations.png", iterations, len(data.items), f"{data.name}: automated labeling"
    ):
        summary["plot"] = str(out / "iterations.png")
    summary["output_manifest"] = str(out / "output.manifest")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    typer.echo(json.dumps(summary))
