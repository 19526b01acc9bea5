#!/usr/bin/env python
"""Benchmark livevision against the Hugging Face pipeline and raw ONNX Runtime; write BENCHMARKS.md.

A benchmark, not a test: nothing is asserted, targets are printed next to the figures.

    python scripts/bench.py                                  # all models, writes BENCHMARKS.md
    python scripts/bench.py --models segformer --seconds 10  # quicker, one model
    python scripts/bench.py --skip-pipeline                  # without the PyTorch pipeline (a)
    python scripts/bench.py --seconds 36 --rounds 4          # longer, more rounds: steadier figures

Models are full-size, random-weight copies of the real checkpoints' architectures (see
scripts/bench_models.py), built locally: no Hugging Face Hub access. Per model, on the same
1280x720 frames (decoded from one synthetic H.264 file at 25 fps):
  (a) transformers.pipeline(...) per frame, PyTorch, on PIL images;
  (b) onnxruntime InferenceSession.run on ready tensors (livevision's own session and input
      size): the limit;
  (p) livevision Predictor(frame) per frame: pre + session.run + post, no decode;
  (c) livevision stream(..., pacing="every") over the file: frames / wall time, with decode;
  (d) livevision stream(..., pacing="simulate-live") on the 25 fps file: display FPS,
      inference FPS and result age p95 from the stream's telemetry, and the host pre- plus
      post-processing p50 against the inference p50;
  (e) `livevision run --pacing every --output out.mp4` (app.run, every output written) on a 640x272
      file, beside (b640) session.run on the same file's model inputs, interleaved.
--device cpu|cuda|... picks the execution provider for livevision's sessions (and the PyTorch device for
(a)); --pre-post host|device|auto where livevision's pre/post-processing runs (device: ONNX graphs on
the provider, see livevision.graphs). `--device cpu --pre-post device` runs the GPU code path on the
CPU provider.
A measurement that raises is reported as n/a with its reason; the others go on.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import gc
import logging
import os
import platform
import re
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import bench_models as bm  # noqa: E402

SOURCE_FPS = 25
CHUNKS = 5  # a timed round of >= 10 frames is split into this many equal-count chunks: median chunk rate
log = logging.getLogger("bench")


# --- measurement helpers -----------------------------------------------------------------------


class NA(Exception):
    """A measurement that cannot be made, with the reason to print."""


@dataclass
class Rate:
    fps: float  # median of chunk rates (or overall when too few frames)
    overall_fps: float  # frames / total wall time
    frames: int
    seconds: float
    p50_ms: float | None = None  # median per-call latency, where each call is timed
    round_fps: list[float] = field(default_factory=list)  # per round, when measured in rounds
    round_loads: list[float] = field(default_factory=list)  # other processes' cores during each round
    clean_rounds: int = 0  # rounds with other processes below IDLE_CORES: the figure's rounds


@dataclass
class Cell:
    value: object = None  # a Rate, a dict, ...
    error: str | None = None
    note: str | None = None
    other_cores: float | None = None  # CPU used by other processes during the measurement, in cores


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy ticks of the whole machine, ticks of this process), from /proc."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in fields[:8])
        own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        return user + nice + system + irq + softirq + steal, int(own[11]) + int(own[12])
    except (OSError, ValueError, IndexError):
        return None


class OtherLoad:
    """How many cores other processes kept busy between start() and stop()."""

    def __init__(self):
        self.t0, self.ticks0 = time.monotonic(), _cpu_ticks()

    def cores(self) -> float | None:
        ticks1, wall = _cpu_ticks(), time.monotonic() - self.t0
        if self.ticks0 is None or ticks1 is None or wall <= 0:
            return None
        hz = os.sysconf("SC_CLK_TCK")
        return max(0.0, ((ticks1[0] - self.ticks0[0]) - (ticks1[1] - self.ticks0[1])) / hz / wall)


@dataclass
class ModelResult:
    spec: bm.BenchModel
    parameters: int | None = None
    lv_input: tuple | None = None
    hf_input: tuple | None = None
    export_s: float | None = None
    ort_threads: int | None = None
    torch_threads: int | None = None
    error: str | None = None
    cells: dict[str, Cell] = field(default_factory=dict)
    provider: str | None = None  # livevision's execution provider and where its pre/post-processing ran
    extras: dict = field(default_factory=dict)  # e.g. (e)'s stage latencies


def rate_from_times(start: float, ends: list[float], call_s: list[float] | None = None) -> Rate:
    """Rates from the completion times of consecutive frames after `start`."""
    n = len(ends)
    if n == 0:
        raise NA("no frames completed")
    total = ends[-1] - start
    overall = n / total if total > 0 else float("nan")
    marks = [start] + ends
    chunk_rates = []
    if n >= 2 * CHUNKS:
        size = n // CHUNKS
        for c in range(CHUNKS):
            a, b = c * size, (c + 1) * size if c < CHUNKS - 1 else n
            span = marks[b] - marks[a]
            if span > 0:
                chunk_rates.append((b - a) / span)
    fps = statistics.median(chunk_rates) if chunk_rates else overall
    p50 = statistics.median(call_s) * 1e3 if call_s else None
    return Rate(fps, overall, n, total, p50)


def timed_loop(fn: Callable[[int], object], seconds: float, max_calls: int | None = None, min_calls: int = 1) -> Rate:
    """Call fn(i) for i = 0, 1, ... until `seconds` have passed (and at least min_calls); time each call."""
    ends, calls = [], []
    start = time.perf_counter()
    i = 0
    while True:
        t0 = time.perf_counter()
        fn(i)
        t1 = time.perf_counter()
        ends.append(t1)
        calls.append(t1 - t0)
        i += 1
        if (t1 - start >= seconds and i >= min_calls) or (max_calls is not None and i >= max_calls):
            break
    return rate_from_times(start, ends, calls)


def first_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, NA) else text


WAIT_IDLE_S = 0.0  # set from --wait-idle
IDLE_CORES = 0.3


def wait_for_quiet() -> None:
    """On a shared machine, wait (at most WAIT_IDLE_S) until other processes use < IDLE_CORES cores."""
    deadline = time.monotonic() + WAIT_IDLE_S
    while time.monotonic() < deadline:
        probe = OtherLoad()
        time.sleep(2.0)
        busy = probe.cores()
        if busy is None or busy < IDLE_CORES:
            return
        log.info("    waiting for a quieter machine (other processes use %.2f cores)", busy)


def run_cell(result: ModelResult, name: str, fn: Callable[[], object]) -> None:
    wait_for_quiet()
    log.info("  %s ...", name)
    started = time.perf_counter()
    load = OtherLoad()
    try:
        out = fn()
        result.cells[name] = out if isinstance(out, Cell) else Cell(out)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # report and go on
        log.debug("%s failed:\n%s", name, traceback.format_exc())
        result.cells[name] = Cell(error=first_line(exc))
    cell = result.cells[name]
    cell.other_cores = load.cores()
    busy = f", other processes used {cell.other_cores:.2f} cores" if cell.other_cores is not None else ""
    log.info("  %s: %s (%.0f s%s)", name, cell.error or describe(cell.value), time.perf_counter() - started, busy)
    gc.collect()


def describe(value) -> str:
    if isinstance(value, Rate):
        extra = f", p50 {value.p50_ms:.1f} ms" if value.p50_ms is not None else ""
        if value.round_fps:
            extra += ", rounds " + " / ".join(f"{x:.2f}" for x in value.round_fps)
        return f"{value.fps:.2f} fps ({value.frames} frames in {value.seconds:.1f} s{extra})"
    return str(value)


# --- the livevision stream API -------------------------------------------------------------


def open_stream(source: Path, task: str, predictor, pacing: str):
    """A livevision.Stream over `source` with `pacing` (its .stats hold the telemetry)."""
    from livevision import Stream

    return Stream(str(source), {task: predictor}, pacing)


def close_stream(stream, iterator) -> None:
    for obj in (iterator, stream):
        close = getattr(obj, "close", None)
        if callable(close):
            try:
                close()
            except Exception as exc:  # closing must not hide the figures
                log.warning("closing the stream: %s", first_line(exc))


def pick_task(mapping, task: str):
    """A value of a by-task mapping, keyed by the task name or the Task enum."""
    if not isinstance(mapping, dict) or not mapping:
        return None
    for k, v in mapping.items():
        if str(getattr(k, "value", k)) == task:
            return v
    return next(iter(mapping.values())) if len(mapping) == 1 else None


# --- one model ---------------------------------------------------------------------------------


@dataclass
class Runner:
    """One throughput measurement, run in rounds: prepare() warms up once, run(seconds) times a round."""

    name: str
    prepare: Callable[[], None]
    run: Callable[[float], Rate]
    note: str | None = None
    rounds: list[Rate] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)
    error: str | None = None


def round_robin(result: ModelResult, runners: list[Runner], seconds: float, rounds: int) -> None:
    """Run the measurements interleaved, `rounds` times each (order rotated every round), so that a
    busy spell on the shared machine hits all of them alike; each gets seconds / rounds per round."""
    for r in runners:
        log.info("  %s: warm-up ...", r.name)
        try:
            r.prepare()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            log.debug("%s warm-up failed:\n%s", r.name, traceback.format_exc())
            r.error = first_line(exc)
            log.info("  %s: %s", r.name, r.error)
    per_round = seconds / rounds
    for k in range(rounds):
        live = [r for r in runners if r.error is None]
        live = live[k % len(live):] + live[: k % len(live)] if live else []
        for r in live:
            wait_for_quiet()
            load = OtherLoad()
            try:
                rate = r.run(per_round)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                log.debug("%s failed:\n%s", r.name, traceback.format_exc())
                r.error = first_line(exc)
                log.info("  %s round %d: %s", r.name, k + 1, r.error)
                continue
            busy = load.cores()
            r.rounds.append(rate)
            if busy is not None:
                r.loads.append(busy)
            log.info("  %s round %d/%d: %s%s", r.name, k + 1, rounds, describe(rate),
                     f", other processes used {busy:.2f} cores" if busy is not None else "")
            gc.collect()
    for r in runners:
        if r.error is not None and not r.rounds:
            result.cells[r.name] = Cell(error=r.error, note=r.note)
            continue
        # Other jobs only ever slow a round down: where some rounds ran on a quiet machine, the
        # figure comes from those alone.
        pairs = list(zip(r.rounds, r.loads)) if len(r.loads) == len(r.rounds) else [(x, None) for x in r.rounds]
        clean_pairs = [(x, load) for x, load in pairs if load is not None and load < IDLE_CORES]
        clean = [x for x, _ in clean_pairs]
        used = clean or r.rounds
        used_loads = [load for _, load in (clean_pairs or pairs) if load is not None]
        calls = [x.p50_ms for x in used if x.p50_ms is not None]
        agg = Rate(
            fps=statistics.median(x.fps for x in used),
            overall_fps=sum(x.frames for x in used) / sum(x.seconds for x in used),
            frames=sum(x.frames for x in used),
            seconds=sum(x.seconds for x in used),
            p50_ms=statistics.median(calls) if calls else None,
            round_fps=[x.fps for x in r.rounds],
            round_loads=list(r.loads),
            clean_rounds=len(clean),
        )
        note = r.note
        if not clean:
            note = (note + "; " if note else "") + (
                f"no round of this measurement ran on a quiet machine (other processes used >= {IDLE_CORES} "
                "cores throughout): pessimistic")
        if r.error is not None:
            note = (note + "; " if note else "") + f"a later round failed: {r.error}"
        result.cells[r.name] = Cell(agg, note=note, other_cores=statistics.mean(used_loads) if used_loads else None)
        log.info("  %s: %s", r.name, describe(agg))


def measure_model(spec: bm.BenchModel, args, video: Path, cache: Path) -> ModelResult:
    result = ModelResult(spec)
    log.info("%s (%s)", spec.key, spec.hub_id)
    model = load_model(result, spec, args, video, cache)
    if model is None:
        return result
    runners = [session_runner(model)]
    if args.predictor:
        runners.append(predictor_runner(model))
    runners.append(every_runner(model, spec, video))
    if not args.skip_pipeline:
        runners.append(pipeline_runner(result, model, spec, args))
    else:
        result.cells["a"] = Cell(error="skipped (--skip-pipeline)")
    runners += every_with_outputs(result, spec, args, model.folder, cache, model.predictor)
    round_robin(result, runners, args.seconds, args.rounds)
    runners = None  # frees (a)'s pipeline
    model.prepared = None  # free the pool before (d)
    gc.collect()
    if args.live:
        run_cell(result, "d", lambda: simulate_live(model, spec, args, video))
    model = None
    gc.collect()
    return result


@dataclass
class LoadedModel:
    """What measure_model's stages share: the exported model, livevision's Predictor and the frame pool."""

    folder: Path
    entry: object  # the export cache entry
    runtime: object  # livevision's LoadOptions
    predictor: object
    frames: list[np.ndarray]
    prepared: list | None  # (b)'s ready tensors, on the host; None once the throughput rounds are done


def load_model(result: ModelResult, spec: bm.BenchModel, args, video: Path, cache: Path) -> LoadedModel | None:
    """Build and export the model, load its Predictor, decode and pre-process the frame pool; None (with
    result.error) if any of it fails."""
    try:
        folder, result.parameters = bm.build_model_folder(spec, cache / "hf")
        log.info("  %s: %.2fM parameters (real checkpoint: ~%gM)", folder, result.parameters / 1e6,
                 spec.expected_params_m)
        from livevision.models.export import export_model
        from livevision.options import LoadOptions
        from livevision.predictor import Predictor
        from livevision.types import Task

        t0 = time.perf_counter()
        entry = export_model(folder, spec.task, cache_dir=cache / "onnx")
        result.export_s = time.perf_counter() - t0
        runtime = LoadOptions(device=args.device, pre_post=args.pre_post)
        predictor = Predictor(entry, Task.parse(spec.task), runtime=runtime)
        result.ort_threads = predictor.session.get_session_options().intra_op_num_threads
        frames = bm.decode_frames(video, args.pool)
        if not frames:
            raise NA(f"no frames decoded from {video}")
        placed = predictor.place(frames[0])  # --pre-post auto measures each stage on the first frame
        result.provider = (f"{predictor.session.get_providers()[0]}, pre-processing on the {placed.pre}, "
                           f"post-processing on the {placed.post}")
        prepared = [predictor.preprocessor(f) for f in frames]  # (b)'s ready tensors, on the host
        result.lv_input = tuple(prepared[0].pixel_values.shape[2:])
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        log.debug("%s setup failed:\n%s", spec.key, traceback.format_exc())
        result.error = first_line(exc)
        log.info("  setup failed: %s", result.error)
        return None
    return LoadedModel(folder, entry, runtime, predictor, frames, prepared)


def cycling(fn: Callable[[int], object]) -> Callable[[int], object]:
    """A timed_loop call that goes on through the frame pool where the last round stopped: fn(0), fn(1), ..."""
    counter = [0]

    def call(_i):
        i = counter[0]
        counter[0] += 1
        return fn(i)

    return call


def session_runner(model: LoadedModel) -> Runner:
    """(b) raw ORT on ready tensors: the limit."""
    predictor = model.predictor
    session, outputs, input_name = predictor.session, list(predictor.architecture.outputs), predictor.input_name

    def b_prepare():
        for pr in model.prepared[:3]:
            session.run(outputs, {input_name: pr.pixel_values})

    b_call = cycling(lambda i: session.run(outputs, {input_name: model.prepared[i % len(model.prepared)].pixel_values}))
    return Runner("b", b_prepare, lambda sec: timed_loop(b_call, sec, min_calls=2))


def predictor_runner(model: LoadedModel) -> Runner:
    """(p) livevision Predictor per frame: pre + run + post, no decode, no threads."""
    predictor, frames = model.predictor, model.frames

    def p_prepare():
        for f in frames[:2]:
            predictor(f)

    p_call = cycling(lambda i: predictor(frames[i % len(frames)]))
    return Runner("p", p_prepare, lambda sec: timed_loop(p_call, sec, min_calls=2))


def every_runner(model: LoadedModel, spec: bm.BenchModel, video: Path) -> Runner:
    """(c) livevision `every` over the file: decode + pre + infer + post, the engine's threads."""
    predictor = model.predictor

    def make_every():
        try:
            return open_stream(video, spec.task, predictor, "every")
        except TypeError as exc:
            if "pacing" not in str(exc):
                raise
            import livevision

            c_runner.note = "engine without `pacing` yet: measured with the current sequential livevision.stream()"
            return livevision.stream(str(video), spec.task, models={spec.task: predictor})

    def c_prepare():  # open the file, start the threads, a few frames
        s = make_every()
        it = iter(s)
        try:
            for k, _ in enumerate(it):
                if k >= 2:
                    break
        finally:
            close_stream(s, it)

    def c_run(sec):
        s = make_every()
        ends = []
        start = time.perf_counter()
        it = iter(s)
        try:
            for _packet in it:
                now = time.perf_counter()
                ends.append(now)
                if now - start >= sec and len(ends) >= 2:
                    break
        finally:
            close_stream(s, it)
        if len(ends) < 2:
            raise NA(f"the stream ended after {len(ends)} packets")
        return rate_from_times(start, ends)

    c_runner = Runner("c", c_prepare, c_run)
    return c_runner


def pipeline_runner(result: ModelResult, model: LoadedModel, spec: bm.BenchModel, args) -> Runner:
    """(a) the per-frame HF pipeline on PyTorch, on PIL images."""
    a_state: dict = {}

    def a_prepare():
        import cv2
        import torch
        import transformers
        from PIL import Image
        from transformers import AutoImageProcessor

        transformers.logging.set_verbosity_error()
        result.torch_threads = torch.get_num_threads()
        processor = AutoImageProcessor.from_pretrained(model.folder, use_fast=False)
        pil = [Image.fromarray(cv2.cvtColor(f, cv2.COLOR_BGR2RGB)) for f in model.frames]
        result.hf_input = tuple(processor(pil[0], return_tensors="np")["pixel_values"].shape[2:])
        pipe = transformers.pipeline(spec.pipeline_task, model=str(model.folder), image_processor=processor,
                                     device=args.device if args.device.startswith("cuda") else "cpu")
        for img in pil[:2]:
            pipe(img)
        a_state.update(pipe=pipe, pil=pil)

    a_call = cycling(lambda i: a_state["pipe"](a_state["pil"][i % len(a_state["pil"])]))
    return Runner("a", a_prepare, lambda sec: timed_loop(a_call, sec, min_calls=2))


def simulate_live(model: LoadedModel, spec: bm.BenchModel, args, video: Path) -> dict:
    """(d) simulate-live on the 25 fps file: real time, one run."""
    from livevision.predictor import Predictor
    from livevision.types import Task

    # Stream.open() loads its models with `live=True` (no ORT thread spinning); do the same.
    runtime = dataclasses.replace(model.runtime, live=True)
    live_predictor = Predictor(model.entry, Task.parse(spec.task), runtime=runtime)
    s = open_stream(video, spec.task, live_predictor, "simulate-live")
    stats = s.stats
    start = time.perf_counter()
    it = iter(s)
    packets = 0
    try:
        for _packet in it:
            packets += 1
            if time.perf_counter() - start >= args.live_seconds:
                break
    finally:
        close_stream(s, it)
    summary = stats.summary()
    return {"summary": summary, "packets": packets, "seconds": time.perf_counter() - start}


def every_with_outputs(result, spec: bm.BenchModel, args, folder: Path, cache: Path, predictor) -> list[Runner]:
    """(e) `livevision run --pacing every --output out.mp4` on a 640x272 file, as a user runs it (app.run:
    decode, pre, inference, post, render, H.264 encode), and (b640) session.run on that file's model inputs."""
    if spec.key not in args.every_output_models.split(","):
        return []
    from livevision.app import run
    from livevision.options import LoadOptions, ModelOptions, OutputOptions, RunOptions, SourceOptions
    from livevision.types import Task

    small = bm.make_video(cache / "media" / f"synthetic-640x272-{SOURCE_FPS}fps-{args.small_frames}.mp4",
                          args.small_frames, SOURCE_FPS, size_wh=(640, 272))
    inputs = [predictor.preprocessor(f).pixel_values for f in bm.decode_frames(small, 8)]
    session, names, input_name = predictor.session, list(predictor.architecture.outputs), predictor.input_name
    counter = [0]

    def raw(_i):
        counter[0] += 1
        return session.run(names, {input_name: inputs[counter[0] % len(inputs)]})

    def e_run(_sec) -> Rate:  # the whole file: its length sets the round's duration
        stats = cache / "every-output-stats.json"
        task = Task.parse(spec.task)
        code = run(RunOptions(
            tasks=(task,), source=SourceOptions(source=str(small), pacing="every"),
            model=ModelOptions(models={task: str(folder)}, load_options=LoadOptions(
                cache_dir=cache / "onnx", precision="fp32", device=args.device, pre_post=args.pre_post, live=True)),
            output=OutputOptions(video=cache / "every-output.mp4", stats=stats, display=False)))
        if code != 0:
            raise NA(f"livevision run exited with {code}")
        summary = json.loads(stats.read_text(encoding="utf-8"))
        shown = summary["frames"]["displayed"]
        result.extras["e_latency_ms"] = summary.get("latency_ms")
        return Rate(fps=summary["display_fps"], overall_fps=summary["display_fps"], frames=shown,
                    seconds=shown / summary["display_fps"])

    return [Runner("b640", lambda: raw(0), lambda sec: timed_loop(raw, sec, min_calls=2)),
            Runner("e", lambda: None, e_run, note=f"{args.small_frames} frames of 640x272, --output out.mp4, fp32")]


# --- raw figures (bench-cache/last-run.json) ---------------------------------------------------


def result_to_json(res: ModelResult) -> dict:
    cells = {}
    for name, cell in res.cells.items():
        value = dataclasses.asdict(cell.value) if isinstance(cell.value, Rate) else cell.value
        cells[name] = {"rate": isinstance(cell.value, Rate), "value": value, "error": cell.error, "note": cell.note,
                       "other_cores": cell.other_cores}
    return {"key": res.spec.key, "parameters": res.parameters, "lv_input": res.lv_input, "hf_input": res.hf_input,
            "export_s": res.export_s, "ort_threads": res.ort_threads, "torch_threads": res.torch_threads,
            "error": res.error, "cells": cells, "provider": res.provider, "extras": res.extras}


def result_from_json(data: dict) -> ModelResult:
    res = ModelResult(bm.MODELS[data["key"]], data["parameters"],
                      tuple(data["lv_input"]) if data["lv_input"] else None,
                      tuple(data["hf_input"]) if data["hf_input"] else None,
                      data["export_s"], data["ort_threads"], data["torch_threads"], data["error"])
    for name, c in data["cells"].items():
        value = Rate(**c["value"]) if c["rate"] else c["value"]
        res.cells[name] = Cell(value, c["error"], c["note"], c["other_cores"])
    res.provider, res.extras = data.get("provider"), data.get("extras") or {}
    return res


# --- report ------------------------------------------------------------------------------------


def system_file_lines(path: str) -> list[str]:
    """The lines of a system file; none where it cannot be read (another OS, a sandbox)."""
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def machine() -> dict:
    info = {}
    for line in system_file_lines("/proc/cpuinfo"):
        if ":" in line:
            k, v = (x.strip() for x in line.split(":", 1))
            info.setdefault(k, v)
    cpu = info.get("model name", "unknown")
    extra = ([f"family {info['cpu family']}, model {info['model']}"]
             if "cpu family" in info and "model" in info else [])
    flags = set(info.get("flags", "").split())
    isa = [x for x, f in (("AVX-512", "avx512f"), ("AVX-512 VNNI", "avx512_vnni"), ("AVX2", "avx2")) if f in flags]
    if isa:
        extra.append(isa[0] if isa[0] != "AVX-512" or "avx512_vnni" not in flags else "AVX-512 with VNNI")
    if extra:
        cpu += f" ({'; '.join(extra)})"
    ram = "unknown"
    for line in system_file_lines("/proc/meminfo"):
        if line.startswith("MemTotal"):
            ram = f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
    os_name = platform.platform()
    for line in system_file_lines("/etc/os-release"):
        if line.startswith("PRETTY_NAME="):
            os_name = f"{line.split('=', 1)[1].strip(chr(34))} ({platform.release()})"
    from importlib import metadata

    versions = {}
    for mod, dist in (("onnxruntime", "onnxruntime"), ("torch", "torch"), ("transformers", "transformers"),
                      ("optimum", "optimum"), ("optimum-onnx", "optimum-onnx"), ("numpy", "numpy"),
                      ("cv2", "opencv-python-headless")):
        try:
            versions[mod] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            try:
                versions[mod] = __import__(mod).__version__
            except Exception:
                versions[mod] = "not installed"
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    return {"cpu": cpu, "cores": f"{os.cpu_count()} logical ({affinity} usable by this process)", "ram": ram,
            "os": os_name, "python": platform.python_version(), **versions}


def fmt(x, digits=2, unit="") -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}f}{unit}"


def rate_of(cell: Cell | None) -> float | None:
    if cell is None or cell.error or not isinstance(cell.value, Rate):
        return None
    return cell.value.fps


def cell_text(cell: Cell | None, marks: list[str]) -> str:
    if cell is None:
        return "not run"
    if cell.error:
        marks.append(cell.error)
        return f"n/a [{len(marks)}]"
    text = fmt(cell.value.fps) if isinstance(cell.value, Rate) else str(cell.value)
    if cell.note:
        marks.append(cell.note)
        text += f" [{len(marks)}]"
    return text


def ratio(x, y) -> float | None:
    return x / y if x is not None and y else None


def target(value, want, op=">=") -> str:
    if value is None:
        return "n/a"
    ok = value >= want if op == ">=" else value <= want
    return f"{value:.2f} ({op} {want:g} {'✓' if ok else '✗'})"


def live_figures(res: ModelResult, b_rate: Rate | None):
    cell = res.cells.get("d")
    if cell is None or cell.error or not isinstance(cell.value, dict):
        return None
    summary = cell.value["summary"]
    task = res.spec.task
    display = summary.get("display_fps")
    capture = summary.get("capture_fps")
    inference = pick_task(summary.get("inference_fps"), task)
    age = pick_task(summary.get("result_age_ms"), task) or {}
    new_age = pick_task(summary.get("new_result_age_ms"), task) or {}
    latency = summary.get("latency_ms") or {}
    infer_stage = next((v for k, v in latency.items() if "infer" in str(k).lower()), None)
    if infer_stage and infer_stage.get("p50") is not None:
        lat_ms, lat_src = float(infer_stage["p50"]), "stream's inference p50"
    elif b_rate is not None and b_rate.p50_ms is not None:
        lat_ms, lat_src = b_rate.p50_ms, "(b) session.run p50"
    else:
        lat_ms, lat_src = None, "n/a"
    bound = 1.5 * lat_ms + 1000.0 / SOURCE_FPS if lat_ms is not None else None
    return {
        "display": display, "capture": capture, "inference": inference, "age_p50": age.get("p50"),
        "age_p95": age.get("p95"), "new_age_p50": new_age.get("p50"), "new_age_p95": new_age.get("p95"),
        "latency_ms": lat_ms, "latency_src": lat_src, "bound": bound,
        "frames": summary.get("frames"), "latency": latency,
    }


def host_share(latency: dict, task: str) -> dict | None:
    """The stream's pre + post p50 over its inference p50, from telemetry stage latencies."""
    p50 = {k: v.get("p50") for k, v in latency.items()}
    pre, inference, post = (p50.get(f"{task}.{stage}") for stage in ("preprocess", "inference", "postprocess"))
    if None in (pre, inference, post) or not inference:
        return None
    return {"pre": pre, "post": post, "inference": inference, "share": (pre + post) / inference}


def every_output_section(results: list[ModelResult], args, marks: list[str]) -> list[str]:
    rows = [r for r in results if not r.error and "e" in r.cells]
    if not rows:
        return []
    lines = [
        "## `every` with its outputs on: a 640x272 file",
        "",
        "- (b640) `session.run` on the model inputs of the 640x272 file's frames: the limit.",
        "- (e) `livevision run --pacing every --output out.mp4` on the 640x272 file (`app.run`: decode, pre, "
        "inference, post, render and H.264 encode): the display rate from its `--stats`.",
        "",
        "| model | (b640) ORT run | (e) every + --output | (e)/(b640) (target >= 0.9 for SegFormer) | "
        "stage p50 ms in (e) |",
        "|---|---|---|---|---|",
    ]
    for res in rows:
        b, e = res.cells.get("b640"), res.cells.get("e")
        share = ratio(rate_of(e), rate_of(b))
        stages = ", ".join(f"{k} {fmt(v.get('p50'), 1)}" for k, v in (res.extras.get("e_latency_ms") or {}).items())
        lines.append(f"| {res.spec.key} | {cell_text(b, marks)} | {cell_text(e, marks)} | "
                     f"{target(share, 0.9) if res.spec.key == 'segformer' else fmt(share)} | {stages or 'n/a'} |")
    return lines + [""]


def report(results: list[ModelResult], args, mach: dict, video: Path, started: str, loads: tuple,
           argv: list[str]) -> str:
    marks: list[str] = []  # footnotes, numbered in the order the sections below add them
    sections = [
        intro_section(args, video, started, argv),
        machine_section(mach, started, loads),
        throughput_section(results, args, marks),
        every_output_section(results, args, marks),
        live_section(results, marks),
        background_section(results),
        notes_section(results),
        footnotes_section(marks),
        reproduce_section(),
    ]
    return "\n".join(line for section in sections for line in section)


def intro_section(args, video: Path, started: str, argv: list[str]) -> list[str]:
    return [
        "# Benchmarks",
        "",
        f"Generated by `{' '.join(['python scripts/bench.py', *argv])}` on {started}.",
        "",
        "**Models: full-size, random weights, real configs.** Each model is built locally from the real "
        "checkpoint's architecture config and pre-processing config (same layers, sizes, input resolution: "
        "same compute per frame), with random weights; nothing is downloaded. Outputs are meaningless; speed is "
        "what is measured. Config sources are in `scripts/bench_models.py`. The SegFormer classifier's bias "
        "keeps 12 of the 150 classes in play so that post-processing sees a realistic number of classes per frame "
        "(random weights put ~70 classes in every frame; a real ADE20k model shows ~5-20).",
        "",
        "**Precision**: livevision's figures, (b) to (e), run the FP32 export (`export_model`, i.e. "
        f"`precision=\"fp32\"`) with `--device {getattr(args, 'device', 'cpu')}` and "
        f"`--pre-post {getattr(args, 'pre_post', 'auto')}` (where each model ran: Notes) with livevision's session "
        "options; `load_model`'s default `precision=\"auto\"` may choose a faster variant on the machine at hand "
        "(see `scripts/bench_precision.py`).",
        "",
        f"**Frames**: 1280x720, synthetic and photo-like (gradients, textured ground, moving shapes, noise), "
        f"encoded to one H.264 MP4 at {SOURCE_FPS} fps ({args.frames} frames, `{video.name}`); (a), (b) and (p) "
        f"cycle over its first {args.pool} decoded frames, (c) and (d) decode the file from its start.",
        "",
        f"**Timing**: after a warm-up, (a), (b), (p) and (c) run interleaved in {args.rounds} rounds of "
        f"~{args.seconds / args.rounds:g} s each (order rotated every round), so that load from other jobs hits "
        f"them alike; a figure is the median of its rounds that ran while other processes used < {IDLE_CORES} "
        f"cores (of all its rounds when none did; footnoted) (a round's rate: frames / time, or the median of "
        f"{CHUNKS} equal chunks when it has >= {2 * CHUNKS} frames). (d) plays the file in real time for "
        f"{args.live_seconds:g} s.",
        "",
    ]


def machine_section(mach: dict, started: str, loads: tuple) -> list[str]:
    lines = [
        "## Machine",
        "",
        "| | |",
        "|---|---|",
    ]
    for k in ("cpu", "cores", "ram", "os", "python", "onnxruntime", "torch", "transformers", "optimum",
              "optimum-onnx", "numpy", "cv2"):
        lines.append(f"| {k} | {mach[k]} |")
    return lines + [
        f"| load average | {loads[0]} at start, {loads[1]} at end |",
        f"| date | {started} |",
        "",
        "The machine is shared with other jobs: the figures are noisy (expect ±10-20 %); compare columns "
        "of one run rather than runs.",
        "",
    ]


def row_name(res: ModelResult) -> str:
    return f"{res.spec.key} (`{res.spec.hub_id}`)"


def session_rate(res: ModelResult) -> Rate | None:
    """(b)'s Rate, if it was measured."""
    b = res.cells.get("b")
    return b.value if b is not None and isinstance(b.value, Rate) else None


def throughput_section(results: list[ModelResult], args, marks: list[str]) -> list[str]:
    lines = [
        "## Throughput (frames per second; higher is better)",
        "",
        "- (a) `transformers.pipeline(task, model=folder, image_processor=AutoImageProcessor(use_fast=False))`, "
        "PyTorch, one PIL image per call (RGB conversion done beforehand; no decode).",
        "- (b) `onnxruntime.InferenceSession.run` on ready `pixel_values` from `Predictor.preprocess(frame)`, "
        "livevision's own session (same options): the limit.",
        "- (p) livevision `Predictor(frame)`: pre + run + post on a decoded frame, one at a time, no threads.",
        "- (c) livevision `stream(video, task, models=..., pacing=\"every\")`: packets / wall time, including "
        "decode, pre- and post-processing.",
        "",
        "| model | params | input HxW (livevision / HF) | (a) HF pipeline | (b) ORT run | (b) p50 ms | (p) Predictor | "
        "(c) every | (c)/(b) target | (c)/(a) target |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        name = row_name(res)
        if res.error:
            marks.append(res.error)
            lines.append(f"| {name} | n/a | n/a [{len(marks)}] |" + " n/a |" * 7)
            continue
        a, b, p, c = (res.cells.get(k) for k in "abpc")
        ra, rb, rc = rate_of(a), rate_of(b), rate_of(c)
        b_rate = session_rate(res)
        inp = "x".join(map(str, res.lv_input)) if res.lv_input else "n/a"
        hf = "x".join(map(str, res.hf_input)) if res.hf_input else "n/a"
        ca_want = 4.0 if res.spec.key == "segformer" else None
        ca = ratio(rc, ra)
        ca_text = target(ca, ca_want) if ca_want is not None else fmt(ca)
        lines.append(
            f"| {name} | {res.parameters / 1e6:.2f}M | {inp} / {hf} | {cell_text(a, marks)} | {cell_text(b, marks)} | "
            f"{fmt(b_rate.p50_ms if b_rate else None, 1)} | {cell_text(p, marks) if args.predictor else 'not run'} | "
            f"{cell_text(c, marks)} | {target(ratio(rc, rb), 0.9)} | {ca_text} |"
        )
    return lines + per_round_table(results) + [
        "",
        "Targets (printed, not asserted): (c) >= 0.9 x (b); (c) >= 4 x (a) for SegFormer-B0.",
        "",
    ]


def per_round_table(results: list[ModelResult]) -> list[str]:
    lines = [
        "",
        f"Per round (fps), to show the spread; * marks a round during which other processes used >= {IDLE_CORES} "
        "cores (not counted in the figure when the measurement has quiet rounds):",
        "",
        "| model | (a) | (b) | (p) | (c) |",
        "|---|---|---|---|---|",
    ]
    for res in results:
        if res.error:
            continue
        row = []
        for k in "abpc":
            c = res.cells.get(k)
            if c is None or not isinstance(c.value, Rate) or not c.value.round_fps:
                row.append("n/a")
                continue
            loads = (c.value.round_loads if len(c.value.round_loads) == len(c.value.round_fps)
                     else [None] * len(c.value.round_fps))
            row.append(" / ".join(f"{x:.2f}" + ("*" if load is not None and load >= IDLE_CORES else "")
                                  for x, load in zip(c.value.round_fps, loads)))
        lines.append(f"| {res.spec.key} | " + " | ".join(row) + " |")
    return lines


def live_section(results: list[ModelResult], marks: list[str]) -> list[str]:
    live_rows = [(row_name(res), res, session_rate(res)) for res in results if not res.error]
    lines = [
        f"## Live: `pacing=\"simulate-live\"` on the {SOURCE_FPS} fps file",
        "",
        "From the stream's telemetry (`stream.stats.summary()`). Result age: over every displayed frame, how old "
        "the frame behind its result is; age of a new result: the same, at the moment a result is first shown "
        "(where the telemetry has it). Target (printed, not asserted): display >= 0.95 x source fps; result age "
        f"p95 <= 1.5 x inference latency + one frame interval ({1000 / SOURCE_FPS:.0f} ms).",
        "",
        "| model | capture fps | display fps | display / source | inference fps | result age p50 / p95 ms | "
        "bound: 1.5 x L + 40 ms (L from) | age of a new result p50 / p95 ms | "
        "frames captured / displayed / dropped / inferred |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, res, b_rate in live_rows:
        cell = res.cells.get("d")
        if cell is None:
            lines.append(f"| {name} | not run |" + " |" * 7)
            continue
        if cell.error:
            marks.append(cell.error)
            lines.append(f"| {name} | n/a [{len(marks)}] |" + " n/a |" * 7)
            continue
        f = live_figures(res, b_rate)
        frames = f["frames"] or {}
        inferred = pick_task(frames.get("inferred"), res.spec.task)
        within = (f["age_p95"] <= f["bound"]) if f["age_p95"] is not None and f["bound"] is not None else None
        lines.append(
            f"| {name} | {fmt(f['capture'])} | {fmt(f['display'])} | {target(ratio(f['display'], SOURCE_FPS), 0.95)} | "
            f"{fmt(f['inference'])} | {fmt(f['age_p50'], 0)} / {fmt(f['age_p95'], 0)} | "
            f"{fmt(f['bound'], 0)} ({f['latency_src']}, L = {fmt(f['latency_ms'], 1)} ms) "
            f"{'' if within is None else ('✓' if within else '✗')} | "
            f"{fmt(f['new_age_p50'], 0)} / {fmt(f['new_age_p95'], 0)} | "
            f"{frames.get('captured', 'n/a')} / {frames.get('displayed', 'n/a')} / {frames.get('dropped', 'n/a')} / "
            f"{inferred if inferred is not None else 'n/a'} |"
        )
    stage_lines = live_stage_lines(live_rows)
    if stage_lines:
        lines += [""] + stage_lines
    return lines + [""]


def live_stage_lines(live_rows: list[tuple[str, ModelResult, Rate | None]]) -> list[str]:
    """Per model: the host's pre + post share of the inference time, and the stage latencies."""
    stage_lines = []
    for name, res, b_rate in live_rows:
        f = live_figures(res, b_rate)
        host = host_share(f["latency"], res.spec.task) if f and f["latency"] else None
        if host is not None:
            want = " (target <= 0.10)" if res.spec.key == "segformer" else ""
            mark = ("" if not want else " ✓" if host["share"] <= 0.10 else " ✗")
            stage_lines.append(
                f"- {res.spec.key}: pre-processing {host['pre']:.1f} ms + post-processing {host['post']:.1f} ms "
                f"(p50, {res.provider or 'host'}) against inference {host['inference']:.1f} ms: "
                f"{host['share']:.3f}{want}{mark}.")
        if f and f["latency"]:
            stages = ", ".join(f"{k} {fmt(v.get('p50'), 1)} / {fmt(v.get('p95'), 1)}" for k, v in f["latency"].items())
            total = sum(float(v["p50"]) for v in f["latency"].values() if v.get("p50") is not None)
            stage_lines.append(
                f"- {res.spec.key}: stage latency p50 / p95 ms: {stages}. With one frame in flight, results come "
                f"every Lt = {total:.0f} ms (sum of the stage p50s) and each is shown until the next, so its age "
                f"sweeps Lt..2 Lt (plus up to one frame interval waiting for a frame): expect age p50 ~ "
                f"{1.5 * total:.0f}-{1.5 * total + 1000 / SOURCE_FPS:.0f} ms, p95 ~ "
                f"{1.95 * total:.0f}-{1.95 * total + 1000 / SOURCE_FPS:.0f} ms."
            )
    return stage_lines


def background_section(results: list[ModelResult]) -> list[str]:
    lines = [
        "## Background load",
        "",
        "CPU used by other processes during each measurement (mean over the rounds its figure uses), in cores "
        "(from /proc/stat minus this process; "
        f"the machine has {os.cpu_count()}). Above ~0.25 the figure in that column is pessimistic.",
        "",
        "| model | (a) | (b) | (p) | (c) | (d) |",
        "|---|---|---|---|---|---|",
    ]
    for res in results:
        if res.error:
            continue
        row = [fmt(res.cells[k].other_cores) if k in res.cells and res.cells[k].other_cores is not None else "n/a"
               for k in "abpcd"]
        lines.append(f"| {res.spec.key} | " + " | ".join(row) + " |")
    return lines + [""]


def notes_section(results: list[ModelResult]) -> list[str]:
    lines = ["## Notes", ""]
    for res in results:
        if res.export_s is not None:
            lines.append(f"- {res.spec.key}: {res.parameters:,} parameters "
                         f"(real checkpoint ~{res.spec.expected_params_m}M); "
                         f"export/cache lookup {res.export_s:.1f} s; ORT intra-op threads "
                         f"{res.ort_threads or 'default (0)'}, torch threads {res.torch_threads or 'n/a'}; "
                         f"{res.provider or 'CPUExecutionProvider'}.")
    return lines


def footnotes_section(marks: list[str]) -> list[str]:
    if not marks:
        return []
    return ["", "Footnotes:", ""] + [f"{i}. {m}" for i, m in enumerate(marks, 1)]


def reproduce_section() -> list[str]:
    return [
        "",
        "Reproduce: `. .venv/bin/activate && python scripts/bench.py` (about 4 min per model on a quiet 2-core "
        "machine once cached; the first run also builds and exports each model). Random-weight model folders, "
        "ONNX exports, the video and the raw figures (`last-run.json`; `--report-only` re-renders this page "
        "from them) are kept under `bench-cache/`.",
        "",
    ]


def write_report(path: Path, text: str) -> None:
    """Write this run's report to `path`, keeping the sections other runs own: everything from the first
    `<!-- name:begin -->` marker line on (bench_precision.py's section, the soak, ...)."""
    kept = ""
    if path.exists():
        old = path.read_text(encoding="utf-8")
        at = next((m.start() for m in re.finditer(r"^<!-- [\w-]+:begin -->$", old, re.M)), None)
        kept = old[at:] if at is not None else ""
    path.write_text(text.rstrip("\n") + "\n\n" + kept if kept else text, encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(bm.MODELS), help=f"comma-separated, from {', '.join(bm.MODELS)}")
    parser.add_argument("--frames", type=int, default=750, help=f"frames in the synthetic {SOURCE_FPS} fps video "
                        "(default 750 = 30 s)")
    parser.add_argument("--seconds", type=float, default=40.0,
                        help="timed seconds per throughput measurement, split over --rounds (default 40)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="throughput measurements run interleaved, this many rounds each (default 5)")
    parser.add_argument("--live-seconds", type=float, default=20.0,
                        help="how long (d) plays the file in simulate-live (default 20; the file's length at most)")
    parser.add_argument("--pool", type=int, default=48, help="decoded frames that (a), (b), (p) cycle over")
    parser.add_argument("--out", default=str(REPO / "BENCHMARKS.md"), help="markdown file to write")
    parser.add_argument("--cache-dir", default=str(REPO / "bench-cache"), help="models, exports, video")
    parser.add_argument("--skip-pipeline", action="store_true", help="skip (a), the PyTorch pipeline")
    parser.add_argument("--no-predictor", dest="predictor", action="store_false", help="skip (p)")
    parser.add_argument("--no-live", dest="live", action="store_false", help="skip (d), simulate-live")
    parser.add_argument("--device", default="cpu", help="livevision's --device (cpu, cuda, cuda:1, tensorrt...) and "
                        "(a)'s PyTorch device (cuda* or cpu); default cpu")
    parser.add_argument("--pre-post", default="auto", choices=["auto", "host", "device"],
                        help="where livevision's pre/post-processing runs "
                             "(default auto: device on a GPU, host on the CPU)")
    parser.add_argument("--every-output-models", default="segformer", metavar="KEYS",
                        help="models that get (e), every with --output on a 640x272 file "
                             "(default segformer; '' for none)")
    parser.add_argument("--small-frames", type=int, default=60, help="frames in (e)'s 640x272 file (default 60)")
    parser.add_argument("--wait-idle", type=float, default=30.0, metavar="S",
                        help="before each measurement, wait up to S seconds for other processes to use < "
                        f"{IDLE_CORES} cores (default 30; 0: do not wait)")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: re-render --out from the raw figures of the last run "
                        "(<cache-dir>/last-run.json)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("livevision", "transformers", "optimum", "torch"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    raw_path = Path(args.cache_dir) / "last-run.json"
    if args.report_only:
        saved = json.loads(raw_path.read_text(encoding="utf-8"))
        results = [result_from_json(r) for r in saved["results"]]
        text = report(results, argparse.Namespace(**saved["args"]), saved["machine"], Path(saved["video"]),
                      saved["started"], tuple(saved["loads"]), saved["argv"])
        print(text)
        write_report(Path(args.out), text)
        log.info("wrote %s from %s", args.out, raw_path)
        return 0
    keys = [k.strip() for k in args.models.split(",") if k.strip()]
    unknown = [k for k in keys if k not in bm.MODELS]
    if unknown:
        parser.error(f"unknown model {', '.join(unknown)}; choose from {', '.join(bm.MODELS)}")
    args.pool = max(1, min(args.pool, args.frames))
    args.rounds = max(1, args.rounds)
    global WAIT_IDLE_S
    WAIT_IDLE_S = max(0.0, args.wait_idle)

    started = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    load0 = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    cache = Path(args.cache_dir)
    log.info("video: %d frames, 1280x720, %d fps ...", args.frames, SOURCE_FPS)
    video = bm.make_video(cache / "media" / f"synthetic-1280x720-{SOURCE_FPS}fps-{args.frames}.mp4", args.frames,
                          SOURCE_FPS)
    results = [measure_model(bm.MODELS[k], args, video, cache) for k in keys]
    load1 = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    mach = machine()
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    raw_path.write_text(json.dumps({
        "args": vars(args), "argv": sys.argv[1:] if argv is None else list(argv), "machine": mach,
        "video": str(video), "started": started, "loads": [load0, load1],
        "results": [result_to_json(r) for r in results],
    }, indent=1, default=str), encoding="utf-8")
    text = report(results, args, mach, video, started, (load0, load1), sys.argv[1:] if argv is None else list(argv))
    print(text)
    write_report(Path(args.out), text)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
