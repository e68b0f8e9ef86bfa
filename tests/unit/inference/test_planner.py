import pytest

from quorum_inference.core.planner import (
    LoopConfig,
    eligible,
    first_batch_size,
    next_batch_size,
    plan_first_batch,
    should_stop,
    validation_size,
)


def test_validation_size_follows_ground_truth() -> None:
    assert validation_size(1250) == 250  # 20% below 5,000
    assert validation_size(4999) == 1000
    assert validation_size(5000) == 500  # 10% from 5,000
    assert validation_size(1000, fraction=0.05) == 50


def test_first_batch_is_random_disjoint_and_seeded() -> None:
    cfg = LoopConfig(batch_size=200)
    assert first_batch_size(2000, cfg) == 400 + 200
    b = plan_first_batch(2000, cfg, seed=7)
    assert len(b.validation) == 400 and len(b.training) == 200
    assert not set(b.validation) & set(b.training)
    assert b == plan_first_batch(2000, cfg, seed=7) and b != plan_first_batch(2000, cfg, seed=8)
    assert max(b.validation + b.training) > 1000  # drawn from the whole dataset, not its head


def test_batches_budget_and_stop() -> None:
    cfg = LoopConfig(batch_size=100, max_human_labelled=650, min_dataset_size=1250)
    assert not eligible(1249, cfg) and eligible(1250, cfg)
    assert next_batch_size(1000, 300, cfg) == 100
    assert next_batch_size(40, 300, cfg) == 40
    assert next_batch_size(1000, 600, cfg) == 50
    assert should_stop(1000, 650, cfg) and should_stop(0, 10, cfg) and not should_stop(5, 10, cfg)
    with pytest.raises(ValueError):
        LoopConfig(target_accuracy=1.5)
