"""The HTTP commands: what they send, what they print, and how errors end (code + message, exit 1)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from cli_fakes import Api, write_credentials
from typer.testing import CliRunner

from quorum_cli.main import app

runner = CliRunner()
KEY = ["--api", "http://api.test", "--api-key", "k1"]


def job(**overrides: object) -> dict[str, object]:
    value: dict[str, object] = {
        "job_id": "j-1",
        "name": "cats",
        "task_type": "image-classification",
        "label_attribute_name": "cats",
        "categories": ["cat", "dog"],
        "workers_per_object": 3,
        "task_time_limit_s": 300,
        "price_per_task_usd": 0.012,
        "team_id": "t-1",
        "instructions": "",
        "status": "in_progress",
        "counters": {"total": 10, "human_labeled": 4, "machine_labeled": 1, "failed": 0, "unlabeled": 5},
        "progress": 0.5,
        "answers": 12,
        "cost_usd": 0.144,
        "created_at": "2026-11-22T05:00:00.000Z",
        "completed_at": None,
        "failure_reason": None,
    }
    value.update(overrides)
    return value


def test_api_errors_print_code_and_message_and_exit_1(api: Api) -> None:
    api.error("GET", "/v1/jobs/j-9", 404, "job_not_found", "job 'j-9' not found")
    result = runner.invoke(app, ["job", "status", "j-9", *KEY])
    assert result.exit_code == 1
    assert "job_not_found" in result.output and "job 'j-9' not found" in result.output
    assert "Traceback" not in result.output


def test_a_non_json_error_still_ends_cleanly(api: Api) -> None:
    api.on("GET", "/v1/jobs", 502, content=b"<html>Bad Gateway</html>")
    result = runner.invoke(app, ["job", "list", *KEY])
    assert result.exit_code == 1 and "http_502" in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_api_is_one_clear_line(api: Api) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    api.routes[("GET", "/v1/teams")] = refuse
    result = runner.invoke(app, ["teams", "list", *KEY])
    assert result.exit_code == 1
    assert "connection_failed" in result.output and "quorum up" in result.output
    assert "Traceback" not in result.output


def test_missing_key_is_an_error(api: Api) -> None:
    result = runner.invoke(app, ["job", "list"])
    assert result.exit_code == 1 and "missing_api_key" in result.output
    assert api.requests == []


def test_credentials_file_supplies_url_and_key(api: Api, tmp_path: Path) -> None:
    write_credentials(tmp_path, api="http://from-file:9000", api_key="file-key", admin_api_key="adm")
    api.on("GET", "/v1/teams", body={"data": [], "count": 0})
    result = runner.invoke(app, ["teams", "list"])
    assert result.exit_code == 0, result.output
    assert api.clients[-1] == ("http://from-file:9000", "file-key")
    assert api.last().headers["authorization"] == "Bearer file-key"
    # Options and the environment win over the file.
    runner.invoke(app, ["teams", "list", "--api-key", "opt-key"])
    assert api.clients[-1] == ("http://from-file:9000", "opt-key")
    runner.invoke(app, ["teams", "list"], env={"QUORUM_API": "http://env:1", "QUORUM_API_KEY": "env-key"})
    assert api.clients[-1] == ("http://env:1", "env-key")


def test_default_api_url(api: Api) -> None:
    api.on("GET", "/v1/teams", body={"data": [], "count": 0})
    assert runner.invoke(app, ["teams", "list", "--api-key", "k"]).exit_code == 0
    assert api.clients[-1] == ("http://127.0.0.1:8080", "k")


def test_job_create_uploads_the_manifest(api: Api, tmp_path: Path) -> None:
    manifest = tmp_path / "in.manifest"
    manifest.write_text('{"source-ref": "file:///a.jpg"}\n')
    api.on("POST", "/v1/jobs", 201, job(status="initializing"))
    result = runner.invoke(
        app,
        [
            "job", "create", "--name", "cats", "--task-type", "image-classification",
            "--categories", "cat, dog,bird", "--workers-per-object", "5", "--time-limit", "60",
            "--price", "0.02", "--team", "t-1", "--manifest", str(manifest), "--instructions", "Pick one",
            *KEY,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "j-1" in result.output and "initializing" in result.output
    request = api.last()
    assert request.headers["content-type"].startswith("multipart/form-data")
    body = request.content
    assert b'{"source-ref": "file:///a.jpg"}' in body and b'filename="in.manifest"' in body
    for part in (b"cats", b"image-classification", b"t-1", b"Pick one", b"0.02", b"60"):
        assert part in body
    assert body.count(b'name="categories"') == 3  # repeated fields
    assert b"bird" in body


def test_job_create_with_a_service_side_path_and_a_categories_file(api: Api, tmp_path: Path) -> None:
    (tmp_path / "labels.json").write_text(
        json.dumps({"document-version": "2018-11-28", "labels": [{"label": "pos"}, {"label": "neg"}]})
    )
    api.on("POST", "/v1/jobs", 201, job())
    result = runner.invoke(
        app,
        [
            "job", "create", "--name", "moods", "--task-type", "text-classification", "--team", "t-1",
            "--categories-file", str(tmp_path / "labels.json"),
            "--manifest-path", "/srv/in.manifest", "--json",
            *KEY,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    sent = api.last_json()
    assert sent["manifest_path"] == "/srv/in.manifest" and "manifest" not in sent
    assert sent["categories"] == ["pos", "neg"] and sent["workers_per_object"] == 3
    assert json.loads(result.output)["job_id"] == "j-1"


@pytest.mark.parametrize(
    "args",
    [
        ["--categories", "a,b"],  # no manifest
        ["--categories", "a,b", "--manifest-path", "/x", "--manifest", "y"],  # both
        ["--manifest-path", "/x"],  # no categories
    ],
)
def test_job_create_argument_errors(api: Api, args: list[str]) -> None:
    base = ["job", "create", "--name", "n", "--task-type", "t", "--team", "t-1"]
    result = runner.invoke(app, [*base, *args, *KEY])
    assert result.exit_code == 1 and "invalid_argument" in result.output
    assert api.requests == []


def test_job_create_with_a_missing_manifest_file(api: Api) -> None:
    args = ["job", "create", "--name", "n", "--task-type", "t", "--team", "t", "--categories", "a,b"]
    result = runner.invoke(app, [*args, "--manifest", "nope.jsonl", *KEY])
    assert result.exit_code == 1 and "nope.jsonl" in result.output and "Traceback" not in result.output


def test_categories_file_one_per_line(tmp_path: Path) -> None:
    from quorum_cli.commands_jobs import parse_categories

    path = tmp_path / "c.txt"
    path.write_text("cat\n\ndog\n")
    assert parse_categories(None, path) == ["cat", "dog"]
    path.write_text('["a", "b"]')
    assert parse_categories(None, path) == ["a", "b"]


def test_job_status_shows_counters_and_progress(api: Api) -> None:
    api.on("GET", "/v1/jobs/j-1", body=job())
    result = runner.invoke(app, ["job", "status", "j-1", *KEY])
    assert result.exit_code == 0, result.output
    for text in ("j-1", "in_progress", "50.0% of 10 objects", "human labeled", "unlabeled", "$0.1440"):
        assert text in result.output
    assert "━" in result.output  # the progress bar


def test_job_status_watch_stops_when_the_job_is_finished(api: Api) -> None:
    states = iter([job(), job(status="completed", progress=1.0)])
    api.routes[("GET", "/v1/jobs/j-1")] = lambda request: httpx.Response(200, json=next(states))
    result = runner.invoke(app, ["job", "status", "j-1", "--watch", "--interval", "0.2", *KEY])
    assert result.exit_code == 0, result.output
    assert "completed" in result.output and len(api.requests) == 2


def test_job_list_and_stop(api: Api) -> None:
    api.on(
        "GET",
        "/v1/jobs",
        body={"data": [job(), job(job_id="j-2", name="dogs")], "count": 2, "next_page_token": "p2"},
    )
    result = runner.invoke(app, ["job", "list", "--page-size", "2", *KEY])
    assert result.exit_code == 0, result.output
    assert "j-2" in result.output and "dogs" in result.output and "--page-token p2" in result.output
    assert api.last().url.params["page_size"] == "2"

    api.on("POST", "/v1/jobs/j-1/stop", body=job(status="stopping"))
    result = runner.invoke(app, ["job", "stop", "j-1", *KEY])
    assert result.exit_code == 0 and "stopping" in result.output


def test_job_output_downloads_to_a_file(api: Api, tmp_path: Path) -> None:
    content = b'{"source": "a", "mood": 0}\n{"source": "b", "mood": 1}\n'
    api.on("GET", "/v1/jobs/j-1/output", content=content, headers={"content-type": "application/x-ndjson"})
    result = runner.invoke(app, ["job", "output", "j-1", "-o", "out.manifest", *KEY])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.manifest").read_bytes() == content
    assert not (tmp_path / "out.manifest.part").exists()


def test_job_output_error_leaves_no_file(api: Api, tmp_path: Path) -> None:
    api.error("GET", "/v1/jobs/j-1/output", 404, "job_not_found", "job 'j-1' not found")
    result = runner.invoke(app, ["job", "output", "j-1", "-o", "out.manifest", *KEY])
    assert result.exit_code == 1 and "job_not_found" in result.output
    assert list(tmp_path.iterdir()) == []


def test_job_answers_to_stdout(api: Api) -> None:
    api.on("GET", "/v1/jobs/j-1/answers", content=b'{"workerId": "w-1"}\n')
    result = runner.invoke(app, ["job", "answers", "j-1", *KEY])
    assert result.exit_code == 0 and '{"workerId": "w-1"}' in result.output


def test_job_workers_table_and_json(api: Api) -> None:
    ace = {"worker_id": "w-ace", "answers": 12, "accuracy": 0.9871, "agreement": 1.0}
    meh = {"worker_id": "w-meh", "answers": 3, "accuracy": 0.5, "agreement": 0.25}
    ace["confusion"] = [[1.0, 0.0], [0.0, 1.0]]
    meh["confusion"] = [[0.5, 0.5], [0.5, 0.5]]
    report = {"job_id": "j-1", "method": "ds", "categories": ["cat", "dog"], "data": [ace, meh], "count": 2}
    api.on("GET", "/v1/jobs/j-1/workers", body=report)
    result = runner.invoke(app, ["job", "workers", "j-1", *KEY])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    ace_row = next(line for line in lines if "w-ace" in line)
    assert "12" in ace_row and "0.987" in ace_row and "100.0%" in ace_row
    meh_row = next(line for line in lines if "w-meh" in line)
    assert "0.500" in meh_row and "25.0%" in meh_row
    assert "method" not in str(api.last().url.params)

    result = runner.invoke(app, ["job", "workers", "j-1", "--method", "mv", "--json", *KEY])
    assert result.exit_code == 0 and json.loads(result.output) == report
    assert api.last().url.params["method"] == "mv"


def test_job_workers_of_a_box_job_say_what_accuracy_means(api: Api) -> None:
    measure = "box reliability: mean IoU with the consolidated boxes x sqrt(precision x recall)"
    w = {"worker_id": "w-1", "answers": 4, "accuracy": 0.8, "agreement": 0.75, "confusion": []}
    report = {
        "job_id": "j-1",
        "task_type": "bounding-box",
        "method": "bounding-box",
        "categories": ["car"],
        "accuracy_measure": measure,
        "agreement_measure": "mean F1 per image against the consolidated boxes",
        "data": [w],
        "count": 1,
    }
    api.on("GET", "/v1/jobs/j-1/workers", body=report)
    result = runner.invoke(app, ["job", "workers", "j-1", *KEY])
    assert result.exit_code == 0, result.output
    assert f"accuracy: {measure}" in result.output
    assert "agreement: mean F1 per image" in result.output


def test_job_workers_with_known_answer_objects_show_accuracy_on_them(api: Api) -> None:
    ace = {"worker_id": "w-ace", "answers": 12, "accuracy": 0.9, "agreement": 1.0, "confusion": []}
    new = {"worker_id": "w-new", "answers": 2, "accuracy": 0.6, "agreement": 0.5, "confusion": []}
    ace.update(known_answers=4, known_accuracy=0.75)
    new.update(known_answers=0, known_accuracy=None)
    report = {"job_id": "j-1", "method": "ds", "categories": ["a", "b"], "known_objects": 5}
    report["data"] = [ace, new]
    api.on("GET", "/v1/jobs/j-1/workers", body={**report, "count": 2})
    result = runner.invoke(app, ["job", "workers", "j-1", *KEY])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "75.0% of 4" in next(line for line in lines if "w-ace" in line)
    assert next(line for line in lines if "w-new" in line).rstrip().endswith("-")
    assert "job's 5 known-answer object(s)" in result.output


def test_job_workers_name_the_automated_labeling_model(api: Api) -> None:
    model = {"worker_id": "quorum-model", "answers": 40, "accuracy": 0.9, "agreement": 0.95, "confusion": []}
    human = {"worker_id": "w-1", "answers": 60, "accuracy": 0.8, "agreement": 0.9, "confusion": []}
    model["machine"], human["machine"] = True, False
    report = {"job_id": "j-1", "method": "auto", "categories": ["a", "b"], "data": [human, model], "count": 2}
    api.on("GET", "/v1/jobs/j-1/workers", body=report)
    result = runner.invoke(app, ["job", "workers", "j-1", *KEY])
    assert result.exit_code == 0, result.output
    assert "quorum-model (model)" in result.output and "w-1 (model)" not in result.output


def test_job_workers_error(api: Api) -> None:
    api.error("GET", "/v1/jobs/j-9/workers", 404, "job_not_found", "job 'j-9' not found")
    result = runner.invoke(app, ["job", "workers", "j-9", *KEY])
    assert result.exit_code == 1 and "job_not_found" in result.output


def test_teams_and_workers(api: Api) -> None:
    api.on("POST", "/v1/teams", 201, {"team_id": "t-1", "name": "crew", "created_at": None})
    result = runner.invoke(app, ["teams", "add", "crew", *KEY])
    assert result.exit_code == 0 and "t-1" in result.output
    assert api.last_json() == {"name": "crew"}

    worker = {
        "worker_id": "w-1",
        "name": "Wanda",
        "team_ids": ["t-1", "t-2"],
        "answers": 0,
        "created_at": None,
    }
    api.on("POST", "/v1/workers", 201, {"worker": worker, "token": "tok-123"})
    result = runner.invoke(app, ["workers", "add", "Wanda", "--team", "t-1", "--team", "t-2", *KEY])
    assert result.exit_code == 0, result.output
    assert "tok-123" in result.output
    assert api.last_json() == {"name": "Wanda", "team_ids": ["t-1", "t-2"]}

    api.on("GET", "/v1/workers", body={"data": [worker], "count": 1})
    result = runner.invoke(app, ["workers", "list", "--team", "t-1", *KEY])
    assert result.exit_code == 0 and "Wanda" in result.output
    assert api.last().url.params["team_id"] == "t-1"


def test_requesters_add_uses_the_admin_key(api: Api, tmp_path: Path) -> None:
    write_credentials(tmp_path, api="http://a:1", api_key="requester-key", admin_api_key="admin-key")
    api.on("POST", "/v1/requesters", 201, {"requester_id": "r-1", "name": "ada", "api_key": "new-key"})
    result = runner.invoke(app, ["requesters", "add", "ada"])
    assert result.exit_code == 0, result.output
    assert "new-key" in result.output
    assert api.last().headers["authorization"] == "Bearer admin-key"
    runner.invoke(app, ["requesters", "add", "bob", "--admin-key", "other"])
    assert api.last().headers["authorization"] == "Bearer other"


def test_requesters_add_with_a_wrong_key(api: Api) -> None:
    api.error("POST", "/v1/requesters", 401, "invalid_api_key", "invalid admin API key")
    result = runner.invoke(app, ["requesters", "add", "ada", "--admin-key", "bad", "--api", "http://a:1"])
    assert result.exit_code == 1
    assert "invalid_api_key" in result.output and "invalid admin API key" in result.output


def test_main_registers_every_command_group() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("job", "workers", "teams", "requesters"):
        assert name in result.output
