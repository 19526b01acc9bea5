"""The order in which `torch.topk(values, k, sorted=False)` returns its k largest values on the CPU.

transformers' MaskFormer / Mask2Former instance post-processing takes the top num_queries (query, class)
scores with `topk(num_queries, sorted=False)` and paints the instances in that order, later ones over
earlier ones: the order decides which instance keeps an overlap, and it is the order of the pipeline's
output. torch's CPU kernel (ATen TopKImpl.h) fills a queue of (value, index) pairs in index order, then
- when k * 64 <= n: std::partial_sort of the first k (the k largest, sorted, largest first);
- otherwise: std::nth_element at k - 1, and with sorted=False nothing more: the first k in the order
  libstdc++'s introselect (median-of-three Hoare partitions, insertion sort of the last small range,
  heap select when the recursion runs too deep) leaves them.
`topk_order` reproduces both, comparator included ("x > y", NaN first), so the order is torch's to the
element. The nth_element path is plain Python over the n values: well under a millisecond for a few
hundred (a tiny model), ~8 ms for the 12,600 of 200 queries x 63 classes, its largest n. The
partial_sort path is numpy's sort unless the k + 1 largest values hold a tie (then Python, ~12 ms for
30,000).
"""

from __future__ import annotations

import math

import numpy as np


def topk_order(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest of the 1-D `values`, in the order torch.topk(sorted=False) gives them on
    the CPU (int64)."""
    flat = np.asarray(values).reshape(-1)
    n = flat.size
    k = min(int(k), n)
    if k <= 0:
        return np.zeros(0, np.int64)
    if k * 64 <= n:
        fast = _sorted_top_without_ties(flat, k)
        if fast is not None:
            return fast
    queue = list(zip(flat.tolist(), range(n)))
    if k * 64 <= n:
        _heap_select(queue, 0, k, n)
        _sort_heap(queue, 0, k)
    else:
        _introselect(queue, 0, k - 1, n, 2 * int(math.log2(n)))
    return np.fromiter((index for _, index in queue[:k]), np.int64, count=k)


def _sorted_top_without_ties(flat: np.ndarray, k: int) -> np.ndarray | None:
    """partial_sort's result when it is the only possible one: the k + 1 largest values are distinct
    numbers, so no tie can be ordered either way. None otherwise (ties or NaN: the heap decides)."""
    if k >= flat.size or np.isnan(flat).any():
        return None
    top = np.argpartition(-flat, k)[:k + 1]
    values = flat[top]
    if np.unique(values).size != k + 1:
        return None
    return top[np.argsort(-values)][:k].astype(np.int64)


def _greater(x: tuple[float, int], y: tuple[float, int]) -> bool:
    """torch's comparator for largest: NaN before numbers, then larger first (indices never compared)."""
    a, b = x[0], y[0]
    return (a != a and b == b) or a > b


def _introselect(q: list, first: int, nth: int, last: int, depth: int) -> None:
    while last - first > 3:
        if depth == 0:
            _heap_select(q, first, nth + 1, last)
            q[first], q[nth] = q[nth], q[first]
            return
        depth -= 1
        cut = _partition_pivot(q, first, last)
        if cut <= nth:
            first = cut
        else:
            last = cut
    _insertion_sort(q, first, last)


def _partition_pivot(q: list, first: int, last: int) -> int:
    mid = first + (last - first) // 2
    _move_median_to_first(q, first, first + 1, mid, last - 1)
    pivot = q[first]
    lo, hi = first + 1, last
    while True:
        while _greater(q[lo], pivot):
            lo += 1
        hi -= 1
        while _greater(pivot, q[hi]):
            hi -= 1
        if not lo < hi:
            return lo
        q[lo], q[hi] = q[hi], q[lo]
        lo += 1


def _move_median_to_first(q: list, result: int, a: int, b: int, c: int) -> None:
    if _greater(q[a], q[b]):
        if _greater(q[b], q[c]):
            pick = b
        elif _greater(q[a], q[c]):
            pick = c
        else:
            pick = a
    elif _greater(q[a], q[c]):
        pick = a
    elif _greater(q[b], q[c]):
        pick = c
    else:
        pick = b
    q[result], q[pick] = q[pick], q[result]


def _insertion_sort(q: list, first: int, last: int) -> None:
    for i in range(first + 1, last):
        value = q[i]
        if _greater(value, q[first]):
            q[first + 1:i + 1] = q[first:i]
            q[first] = value
            continue
        j = i
        while _greater(value, q[j - 1]):
            q[j] = q[j - 1]
            j -= 1
        q[j] = value


# --- libstdc++'s heap (a max-heap under the comparator: its "largest" is the smallest value) -----------


def _adjust_heap(q: list, first: int, hole: int, length: int, value) -> None:
    top = hole
    child = hole
    while child < (length - 1) // 2:
        child = 2 * (child + 1)
        if _greater(q[first + child], q[first + child - 1]):
            child -= 1
        q[first + hole] = q[first + child]
        hole = child
    if length % 2 == 0 and child == (length - 2) // 2:
        child = 2 * (child + 1)
        q[first + hole] = q[first + child - 1]
        hole = child - 1
    parent = (hole - 1) // 2  # __push_heap
    while hole > top and _greater(q[first + parent], value):
        q[first + hole] = q[first + parent]
        hole = parent
        parent = (hole - 1) // 2
    q[first + hole] = value


def _make_heap(q: list, first: int, last: int) -> None:
    length = last - first
    if length < 2:
        return
    parent = (length - 2) // 2
    while True:
        _adjust_heap(q, first, parent, length, q[first + parent])
        if parent == 0:
            return
        parent -= 1


def _pop_heap(q: list, first: int, last: int, result: int) -> None:
    value = q[result]
    q[result] = q[first]
    _adjust_heap(q, first, 0, last - first, value)


def _heap_select(q: list, first: int, middle: int, last: int) -> None:
    _make_heap(q, first, middle)
    for i in range(middle, last):
        if _greater(q[i], q[first]):
            _pop_heap(q, first, middle, i)


def _sort_heap(q: list, first: int, last: int) -> None:
    while last - first > 1:
        last -= 1
        _pop_heap(q, first, last, last)
