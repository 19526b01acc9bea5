"""Where a Predictor's pre- and post-processing run: on the host (the numpy Preprocessor, the task's head)
or on the device (ONNX graphs on the model's provider, livevision.graphs), each stage on its own.

`--pre-post host|device` places both stages as told. `auto` measures, per model and per stage, on the
first frame (Predictor.place; the engines call it before they time that frame's pre-processing), on every
provider but the CPU's (HOST_PROVIDERS: there both stages run on the host, unmeasured):

    pre  host:   Preprocessor(frame), its pixel_values uploaded to the device
    pre  device: the pre-processing graph on the uint8 frame (uploaded), pixel_values left on the device
    post host:   the model's outputs downloaded, then the head's numpy post-processing
    post device: the post-processing graph on the outputs left on the device (only the result comes down)

Each candidate runs once to warm up, then up to REPEATS times, alternating with its rival (the median
is kept); a candidate CLEARLY_SLOWER than its rival after a round stops there, so a slow path costs
two runs at start-up. A stage moves away from the provider's preferred place (PREFERRED) only when the
other is faster by PLACEMENT_MIN_GAIN and PLACEMENT_MIN_SAVING_S, so that timing noise does not flip
choices.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from .models.providers import CPU
from .types import PrePost

log = logging.getLogger(__name__)

#: How much faster per frame the other place must be for a stage to leave its preferred place: by this
#: ratio, and by this many seconds (a smaller saving is noise beside the model: ViT's top-k graph on the
#: CPU saved 0.13 ms a frame, and would have made the results depend on a timing).
PLACEMENT_MIN_GAIN = 1.1
PLACEMENT_MIN_SAVING_S = 0.001
#: Timed runs per candidate (after one warm-up run), and the ratio at which a candidate stops early.
REPEATS = 3
CLEARLY_SLOWER = 3.0
#: Where a stage runs on a tie, per provider: the host on the CPU provider (the graphs run on the same
#: cores, and the numpy path skips work they do: ../shared/gpu/README.md), the device elsewhere (it leaves
#: the host's cores to the other stages and keeps the frame's tensors off the bus).
PREFERRED = {CPU: PrePost.HOST}
#: Providers whose "device" is the host: their graphs run on the host's own cores with nothing to transfer,
#: and measured 8-356x slower than the numpy path here but for a top-k saving 0.13 ms (README, --pre-post).
#: `auto` places both stages on the host there without measuring: a choice that hung on a timing would
#: change, from run to run, what Predictor.infer returns (arrays or device values), for no gain.
HOST_PROVIDERS = frozenset({CPU})
CPU_REASON = "the CPU provider: its graphs run on the host's own cores, slower than the numpy path"


def measured_on(provider: str) -> bool:
    """Whether `auto` measures the stages on this provider (not on the host's own: HOST_PROVIDERS)."""
    return provider not in HOST_PROVIDERS


def preferred(provider: str) -> PrePost:
    return PREFERRED.get(provider, PrePost.DEVICE)


@dataclass(frozen=True)
class Placement:
    """Where each stage runs; ms: for `auto`, the measured median milliseconds per frame of each
    candidate ("pre_host", "pre_device", "post_host", "post_device"; None where there is no device
    graph for the stage), None when the option placed them."""

    pre: PrePost
    post: PrePost
    ms: Mapping[str, float | None] | None = None
    why: str | None = None  # for `auto` without a measurement: the reason

    def report(self) -> dict:
        """JSON-safe: {"pre": "host", "post": "device", "ms": {...} or None} (and "why" where it says one)."""
        ms = None if self.ms is None else {k: None if v is None else round(v, 3) for k, v in self.ms.items()}
        return {"pre": self.pre.value, "post": self.post.value, "ms": ms, **({"why": self.why} if self.why else {})}


@dataclass(frozen=True)
class DeviceStages:
    """The device graphs of one model: pre (DevicePreprocessor), post (None where the task has no graph
    for this model) and the binder that runs the model with IO binding."""

    pre: Any
    post: Any
    binder: Any


def build_device_stages(predictor) -> DeviceStages:
    """The device graphs of `predictor`'s model, on its session's provider."""
    from .graphs.chain import Binder
    from .graphs.device_stages import DevicePreprocessor, device_postprocessor

    runtime = predictor.runtime
    kwargs = dict(intra_op_threads=runtime.intra_op_threads, live=runtime.live)
    pre = DevicePreprocessor(predictor.preprocessor, predictor.session, **kwargs)
    post = device_postprocessor(predictor.head, predictor.loaded.output_shapes, predictor.session, **kwargs)
    return DeviceStages(pre, post, Binder(predictor.session))


def time_candidates(candidates: Mapping[str, Callable[[], Any] | None], clock: Callable[[], float],
                    repeats: int = REPEATS) -> dict[str, float | None]:
    """Median seconds per run of each candidate (None: no such candidate), after a warm-up run each;
    the rounds alternate between candidates; a candidate CLEARLY_SLOWER than the fastest after a round
    is not run again."""
    running = {name: work for name, work in candidates.items() if work is not None}
    if not running:
        return dict.fromkeys(candidates)
    for work in running.values():
        work()
    times: dict[str, list[float]] = {name: [] for name in running}
    for _ in range(repeats):
        for name, work in running.items():
            started = clock()
            work()
            times[name].append(clock() - started)
        fastest = min(statistics.median(t) for t in times.values())
        running = {n: w for n, w in running.items() if statistics.median(times[n]) <= CLEARLY_SLOWER * fastest}
    return {name: statistics.median(times[name]) if name in times else None for name in candidates}


def choose(host_s: float | None, device_s: float | None, prefer: PrePost, gain: float = PLACEMENT_MIN_GAIN,
           saving_s: float = PLACEMENT_MIN_SAVING_S) -> PrePost:
    """Where one stage runs: `prefer` unless the other place is faster by `gain` and by `saving_s` seconds
    (no device time: host)."""
    if device_s is None:
        return PrePost.HOST
    if host_s is None:
        return PrePost.DEVICE
    preferred_s, other_s = (host_s, device_s) if prefer is PrePost.HOST else (device_s, host_s)
    if preferred_s >= gain * other_s and preferred_s - other_s >= saving_s:
        return PrePost.DEVICE if prefer is PrePost.HOST else PrePost.HOST
    return prefer


def measure(predictor, frame: np.ndarray, stages: DeviceStages, clock: Callable[[], float]) -> Placement:
    """Each stage of `predictor` timed on the host and on the device (`stages`) on `frame`, and placed."""
    preprocessor, binder = predictor.preprocessor, stages.binder
    pre = time_candidates({"host": lambda: binder.upload(preprocessor(frame).pixel_values),
                           "device": lambda: stages.pre(frame)}, clock)
    prepared = preprocessor(frame)
    outputs = binder.run(predictor.session, {predictor.input_name: prepared.pixel_values},
                         predictor.architecture.outputs)  # left on the device, as device post takes them
    device_post = None
    if stages.post is not None and stages.post(outputs, prepared) is not None:  # None: input not covered
        def device_post():
            return stages.post(outputs, prepared)
    post = time_candidates({"host": lambda: predictor.head.postprocess([o.numpy() for o in outputs], prepared),
                            "device": device_post}, clock)
    prefer = preferred(predictor.provider)
    ms = {f"{stage}_{where}": None if s is None else s * 1e3
          for stage, times in (("pre", pre), ("post", post)) for where, s in times.items()}
    return Placement(choose(pre["host"], pre["device"], prefer), choose(post["host"], post["device"], prefer), ms)


def log_placement(name: str, placement: Placement) -> None:
    """The choice, and for `auto` the figures behind it, logged once per model."""
    if placement.ms is None:
        why = f" ({placement.why})" if placement.why else ""
        log.info("%s: pre-processing on the %s, post-processing on the %s%s", name, placement.pre, placement.post,
                 why)
        return
    figures = ", ".join(f"{k} {'-' if v is None else f'{v:.1f}'}" for k, v in placement.ms.items())
    log.info("%s: pre-processing on the %s, post-processing on the %s (measured, ms per frame: %s)", name,
             placement.pre, placement.post, figures)
