"""The dispatch rules (core.dispatch), which the Lua scripts mirror."""

import random

import pytest

from quorum_workforce.core.dispatch import (
    JobBook,
    LeaseState,
    LeaseView,
    SubmitCheck,
    SweepAction,
    check_submit,
    is_eligible,
    lease_expiry_ms,
    order_jobs,
    submit_due_at_ms,
    sweep_action,
)


def test_eligibility_rule() -> None:
    assert is_eligible("w", set(), set(), 1)
    assert is_eligible("w", {"a", "b"}, set(), 3)
    assert not is_eligible("w", {"a", "b", "c"}, set(), 3)  # full
    assert not is_eligible("w", {"w"}, set(), 3)  # answered or holds it
    assert not is_eligible("w", set(), {"w"}, 3)  # declined it
    assert is_eligible("w", set(), {"x"}, 1)  # others' declines don't count toward N


def test_jobs_are_served_oldest_first() -> None:
    assert order_jobs([("b", 2.0), ("a", 3.0), ("c", 1.0)]) == ["c", "b", "a"]
    assert order_jobs([("b", 1.0), ("a", 1.0)]) == ["a", "b"]


def test_lease_expiry() -> None:
    assert lease_expiry_ms(1_000, 30) == 31_000


def _lease(state: LeaseState = LeaseState.ACTIVE, exp: int = 10_000, worker: str = "w") -> LeaseView:
    return LeaseView("j", 1, worker, exp, state)


def test_check_submit() -> None:
    assert check_submit(None, "w", 0) == SubmitCheck.MISSING
    assert check_submit(_lease(worker="other"), "w", 0) == SubmitCheck.FOREIGN
    assert check_submit(_lease(), "w", 9_999) == SubmitCheck.OK
    assert check_submit(_lease(), "w", 10_000) == SubmitCheck.EXPIRED
    assert check_submit(_lease(), "w", 0, job_open=False) == SubmitCheck.CANCELLED
    assert check_submit(_lease(LeaseState.EXPIRED), "w", 0) == SubmitCheck.EXPIRED
    assert check_submit(_lease(LeaseState.DECLINED), "w", 0) == SubmitCheck.DECLINED
    assert check_submit(_lease(LeaseState.CANCELLED), "w", 0) == SubmitCheck.CANCELLED
    # A retry while the first submit is still writing (or crashed mid-way) goes through, even late.
    assert check_submit(_lease(LeaseState.SUBMITTING), "w", 20_000) == SubmitCheck.OK
    # A foreign worker learns nothing more than "missing", whatever the state.
    assert check_submit(_lease(LeaseState.EXPIRED, worker="other"), "w", 0) == SubmitCheck.FOREIGN


def test_sweep_decisions() -> None:
    assert submit_due_at_ms(10_000, 0, 60_000) == 60_000
    assert submit_due_at_ms(100_000, 0, 60_000) == 100_000
    assert sweep_action(LeaseState.ACTIVE, 10_000, 9_999, answered=False) == SweepAction.WAIT
    assert sweep_action(LeaseState.ACTIVE, 10_000, 10_000, answered=False) == SweepAction.RELEASE
    # Crash between the commit and the Redis update: PostgreSQL says it was answered.
    assert sweep_action(LeaseState.ACTIVE, 10_000, 10_000, answered=True) == SweepAction.FINALIZE
    assert sweep_action(LeaseState.SUBMITTING, 60_000, 30_000, answered=False) == SweepAction.WAIT
    assert sweep_action(LeaseState.SUBMITTING, 60_000, 60_000, answered=True) == SweepAction.FINALIZE
    for tomb in (LeaseState.EXPIRED, LeaseState.DECLINED, LeaseState.CANCELLED):
        assert sweep_action(tomb, 0, 10, answered=False) == SweepAction.WAIT


def test_each_object_gets_n_distinct_workers_in_manifest_order() -> None:
    book = JobBook.build(3, range(4))
    workers = [f"w{i}" for i in range(5)]
    got: dict[str, list[int]] = {w: [] for w in workers}
    progress = True
    while progress:
        progress = False
        for w in workers:
            oid = book.pick(w)
            if oid is not None:
                got[w].append(oid)
                book.finalize(w, oid)
                progress = True
    for oid in range(4):
        assert len(book.takers[oid]) == 3
    assert not book.open
    for w, oids in got.items():
        assert len(oids) == len(set(oids)), w
        assert oids == sorted(oids), w  # manifest order
    assert got["w0"][:2] == [0, 1]


def test_decline_is_never_offered_again_and_does_not_count() -> None:
    book = JobBook.build(1, range(2))
    assert book.pick("a") == 0
    book.release("a", 0, decline=True)
    assert book.takers[0] == set()
    assert book.pick("a") == 1
    book.finalize("a", 1)
    assert book.pick("a") is None
    assert book.pick("b") == 0


def test_expired_lease_comes_back_even_below_cursors() -> None:
    book = JobBook.build(1, range(3))
    assert book.pick("a") == 0
    assert book.pick("b") == 1
    assert book.pick("b") == 2
    assert book.pick("b") is None
    book.release("a", 0)  # a's lease expired
    assert book.pick("b") == 0  # b's cursor is past 0: found through `reopened`
    assert book.pick("a") is None


def test_late_objects_and_raised_n_join_the_pool() -> None:
    book = JobBook.build(1, [5, 6])
    assert book.pick("a") == 5
    book.finalize("a", 5)
    assert book.pick("a") == 6
    book.finalize("a", 6)
    book.add_objects([1])  # below a's cursor
    assert book.pick("a") == 1
    book.finalize("a", 1)
    book.set_required(2)
    assert book.pick("a") is None  # a took them all already
    assert [book.pick("b") for _ in range(3)] == [1, 5, 6]


def test_rebuild_counts_answers_and_declines() -> None:
    book = JobBook.build(2, range(3), answered={0: ["a", "b"], 1: ["a"]}, declined={2: ["a"]})
    assert book.open == {1, 2}
    assert book.pick("a") is None
    assert book.pick("b") == 1


def _naive_pick(book: JobBook, worker: str) -> int | None:
    """The rule stated plainly: the lowest object id eligible for the worker."""
    candidates = [o for o in book.takers if book.eligible(worker, o)]
    return min(candidates) if candidates else None


@pytest.mark.parametrize("seed", range(40))
def test_cursor_and_reopen_pick_the_same_as_the_plain_rule(seed: int) -> None:
    rng = random.Random(seed)
    required = rng.randint(1, 4)
    book = JobBook.build(required, range(rng.randint(1, 30)))
    workers = [f"w{i}" for i in range(rng.randint(1, 7))]
    held: list[tuple[str, int]] = []
    answered: set[tuple[str, int]] = set()
    next_object = max(book.takers) + 1
    for _ in range(300):
        op = rng.random()
        if op < 0.5:
            w = rng.choice(workers)
            expected = _naive_pick(book, w)
            got = book.pick(w)
            assert got == expected
            if got is not None:
                assert (w, got) not in answered
                held.append((w, got))
        elif op < 0.75 and held:
            w, o = held.pop(rng.randrange(len(held)))
            book.finalize(w, o)
            answered.add((w, o))
        elif op < 0.88 and held:
            w, o = held.pop(rng.randrange(len(held)))
            book.release(w, o, decline=rng.random() < 0.5)
        elif op < 0.94:
            book.add_objects(range(next_object, next_object + rng.randint(1, 3)))
            next_object = max(book.takers) + 1
        elif op < 0.97 and not held:
            book.set_required(min(book.required + 1, 5))
        for o, takers in book.takers.items():
            assert len(takers) <= book.required
            assert (o in book.open) == (len(takers) < book.required)
    for w, o in answered:
        assert w in book.takers[o]
