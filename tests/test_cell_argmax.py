"""cell_argmax: the argmax of a bilinear upsample, decided per cell, against torch's full computation."""

import numpy as np
import pytest

from livevision.tasks.segmentation import cell_argmax as cells
from livevision.tasks.segmentation.upsample import resize_linear

torch = pytest.importorskip("torch")


def _torch_argmax(scores: np.ndarray, out_hw) -> np.ndarray:
    up = torch.nn.functional.interpolate(torch.from_numpy(scores)[None], size=out_hw, mode="bilinear",
                                         align_corners=False)
    return up[0].argmax(0).numpy()


def _smooth_scores(classes: int, hw, seed: int, *, coarse=(5, 6), gain=3.0) -> np.ndarray:
    """Class maps with regions and boundaries, like a segmentation model's logits."""
    rng = np.random.default_rng(seed)
    low = torch.from_numpy(rng.standard_normal((1, classes, *coarse)).astype(np.float32))
    return torch.nn.functional.interpolate(low, size=hw, mode="bicubic").numpy()[0] * gain


@pytest.mark.parametrize("out_hw", [(720, 1280), (90, 160), (37, 53), (32, 32), (13, 9), (64, 21)])
@pytest.mark.parametrize("classes", [1, 2, 12, 150])
def test_matches_torch_exactly(out_hw, classes):
    scores = _smooth_scores(classes, (32, 32), seed=classes)
    got = cells.cell_argmax(scores, out_hw)
    assert got.shape == out_hw and got.dtype == np.uint8
    expected = _torch_argmax(scores, out_hw)
    np.testing.assert_array_equal(got, expected)
    if classes >= 12 and min(out_hw) >= 64:
        assert len(np.unique(expected)) >= 4  # boundaries to get right, not one region


def test_noise_every_cell_unsettled():
    scores = np.random.default_rng(1).standard_normal((40, 16, 24)).astype(np.float32)
    np.testing.assert_array_equal(cells.cell_argmax(scores, (100, 130)), _torch_argmax(scores, (100, 130)))


def test_ties_go_to_the_lower_class():
    scores = _smooth_scores(20, (24, 28), seed=5)
    scores[7] = scores[3]
    scores[15] = scores[3]
    got = cells.cell_argmax(scores, (90, 160))
    assert not np.isin(got, [7, 15]).any() and (got == 3).any()
    np.testing.assert_array_equal(got, _torch_argmax(scores, (90, 160)))


def test_a_class_third_at_every_corner_can_still_win():
    """Between two corners where A and B each lead, C (second or third at every corner, never
    first) is the best blend: the cell must be interpolated, not given a corner's winner."""
    scores = np.full((3, 2, 2), -5.0, dtype=np.float32)
    scores[0, :, 0], scores[1, :, 0] = 10.0, 0.0  # A leads on the left column
    scores[0, :, 1], scores[1, :, 1] = 0.0, 10.0  # B on the right
    scores[2] = 6.0  # C: between them everywhere
    got = cells.cell_argmax(scores, (4, 16))
    np.testing.assert_array_equal(got, _torch_argmax(scores, (4, 16)))
    assert (got == 2).any()


def test_more_than_256_classes():
    scores = _smooth_scores(300, (16, 16), seed=2, coarse=(4, 4))
    got = cells.cell_argmax(scores, (50, 70))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, _torch_argmax(scores, (50, 70)))


@pytest.mark.parametrize("region", [(0.125, 0.875, 0.0, 1.0), (0.0, 1.0, -0.1, 1.1), (0.2, 0.7, 0.3, 0.95)])
def test_region_matches_resizing_every_class(region):
    """With padding (or a center crop) the frame maps onto part of the output: compare with each
    class resized by upsample.resize_linear over the same region, then argmax."""
    scores = _smooth_scores(12, (32, 40), seed=9)
    out_hw = (120, 200)
    planes = np.stack([resize_linear(plane, out_hw, region) for plane in scores])
    expected = planes.argmax(0)
    got = cells.cell_argmax(scores, out_hw, region)
    assert (got == expected).mean() >= 0.999
    assert len(np.unique(expected)) >= 4


def test_axis_taps_chunks_cover_every_output_position_once():
    for n_in, n_out, span in [(128, 720, None), (128, 1280, None), (40, 13, None), (32, 120, (0.2, 0.7))]:
        taps = cells.axis_taps(n_in, n_out, span)
        positions = np.full(taps.chunk_source.size * taps.chunk, -1)
        positions[taps.kept] = np.arange(n_out)
        positions = positions.reshape(-1, taps.chunk)
        np.testing.assert_array_equal(taps.chunk_source.repeat((positions >= 0).sum(1)), taps.first)
        np.testing.assert_allclose((taps.chunk_w0 + taps.chunk_w1)[positions >= 0], 1.0, atol=1e-6)
        np.testing.assert_array_equal(taps.chunk_w1[positions >= 0], taps.w1)


def test_one_ulp_leads_are_interpolated_not_trusted(monkeypatch):
    """Class 1 leads class 0 by one float32 step at every source pixel: interpolated and rounded,
    class 0 comes out ahead at some frame pixels. A cell is settled only with a margin, so the
    result is what interpolating every cell gives. (torch itself rounds differently there: its
    vector loops fuse multiply-adds; no implementation reproduces every 1-ulp tie of another.)"""
    rng = np.random.default_rng(7)
    lower = rng.uniform(1.0, 2.0, (12, 14)).astype(np.float32)
    scores = np.stack([lower, np.nextafter(lower, np.float32(np.inf))])
    got = cells.cell_argmax(scores, (97, 131))
    monkeypatch.setattr(cells, "_unsettled_cells", lambda best, *_: np.ones(best.shape, dtype=bool))
    every_cell = cells.cell_argmax(scores, (97, 131))
    assert (every_cell == 0).any() and (every_cell == 1).any()
    np.testing.assert_array_equal(got, every_cell)


def test_a_class_with_a_low_peak_still_wins_where_every_other_is_lower():
    """best_two scans the classes with the highest peaks first: a class whose peak is low but that
    leads (or is runner-up) where everything is low must still be scanned."""
    rng = np.random.default_rng(11)
    scores = rng.uniform(5, 10, (40, 16, 16)).astype(np.float32)  # 40 classes with high peaks...
    scores[:, 8:, 8:] = rng.uniform(-10, -9, (40, 8, 8))  # ...all low in one quadrant,
    scores[33, 8:, 8:] = -1.0  # where a class whose peak is the lowest of all leads
    scores[33, :8, :] = -20.0
    scores[33, 8:, :8] = -20.0
    assert np.argsort(-scores.reshape(40, -1).max(1))[-1] == 33
    got = cells.cell_argmax(scores, (64, 64))
    np.testing.assert_array_equal(got, _torch_argmax(scores, (64, 64)))
    assert (got == 33).sum() > 500
