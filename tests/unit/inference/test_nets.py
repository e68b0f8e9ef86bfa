from pathlib import Path

import numpy as np
import pytest
import torch

from quorum_inference.adapters import nets
from quorum_inference.adapters.backends import TorchBackend, make_backend
from quorum_inference.core.backend import ModelKey

CPU = torch.device("cpu")


def _blobs(n: int = 300, k: int = 3, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(k, size=n)
    centers = rng.normal(0, 3, size=(k, dim))
    return (centers[y] + rng.normal(0, 1, size=(n, dim))).astype(np.float32), y.astype(np.int64)


def test_head_learns_a_separable_problem_and_is_seeded() -> None:
    x, y = _blobs()
    arch = nets.Arch("head", (16,), 3, hidden=32)
    cfg = nets.TrainConfig(epochs=20, seed=1)
    model = nets.train(arch, x, y, cfg, device=CPU)
    assert (nets.logits(model, x).argmax(axis=1) == y).mean() > 0.95
    again = nets.train(arch, x, y, cfg, device=CPU)
    np.testing.assert_array_equal(nets.logits(model, x), nets.logits(again, x))


def test_cnn_shapes_and_empty_input() -> None:
    arch = nets.Arch("cnn", (3, 16, 16), 4)
    model = nets.train(
        arch, np.zeros((0, 3, 16, 16), np.float32), np.zeros(0, np.int64), nets.TrainConfig(), device=CPU
    )
    assert nets.logits(model, np.random.rand(5, 3, 16, 16).astype(np.float32)).shape == (5, 4)
    assert nets.logits(model, np.zeros((0, 3, 16, 16), np.float32)).shape == (0, 4)


def test_save_load_round_trip(tmp_path: Path) -> None:
    x, y = _blobs()
    arch = nets.Arch("head", (16,), 3, hidden=0)
    model = nets.train(arch, x, y, nets.TrainConfig(epochs=3), device=CPU)
    nets.save(tmp_path / "j" / "v1.pt", arch, model)
    loaded_arch, loaded, _ = nets.load(tmp_path / "j" / "v1.pt", CPU)
    assert loaded_arch == arch
    np.testing.assert_array_equal(nets.logits(loaded, x), nets.logits(model, x))


def test_warm_start_maps_output_rows_by_category_name() -> None:
    x, y = _blobs()
    old_arch = nets.Arch("head", (16,), 3, hidden=8)
    old = nets.train(old_arch, x, y, nets.TrainConfig(epochs=2), device=CPU).state_dict()
    new_arch = nets.Arch("head", (16,), 3, hidden=8)
    state = nets.warm_start_state(new_arch, old, ["a", "b", "c"], ["c", "a", "d"])
    last_w = [k for k in state if k.endswith("weight")][-1]
    torch.testing.assert_close(state[last_w][0], old[last_w][2])  # c
    torch.testing.assert_close(state[last_w][1], old[last_w][0])  # a
    assert not torch.equal(state[last_w][2], old[last_w][1])  # d: fresh, not b
    torch.testing.assert_close(state["0.weight"], old["0.weight"])  # hidden layer copied
    with pytest.raises(ValueError):
        nets.warm_start_state(nets.Arch("head", (16,), 3, hidden=4), old, ["a", "b", "c"], ["a", "b", "c"])


def test_torch_backend_is_the_module_and_factory_rejects_unknown() -> None:
    x, y = _blobs(n=20)
    model = nets.train(nets.Arch("head", (16,), 3, hidden=0), x, y, nets.TrainConfig(epochs=1), device=CPU)
    backend = make_backend("torch")
    assert isinstance(backend, TorchBackend) and backend.name == "torch"
    np.testing.assert_array_equal(backend.logits(ModelKey("j", 1), model, x), nets.logits(model, x))
    assert ModelKey("abc", 2).name == "job-abc-v2"
    with pytest.raises(ValueError, match="allowed: torch, triton"):
        make_backend("onnx")


def test_cross_fit_gives_held_out_logits_for_every_row() -> None:
    x, y = _blobs(n=200)
    arch = nets.Arch("head", (16,), 3, hidden=0)
    folds = nets.fold_indices(y, 4, seed=0)
    for c in range(3):  # stratified: each class spread evenly over the folds
        counts = np.bincount(folds[y == c], minlength=4)
        assert counts.max() - counts.min() <= 1
    model, oof = nets.cross_fit(arch, x, y, nets.TrainConfig(epochs=10), device=CPU, folds=4)
    assert oof.shape == (200, 3) and np.abs(oof).sum(axis=1).min() > 0
    assert (oof.argmax(axis=1) == y).mean() > 0.9
    assert (nets.logits(model, x).argmax(axis=1) == y).mean() > 0.9


def test_min_steps_trains_a_tiny_set_longer() -> None:
    x, y = _blobs(n=20)
    arch = nets.Arch("head", (16,), 3, hidden=0)
    short = nets.train(arch, x, y, nets.TrainConfig(epochs=1, lr=1e-3), device=CPU)
    longer = nets.train(arch, x, y, nets.TrainConfig(epochs=1, lr=1e-3, min_steps=200), device=CPU)
    loss = torch.nn.functional.cross_entropy
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    with torch.no_grad():
        assert loss(longer(xt), yt) < loss(short(xt), yt)


def test_images_go_in_at_their_own_side_when_smaller_than_the_setting() -> None:
    assert nets.input_side(8, 24) == 16  # 8 x 8 digits: the CNN's least side, not 24
    assert nets.input_side(20, 32) == 24  # rounded up to a multiple of 8
    assert nets.input_side(100, 24) == 24  # photos: the setting caps it
    assert nets.input_side(3024, 512) == 512


def test_soft_targets_put_the_confidence_on_the_label_and_spread_the_rest() -> None:
    t = nets.soft_targets(np.array([0, 2, 1]), np.array([0.7, 0.0, 0.1]), 3)
    np.testing.assert_allclose(t[0], [0.7, 0.15, 0.15], rtol=1e-6)
    np.testing.assert_allclose(t[1], [0.0, 0.0, 1.0])  # unknown confidence: the label as given
    np.testing.assert_allclose(t[2], [1 / 3, 1 / 3, 1 / 3], rtol=1e-6)  # never below uniform
    np.testing.assert_allclose(t.sum(axis=1), 1.0, rtol=1e-6)


def test_a_network_trained_on_an_unsure_label_learns_its_confidence_not_certainty() -> None:
    x = np.ones((64, 4), dtype=np.float32)
    y = np.zeros(64, dtype=np.int64)
    arch = nets.Arch("head", (4,), 2, hidden=0)
    config = nets.TrainConfig(epochs=300, lr=0.05, weight_decay=0.0, augment=False)
    cpu = torch.device("cpu")
    soft = nets.train(arch, x, y, config, device=cpu, confidence=np.full(64, 0.7))
    hard = nets.train(arch, x, y, config, device=cpu)
    p_soft = torch.softmax(torch.as_tensor(nets.logits(soft, x[:1])), 1)[0, 0].item()
    p_hard = torch.softmax(torch.as_tensor(nets.logits(hard, x[:1])), 1)[0, 0].item()
    assert abs(p_soft - 0.7) < 0.03 and p_hard > 0.99


def test_an_arch_record_keeps_its_encoder_and_lexicon_and_omits_them_when_absent() -> None:
    plain = nets.Arch("head", (384,), 2, hidden=256)
    assert "encoder" not in plain.to_json() and "lexicon" not in plain.to_json()  # older records' shape
    assert nets.Arch.from_json(plain.to_json()) == plain
    text = nets.Arch("head", (384,), 2, hidden=256, encoder="j/encoder-1.pt", lexicon="j/v3.lexicon.npz")
    record = text.to_json()
    assert (record["encoder"], record["lexicon"]) == ("j/encoder-1.pt", "j/v3.lexicon.npz")
    assert nets.Arch.from_json(record) == text
