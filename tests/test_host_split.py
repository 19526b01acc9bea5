"""Splitting a frame's host work over the cores: same results as in one part, nothing left running."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from livevision.tasks.segmentation import host_split, upsample
from livevision.tasks.segmentation.host_split import run_parts


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
    monkeypatch.setattr(upsample, "host_parts", lambda n=request.param: n)
    return request.param


def test_window_max_min_is_the_same_in_any_number_of_parts(parts):
    """Mask2Former's bound: max and min over forward windows, edges replicated, for each plane."""
    scores = np.random.default_rng(3).standard_normal((7, 9, 11)).astype(np.float32)
    ly, lx = 3, 2
    upper, lower = upsample.window_max_min(scores, (ly, lx))
    padded = np.pad(scores, ((0, 0), (0, ly - 1), (0, lx - 1)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (ly, lx), axis=(1, 2))
    np.testing.assert_array_equal(upper, windows.max(axis=(3, 4)))
    np.testing.assert_array_equal(lower, windows.min(axis=(3, 4)))


def test_host_parts_is_the_physical_core_count():
    from livevision.models.session import physical_cores

    assert host_split.host_parts() == physical_cores() >= 1
