"""Splitting a frame's host work over the cores: same results as in one part, nothing left running."""

from __future__ import annotations

import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from livevision.tasks import host_split, resample, upsample
from livevision.tasks.host_split import run_parts


def test_run_parts_keeps_order_raises_and_leaves_no_thread():
    before = set(threading.enumerate())
    assert run_parts([lambda i=i: i * i for i in range(5)]) == [0, 1, 4, 9, 16]
    assert run_parts([]) == []

    def boom():
        raise KeyError("part 2")

    with pytest.raises(KeyError, match="part 2"):
        run_parts([lambda: 1, lambda: 2, boom, lambda: 4])
    assert [t for t in threading.enumerate() if t not in before] == []


@pytest.fixture(params=[1, 2, 3, 5])
def parts(request, monkeypatch):
    for module in (upsample, resample):
        monkeypatch.setattr(module, "host_parts", lambda n=request.param: n)
    return request.param


def test_upsampled_argmax_is_torch_s_in_any_number_of_parts(parts):
    rng = np.random.default_rng(3)
    coarse = rng.standard_normal((1, 40, 6, 7)).astype(np.float32)
    scores = torch.nn.functional.interpolate(torch.from_numpy(coarse), size=(24, 28), mode="bicubic").numpy()[0] * 3
    scores[7] = scores[3]  # exact ties: the lower class wins, as torch.argmax's first maximum
    scores[30] = scores[3]
    for out_hw in [(90, 160), (24, 28), (13, 9)]:
        expected = torch.nn.functional.interpolate(torch.from_numpy(scores)[None], size=out_hw, mode="bilinear",
                                                   align_corners=False)[0].argmax(0).numpy()
        got = upsample.upsampled_argmax(scores, out_hw, None)
        assert got.dtype == np.int32
        assert (got == expected).mean() >= 0.9999, out_hw
        assert not np.isin(got, [7, 30]).any()
        assert len(np.unique(expected)) >= 8


def test_exact_resize_is_pillow_s_in_any_number_of_parts(parts):
    from PIL import Image

    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (150, 260, 3), dtype=np.uint8)
    for out_hw, window in [((64, 100), None), ((300, 90), (10, 290, 5, 80)), ((150, 61), None)]:
        # work_bytes=1: one row (or column) per chunk, so every part gets several
        got = resample.ExactResizer((150, 260), out_hw, resample.Filter.BICUBIC, window, work_bytes=1)(image)
        expected = np.asarray(Image.fromarray(image).resize(out_hw[::-1], Image.BICUBIC))
        if window is not None:
            top, bottom, left, right = window
            expected = expected[top:bottom, left:right]
        np.testing.assert_array_equal(got, expected)


def test_host_parts_is_the_physical_core_count():
    from livevision.models.session import physical_cores

    assert host_split.host_parts() == physical_cores() >= 1
