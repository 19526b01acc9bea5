"""topk_order is torch.topk(sorted=False)'s order on the CPU, element for element (its two paths, ties, NaN)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from livevision.tasks.segmentation.topk_order import topk_order  # noqa: E402


@pytest.mark.parametrize("values", ["distinct", "ties", "sorted", "nan"])
@pytest.mark.parametrize("classes", [3, 20, 63, 64, 150])  # nth_element below 64 classes, partial_sort from 64
def test_topk_order_is_torchs(values, classes):
    rng = np.random.default_rng(classes)
    for queries in (1, 7, 50, 100):
        n = queries * classes
        flat = {"distinct": lambda: rng.random(n), "ties": lambda: rng.integers(0, 6, n),
                "sorted": lambda: np.sort(rng.random(n)), "nan": lambda: rng.random(n)}[values]().astype(np.float32)
        if values == "nan":
            flat[rng.integers(0, n, 3)] = np.nan
        want = torch.from_numpy(flat).topk(queries, sorted=False).indices.numpy()
        np.testing.assert_array_equal(topk_order(flat, queries), want)
