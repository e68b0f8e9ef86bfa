"""TEXT_MODEL=finetune's adapter: the certification split, a tiny fine-tuning of the real MiniLM (a few steps
on a handful of sentences), its file round trip, and the per-encoder embedding cache."""

from pathlib import Path

import numpy as np
import pytest

from quorum_inference.adapters import finetune, nets

TEXTS = [
    "The striker scored in the final minute.",
    "Our goalkeeper saved a penalty.",
    "The home team won the league title.",
    "The coach praised the defenders.",
    "Heavy rain is expected tomorrow.",
    "Temperatures will drop below freezing tonight.",
    "Strong winds will blow across the coast.",
    "Snow will cover the roads on Monday.",
]
LABELS = np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=np.int64)
TINY = finetune.FinetuneConfig(epochs=2, batch_size=4, lr=1e-4, max_steps=4, seed=0)


def test_certification_set_is_a_fixed_function_of_the_id_with_the_share() -> None:
    ids = [f"obj-{i}" for i in range(3000)]
    picked = [finetune.in_certification_set(i, 1 / 3) for i in ids]
    assert picked == [finetune.in_certification_set(i, 1 / 3) for i in ids]  # stable across calls
    assert 0.30 < np.mean(picked) < 0.37
    # A larger share keeps everything a smaller one kept (the split only grows with the share).
    assert all(finetune.in_certification_set(i, 0.5) for i, p in zip(ids, picked, strict=True) if p)


def test_arch_records_its_encoder_and_frozen_records_are_unchanged() -> None:
    frozen = nets.Arch("head", (384,), 3, 0)
    assert "encoder" not in frozen.to_json() and nets.Arch.from_json(frozen.to_json()) == frozen
    tuned = nets.Arch("head", (384,), 3, 0, encoder="job/encoder-2.pt")
    assert nets.Arch.from_json(tuned.to_json()) == tuned


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path, dict[str, float]]:
    model = finetune.base_encoder("cpu", max_seq_length=32)
    before = finetune.embed(model, TEXTS)
    stats = finetune.fine_tune(model, TEXTS, LABELS, 2, TINY, warm=False)
    path = tmp_path_factory.mktemp("enc") / "job" / "encoder-1.pt"
    finetune.save_encoder(path, model)
    return model, path, {"changed": float(np.abs(finetune.embed(model, TEXTS) - before).max()), **stats}


def test_fine_tuning_takes_capped_steps_and_changes_the_encoder(
    tuned: tuple[object, Path, dict[str, float]],
) -> None:
    _, _, stats = tuned
    assert stats["steps"] == 4  # 2 epochs x 2 batches, capped at max_steps
    assert stats["changed"] > 1e-4 and np.isfinite(stats["loss"])


def test_a_saved_encoder_loads_back_to_the_same_embeddings(
    tuned: tuple[object, Path, dict[str, float]],
) -> None:
    model, path, _ = tuned
    x = finetune.embed(model, TEXTS)
    assert x.shape == (8, 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    again = finetune.load_encoder(path, "cpu", max_seq_length=32)
    np.testing.assert_allclose(finetune.embed(again, TEXTS), x, atol=1e-5)
    assert not list(path.parent.glob("*.tmp"))


def test_time_cap_stops_the_optimiser_loop_early_and_says_so() -> None:
    """FINETUNE_MAX_SECONDS: a tiny cap lets one step run (never zero), then stops; the stats record it."""
    model = finetune.base_encoder("cpu", max_seq_length=32)
    cfg = finetune.FinetuneConfig(epochs=3, batch_size=2, lr=1e-4, max_steps=12, max_seconds=1e-6, seed=0)
    stats = finetune.fine_tune(model, TEXTS, LABELS, 2, cfg, warm=False)
    assert stats["steps"] == 1 and stats["planned_steps"] == 12 and stats["capped"] == 1.0
    assert np.isfinite(stats["loss"]) and stats["loss"] > 0


def test_fine_tuning_within_the_cap_is_not_marked_capped(
    tuned: tuple[object, Path, dict[str, float]],
) -> None:
    _, _, stats = tuned  # TINY has no cap (max_seconds 0)
    assert stats["capped"] == 0.0 and stats["planned_steps"] == stats["steps"] == 4
    model = finetune.base_encoder("cpu", max_seq_length=32)
    cfg = finetune.FinetuneConfig(epochs=1, batch_size=4, lr=1e-4, max_steps=2, max_seconds=600.0)
    stats = finetune.fine_tune(model, TEXTS, LABELS, 2, cfg, warm=False)
    assert stats["steps"] == 2 and stats["capped"] == 0.0


def test_warm_fine_tuning_uses_warm_epochs() -> None:
    model = finetune.base_encoder("cpu", max_seq_length=32)
    cfg = finetune.FinetuneConfig(epochs=3, warm_epochs=1, batch_size=4, max_steps=100)
    assert finetune.fine_tune(model, TEXTS[:4], LABELS[:4], 2, cfg, warm=True)["steps"] == 1
    assert finetune.fine_tune(model, [], LABELS[:0], 2, cfg, warm=True)["steps"] == 0


def test_tuned_embedders_cache_per_encoder_and_name_a_missing_one(
    tuned: tuple[object, Path, dict[str, float]], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, path, _ = tuned
    root = path.parent.parent
    embedders = finetune.TunedEmbedders(root, "cpu", max_seq_length=32)
    calls: list[int] = []
    real = finetune.embed

    def counting(m: object, texts: list[str], batch_size: int = 128) -> np.ndarray:
        calls.append(len(texts))
        return real(m, texts, batch_size)

    monkeypatch.setattr(finetune, "embed", counting)
    first = embedders.embed("job/encoder-1.pt", TEXTS)  # loaded from disk
    second = embedders.embed("job/encoder-1.pt", TEXTS[:3] + ["A new sentence."])
    assert calls == [8, 1]  # each text embedded once per encoder
    np.testing.assert_allclose(second[:3], first[:3])
    np.testing.assert_allclose(first, real(model, TEXTS), atol=1e-5)
    with pytest.raises(FileNotFoundError, match="encoder-9.pt"):
        embedders.embed("job/encoder-9.pt", TEXTS)
