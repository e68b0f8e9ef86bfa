from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from quorum_inference.adapters.features import FeatureError, ImageLoader, image_path


def test_image_path_accepts_paths_and_file_uris_only() -> None:
    assert image_path("/data/a b.png") == Path("/data/a b.png")
    assert image_path("file:///data/a%20b.png") == Path("/data/a b.png")
    with pytest.raises(ValueError, match="unsupported image URI scheme 's3'"):
        image_path("s3://bucket/x.png")


def test_images_are_resized_rgb_in_unit_range(tmp_path: Path) -> None:
    gray = tmp_path / "g.png"
    Image.fromarray(np.full((8, 12), 255, np.uint8), mode="L").save(gray)
    color = tmp_path / "c.jpg"
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(color)
    x = ImageLoader(16).load([str(gray), color.as_uri()])
    assert x.shape == (2, 3, 16, 16) and x.dtype == np.float32
    assert np.allclose(x[0], 1.0) and np.allclose(x[1], 0.0)


def test_unreadable_images_name_the_object(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    ok = tmp_path / "ok.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(ok)
    loader = ImageLoader(8)
    for uris, index in (
        ([str(ok), str(bad)], 1),
        ([str(tmp_path / "missing.png")], 0),
        (["http://x/y.png"], 0),
    ):
        with pytest.raises(FeatureError) as info:
            loader.load(uris)
        assert info.value.index == index and f"objects[{index}]" in str(info.value)


def test_native_side_is_the_median_longer_side_and_load_takes_a_side(tmp_path: Path) -> None:
    uris = []
    for i, (w, h) in enumerate([(8, 8), (10, 30), (100, 60)]):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.full((h, w), 128, np.uint8), mode="L").save(path)
        uris.append(str(path))
    loader = ImageLoader(32)
    assert loader.native_side(uris) == 30
    assert loader.load(uris, 16).shape == (3, 3, 16, 16)
    assert loader.load(uris).shape == (3, 3, 32, 32)  # the same image at two sides: two cache entries
    with pytest.raises(FeatureError, match=r"objects\[1\]"):
        loader.native_side([uris[0], str(tmp_path / "missing.png")])
