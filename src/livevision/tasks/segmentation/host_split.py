"""Splitting one frame's host work over the cores.

In the live modes a frame's pre-processing, inference and post-processing run one after the other,
so while numpy/OpenCV work on the frame, the cores ONNX Runtime uses are idle: Mask2Former's
window bounds (upsample.window_max_min) split their planes into one part per physical core. OpenCV
and NumPy release the GIL, so the parts run in parallel. The threads live only for the call: nothing
is left running between frames. (Loops of many small calls are not split: their parts only take turns
on the GIL; BENCHMARKS.md, "Measurements behind design choices".)
"""

from __future__ import annotations

import functools
import threading
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")


@functools.lru_cache(maxsize=1)
def host_parts() -> int:
    """How many parts to split a frame's work into: the physical cores."""
    from ...models.session import physical_cores

    return physical_cores()


def run_parts(jobs: Sequence[Callable[[], T]]) -> list[T]:
    """Run every job, the first in this thread and the others each in a thread of its own; return
    their results in order. The first exception (in job order) is raised once all have finished."""
    if len(jobs) <= 1:
        return [job() for job in jobs]
    results: list = [None] * len(jobs)
    errors: list = [None] * len(jobs)

    def work(i: int) -> None:
        try:
            results[i] = jobs[i]()
        except BaseException as exc:  # re-raised in the caller
            errors[i] = exc

    threads = [threading.Thread(target=work, args=(i,), name=f"host-part-{i}", daemon=True)
               for i in range(1, len(jobs))]
    for thread in threads:
        thread.start()
    work(0)
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
    return results
