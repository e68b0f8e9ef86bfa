import numpy as np
import pytest

from quorum_inference.core.selection import k_center_greedy, select_informative, uncertainty


def test_uncertainty_orders_margin_and_entropy() -> None:
    probs = np.array([[0.98, 0.01, 0.01], [0.5, 0.45, 0.05], [1 / 3, 1 / 3, 1 / 3]])
    for kind in ("margin", "entropy"):
        u = uncertainty(probs, kind)  # type: ignore[arg-type]
        assert u[0] < u[1] < u[2] or (kind == "margin" and u[0] < u[1] <= u[2])
    assert uncertainty(probs, "entropy")[2] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        uncertainty(probs, "nope")  # type: ignore[arg-type]


def test_k_center_greedy_spreads_over_clusters() -> None:
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    x = np.concatenate([c + rng.normal(0, 0.1, size=(50, 2)) for c in centers])
    picks = k_center_greedy(x, 4, seed=3)
    assert sorted({p // 50 for p in picks}) == [0, 1, 2, 3]
    # Already-labelled clusters are avoided.
    picks = k_center_greedy(x, 2, labelled=centers[:2], seed=3)
    assert sorted({p // 50 for p in picks}) == [2, 3]


def test_selection_prefers_uncertain_and_spread_out_points() -> None:
    rng = np.random.default_rng(1)
    # 200 confident objects; 30 near-duplicates in cluster A that are the most uncertain; 30 in a far
    # cluster B, slightly less uncertain. Uncertainty alone would take 10 near-duplicates from A.
    emb = np.concatenate(
        [rng.normal(0, 1, (200, 8)), rng.normal(0, 0.01, (30, 8)) + 20, rng.normal(0, 0.01, (30, 8)) - 20]
    )
    probs = np.concatenate(
        [np.tile([0.99, 0.01], (200, 1)), np.tile([0.51, 0.49], (30, 1)), np.tile([0.55, 0.45], (30, 1))]
    )
    picks = select_informative(probs, emb, 10, seed=0)
    assert len(set(picks)) == 10
    assert all(p >= 200 for p in picks)  # only uncertain objects
    assert any(200 <= p < 230 for p in picks) and any(p >= 230 for p in picks)  # both clusters
    top_uncertain = np.argsort(-uncertainty(probs), kind="stable")[:10]
    assert all(200 <= p < 230 for p in top_uncertain)  # the baseline this test guards against
    assert picks == select_informative(probs, emb, 10, seed=0)  # seeded
    assert select_informative(probs[:0], emb[:0], 5) == []


def test_picks_are_distinct_when_only_duplicates_are_left() -> None:
    # Three distinct points, each twice (a text set with repeated sentences), and a fourth already labelled:
    # asking for all six must return each index once (a repeated pick once sent fewer objects to humans than
    # the jobs service counted, and the job waited forever for the missing one).
    x = np.repeat(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), 2, axis=0)
    for labelled in (None, x[:1]):
        picks = k_center_greedy(x, 6, labelled=labelled, seed=0)
        assert sorted(picks) == list(range(6))
    probs = np.tile([[0.5, 0.5]], (6, 1))
    assert sorted(select_informative(probs, x, 6, labelled_embeddings=x[:2])) == list(range(6))
