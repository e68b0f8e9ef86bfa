"""Job state machine (Ground Truth's states) and label counters."""

from __future__ import annotations

import pytest

from quorum_common.errors import FailedPrecondition
from quorum_jobs.core.states import (
    TERMINAL,
    TRANSITIONS,
    JobStatus,
    LabelCounters,
    can_transition,
    check_transition,
    is_machine_label,
)

S = JobStatus


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (S.INITIALIZING, S.IN_PROGRESS),
        (S.INITIALIZING, S.FAILED),
        (S.INITIALIZING, S.STOPPING),
        (S.IN_PROGRESS, S.STOPPING),
        (S.IN_PROGRESS, S.COMPLETED),
        (S.IN_PROGRESS, S.FAILED),
        (S.STOPPING, S.STOPPED),
        (S.STOPPING, S.FAILED),
    ],
)
def test_allowed_transitions(src: JobStatus, dst: JobStatus) -> None:
    assert can_transition(src, dst)
    assert check_transition(src.value, dst.value) is dst


@pytest.mark.parametrize(
    ("src", "dst", "message"),
    [
        (S.COMPLETED, S.STOPPING, "cannot stop a job that is completed"),
        (S.STOPPED, S.STOPPING, "cannot stop a job that is stopped"),
        (S.FAILED, S.IN_PROGRESS, "cannot start a job that is failed"),
        (S.STOPPING, S.COMPLETED, "cannot complete a job that is stopping"),
        (S.INITIALIZING, S.COMPLETED, "cannot complete a job that is initializing"),
        (S.IN_PROGRESS, S.IN_PROGRESS, "cannot start a job that is in_progress"),
        (S.INITIALIZING, S.STOPPED, "cannot stop a job that is initializing"),
    ],
)
def test_illegal_transitions_raise_invalid_state(src: JobStatus, dst: JobStatus, message: str) -> None:
    assert not can_transition(src, dst)
    with pytest.raises(FailedPrecondition) as info:
        check_transition(src, dst)
    assert info.value.reason == "invalid_state"
    assert message in info.value.message


def test_terminal_states_have_no_exit_and_every_state_is_known() -> None:
    assert TERMINAL == {S.STOPPED, S.COMPLETED, S.FAILED}
    assert set(TRANSITIONS) == set(JobStatus)
    assert [s.value for s in JobStatus] == [
        "initializing",
        "in_progress",
        "stopping",
        "stopped",
        "completed",
        "failed",
    ]
    with pytest.raises(FailedPrecondition, match="nothing, it is final"):
        check_transition(S.COMPLETED, S.FAILED)


def test_label_counters() -> None:
    c = LabelCounters(total=10)
    assert c.unlabeled == 10 and not c.done
    c = c.add(human=6, machine=2, failed=1)
    assert (c.human_labeled, c.machine_labeled, c.failed, c.unlabeled) == (6, 2, 1, 1)
    assert not c.done
    assert c.add(failed=1).done
    assert not LabelCounters(total=0).done


def test_machine_labels_are_recognised() -> None:
    assert not is_machine_label("mv", 3, 3)
    assert not is_machine_label("auto", 3, 3)  # consolidation's default method: human answers
    assert not is_machine_label("adaptive-auto", 2, 2)
    assert not is_machine_label("", 1, 1)
    assert is_machine_label("auto-label", 0, 0)
    assert is_machine_label("model", 3, 3)
    assert is_machine_label("", 0, 0)  # nobody answered: a model labeled it
