"""When the simulated workers of `quorum_cli.labeling_run` may stop before the job reports completion."""

from __future__ import annotations

from quorum_cli.labeling_run import answers_to_stop_at


def test_a_fixed_redundancy_job_stops_its_workers_once_every_answer_is_in() -> None:
    assert answers_to_stop_at(100, 3, None, None) == 300
    assert answers_to_stop_at(100, 3, {"enabled": False}, None) == 300


def test_automated_labeling_and_adaptive_jobs_keep_their_workers_until_the_job_ends() -> None:
    # An automated-labeling job's random draws take validation_workers answers (5 > 3): 300 answers can be
    # submitted while objects still wait; stopping then stalled the job until its timeout.
    auto = {"enabled": True, "validation_workers_per_object": 5}
    assert answers_to_stop_at(100, 3, auto, None) is None
    assert answers_to_stop_at(100, 3, None, 0.95) is None
