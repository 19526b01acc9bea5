"""Several cameras in one process (issue 30): N processes with one source each against one MultiStream over the
N sources, side by side; written to BENCHMARKS.md between its `<!-- multi:begin -->` / `<!-- multi:end -->`
markers.

(a) N processes at once, each `Stream.open(source_i, "segmentation", model=B0, pacing=...)` and a loop over
its packets (what `livevision run --source source_i --no-display` runs, less its drawing); (b) one process,
`MultiStream.open([source_0, ...], ...)` and a loop over its merged packets, with 1 and 2 inference threads
where MultiStream has that knob. The model: the benchmark's full-size SegFormer-B0 (random weights, FP32, CPU;
bench-cache/, built here when missing). The sources: N generated 640x360 H.264 clips of different content at
25 fps played as live cameras (`simulate-live`), or with --rtsp N live RTSP streams of tests/rtsp_server.py
(pacing `live`). Each configuration runs in child processes of this script: once every source has shown its
first result, and after a warm-up, all children measure the same window of wall time; the configurations
alternate over rounds (their order rotated), so that load from other jobs hits them alike.

    python scripts/bench_multi.py [--sources 4] [--seconds 30] [--warmup 5] [--rounds 2] [--rtsp] [--quick]
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import json
import os
import platform
import queue
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from bench_sections import markers, write_section

BEGIN, END = markers("multi")
ROOT = Path(__file__).resolve().parent.parent
TASK = "segmentation"
SIZE_WH = (640, 360)
FPS = 25
THREAD_KNOBS = ("threads", "workers", "inference_threads", "worker_threads")  # MultiStream's, whichever it has


# --- the model and the sources ---------------------------------------------------------------------


def prepare_model(cache: Path) -> Path:
    """The full-size SegFormer-B0 folder (random weights), exported once so that no child exports it."""
    import bench_models as bm
    from livevision.models.export import export_model

    folder, _ = bm.build_model_folder(bm.MODELS["segformer"], cache / "hf")
    export_model(folder, TASK, cache_dir=cache / "onnx")
    return folder


def clip_frame(k: int, i: int) -> np.ndarray:
    """Frame i of clip k: the benchmark's synthetic scene, each clip at its own moment, mirrored and tinted."""
    import bench_models as bm

    frame = bm.synthetic_frame(i + 337 * k, *SIZE_WH)
    if k % 2:
        frame = frame[:, ::-1]
    if k % 4 >= 2:
        frame = frame[..., ::-1]
    return np.ascontiguousarray(frame)


def make_clip(path: Path, k: int, frames: int) -> Path:
    """Clip k as an H.264 MP4 at FPS; reused when it exists with the same length."""
    import bench_models as bm

    meta = path.with_suffix(".json")
    want = {"clip": k, "frames": frames, "fps": FPS, "size": list(SIZE_WH)}
    if path.is_file() and meta.is_file() and json.loads(meta.read_text()) == want:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.mp4")
    cmd = [bm.find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
           "-s", "%dx%d" % SIZE_WH, "-framerate", str(FPS), "-i", "pipe:0", "-c:v", "libx264", "-preset",
           "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-g", str(2 * FPS), str(tmp)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    try:
        for i in range(frames):
            proc.stdin.write(clip_frame(k, i).tobytes())
    finally:
        proc.stdin.close()
        if proc.wait(timeout=300) != 0:
            raise SystemExit(f"ffmpeg failed writing {tmp}")
    tmp.replace(path)
    meta.write_text(json.dumps(want))
    return path


# --- a child: one configuration's process -------------------------------------------------------------


class Window:
    """The measuring window [start, end] (time.monotonic, shared by all processes), read from stdin."""

    def __init__(self):
        self.start = self.end = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        line = sys.stdin.readline().split()
        if len(line) == 2:
            self.start, self.end = map(float, line)
        else:  # the parent has gone: end now
            self.start = self.end = time.monotonic()

    def holds(self, now: float) -> bool:
        return self.start is not None and self.start <= now <= self.end

    def over(self, now: float) -> bool:
        return self.end is not None and now > self.end


class Tally:
    """What the packets of each source show: first result, new results and result ages in the window."""

    def __init__(self, sources: int, launched: float):
        self.launched = launched
        self.first = [None] * sources
        self.shown = [None] * sources  # the frame behind each source's last shown result
        self.inferred = [0] * sources
        self.ages = [[] for _ in range(sources)]
        self.new_ages = [[] for _ in range(sources)]
        self.cpu: list[float] = []  # this process's CPU seconds at the window's start and end
        self.last_in_window = None

    def add(self, i: int, output, now: float, window: Window) -> None:
        if output is None:
            return
        if self.first[i] is None:
            self.first[i] = now - self.launched
        new = output.frame_index != self.shown[i]
        self.shown[i] = output.frame_index
        if window.holds(now):
            if not self.cpu:
                self.cpu.append(cpu_seconds())
            self.last_in_window = now
            age = (now - output.captured_at) * 1e3
            self.ages[i].append(age)
            if new:
                self.inferred[i] += 1
                self.new_ages[i].append(age)

    def summary(self, names: list[str], window: Window, ended_early: bool) -> dict:
        self.cpu.append(cpu_seconds())
        end = self.last_in_window if ended_early else window.end
        return {"names": names, "first_result_s": self.first, "inferred": self.inferred,
                "seconds": (end or 0) - (window.start or 0), "ended_early": ended_early,
                "age_p50": [pct(a, 50) for a in self.ages], "age_p95": [pct(a, 95) for a in self.ages],
                "new_age_p95": [pct(a, 95) for a in self.new_ages],
                "cpu_s": self.cpu[-1] - self.cpu[0],
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def thread_knob() -> str | None:
    """MultiStream.open's keyword for its inference threads, if it has one."""
    import livevision

    params = inspect.signature(livevision.MultiStream.open).parameters
    return next((name for name in THREAD_KNOBS if name in params), None)


def child(args) -> None:
    """Open the sources (one: a Stream; several: a MultiStream), say "ready" once each shows a result, then
    tally the window the parent sends and print the summary as one "result {json}" line."""
    import livevision
    from livevision.types import Task

    load = {"model": args.model, "pacing": args.pacing, "cache_dir": args.cache_dir, "precision": "fp32",
            "device": "cpu"}
    if args.config == "a":
        stream = livevision.Stream.open(args.child_sources[0], TASK, **load)
        names = [stream.info.name]
    else:
        knob = thread_knob()
        extra = {knob: args.threads} if knob and args.threads else {}
        stream = livevision.MultiStream.open(list(args.child_sources), TASK, **load, **extra)
        names = list(stream.names)
    task, window = Task.parse(TASK), Window()
    tally, ready, ended_early = Tally(len(names), args.launched), False, True
    try:
        for packet in stream:
            now = time.monotonic()
            tally.add(packet.source_index, packet.outputs.get(task), now, window)
            if not ready and all(f is not None for f in tally.first):
                ready = True
                print("ready", flush=True)
            if window.over(now):
                ended_early = False
                break
    finally:
        stream.close()
    print("result " + json.dumps(tally.summary(names, window, ended_early)), flush=True)


# --- the parent: runs and measures a configuration -----------------------------------------------------


class Child:
    """A child process of this script and the lines it prints."""

    def __init__(self, cmd: list[str], log: Path):
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
        self.lines: queue.Queue[str] = queue.Queue()
        self.log = log
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put("exited")

    def expect(self, word: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line.startswith(word):
                return line[len(word):].strip()
            if line == "exited":
                raise SystemExit(f"a child exited before '{word}': see {self.log}")
        raise SystemExit(f"no '{word}' from a child within {timeout:.0f} s: see {self.log}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Sampler(threading.Thread):
    """The children's summed resident memory (VmRSS), sampled every 0.2 s: its peak."""

    def __init__(self, pids: list[int]):
        super().__init__(daemon=True)
        self.pids, self.peak_mb, self.done = pids, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            self.peak_mb = max(self.peak_mb, sum(proc_field(pid, "status", "VmRSS:") for pid in self.pids) / 1024)


def proc_field(pid: int | str, name: str, key: str) -> int:
    """A number in /proc/<pid>/<name>: the first after `key` (status), or utime + stime (stat); 0 when gone."""
    try:
        text = Path(f"/proc/{pid}/{name}").read_text()
    except OSError:
        return 0
    if name == "stat":
        fields = text.rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    return next((int(line.split()[1]) for line in text.splitlines() if line.startswith(key)), 0)


def busy_ticks() -> int:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # all but idle and iowait


def loadavg() -> str:
    return ", ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_config(config: str, sources: list[str], args, folder: Path) -> dict:
    """One configuration, measured: "a" (a process per source) or "b1"/"b2" (one process, 1 or 2 threads)."""
    groups = [[s] for s in sources] if config == "a" else [sources]
    launched = time.monotonic()
    children = []
    for group in groups:
        cmd = [sys.executable, __file__, "--child", config[0], "--launched", repr(launched), "--model", str(folder),
               "--cache-dir", str(args.cache / "onnx"), "--pacing", args.pacing, "--threads", config[1:] or "0",
               *group]
        children.append(Child(cmd, args.logs / f"{config}.log"))
    sampler = Sampler([c.proc.pid for c in children])
    sampler.start()
    try:
        for c in children:
            c.expect("ready", args.load_timeout)
        start = time.monotonic() + args.warmup
        for c in children:
            c.proc.stdin.write(f"{start!r} {start + args.seconds!r}\n")
            c.proc.stdin.flush()
        time.sleep(max(0.0, start - time.monotonic()))
        before = (busy_ticks(), sum(proc_field(c.proc.pid, "stat", "") for c in children), loadavg())
        time.sleep(max(0.0, start + args.seconds - 0.05 - time.monotonic()))
        after = (busy_ticks(), sum(proc_field(c.proc.pid, "stat", "") for c in children), loadavg())
        results = [json.loads(c.expect("result", 60)) for c in children]
    finally:
        sampler.done.set()
        for c in children:
            c.close()
    others = ((after[0] - before[0]) - (after[1] - before[1])) / os.sysconf("SC_CLK_TCK") / args.seconds
    return combine(config, results, sampler.peak_mb, max(0.0, others), (before[2], after[2]))


def combine(config: str, results: list[dict], peak_mb: float, others: float, loads: tuple) -> dict:
    """The children's summaries as one: per source (in the order given) and in all."""
    def joined(key):
        return [v for r in results for v in r[key]]

    inferred = joined("inferred")
    seconds = min(r["seconds"] for r in results)
    total = sum(inferred)
    return {"config": config, "names": joined("names"), "inferred": inferred, "seconds": seconds,
            "fps": total / seconds if seconds > 0 else None, "share": [n / total if total else None for n in inferred],
            "age_p50": joined("age_p50"), "age_p95": joined("age_p95"), "new_age_p95": joined("new_age_p95"),
            "first_result_s": joined("first_result_s"), "rss_mb": sum(r["maxrss_mb"] for r in results),
            "peak_rss_mb": peak_mb, "cpu_ms_per_inference": 1e3 * sum(r["cpu_s"] for r in results) / max(total, 1),
            "other_cores": others, "loadavg": loads, "ended_early": any(r["ended_early"] for r in results)}


# --- the report ------------------------------------------------------------------------------------


def label(config: str) -> str:
    if config == "a":
        return "(a) a process per source"
    return "(b) one MultiStream" + (f", {config[1:]} inference thread{'s' if config[1:] != '1' else ''}"
                                    if config[1:] else "")


def f(value, digits: int = 1) -> str:
    return "--" if value is None else f"{value:.{digits}f}"


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def rounds_table(rounds: list[list[dict]]) -> list[str]:
    lines = ["| round | configuration | inferred / s, all sources | per source | peak RSS MB: sum of each "
             "process's (peak of the sum) | CPU ms per inference | first result s, median / last | other "
             "processes' cores; load average before / after |", "|---|---|---|---|---|---|---|---|"]
    for n, results in enumerate(rounds, 1):
        for r in results:
            per = " / ".join(f"{x / r['seconds']:.2f}" for x in r["inferred"])
            firsts = [x for x in r["first_result_s"] if x is not None]
            mark = " (a source ended early)" if r["ended_early"] else ""
            lines.append(f"| {n} | {label(r['config'])} | {f(r['fps'], 2)}{mark} | {per} | {r['rss_mb']:.0f} "
                         f"({r['peak_rss_mb']:.0f}) | {r['cpu_ms_per_inference']:.0f} | {f(median(firsts))} / "
                         f"{f(max(firsts, default=None))} | {r['other_cores']:.2f}; {r['loadavg'][0]} / "
                         f"{r['loadavg'][1]} |")
    return lines


def ratio_table(rounds: list[list[dict]], configs: list[str]) -> tuple[list[str], dict]:
    """(b)/(a) per round, side by side, and their medians (the figures)."""
    ones = [c for c in configs if c != "a"]
    head = "| round | " + " | ".join(f"throughput {label(c)[4:]} / (a) | memory / (a)" for c in ones) + " |"
    lines = [head, "|---|" + "---|---|" * len(ones)]
    ratios = {c: ([], []) for c in ones}
    for n, results in enumerate(rounds, 1):
        by = {r["config"]: r for r in results}
        cells = []
        for c in ones:
            fps = by[c]["fps"] / by["a"]["fps"] if by[c]["fps"] and by["a"]["fps"] else None
            mem = by[c]["rss_mb"] / by["a"]["rss_mb"]
            ratios[c][0].append(fps)
            ratios[c][1].append(mem)
            cells.append(f"{f(fps, 2)}x | {mem:.2f}")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    figures = {c: (median(t), median(m)) for c, (t, m) in ratios.items()}
    cells = []
    for c in ones:
        fps, mem = figures[c]
        tick = "" if fps is None else (" ✓" if fps >= 1.2 else " ✗")
        cells.append(f"**{f(fps, 2)}x** (>= 1.2{tick}) | **{mem:.2f}** (<= 0.40{' ✓' if mem <= 0.4 else ' ✗'})")
    lines.append("| median | " + " | ".join(cells) + " |")
    return lines, figures


def sources_table(rounds: list[list[dict]], configs: list[str]) -> list[str]:
    """Per source, medians over the rounds: share of the inferences, result ages, first result."""
    lines = ["| configuration | source | share of inferences | inferred / s | result age p50 / p95 ms | age of a new "
             "result p95 ms | first result s |", "|---|---|---|---|---|---|---|"]
    for c in configs:
        runs = [r for results in rounds for r in results if r["config"] == c]
        for i, name in enumerate(runs[0]["names"]):
            def med(key, runs=runs, i=i):
                return median(r[key][i] for r in runs)
            rate = median(r["inferred"][i] / r["seconds"] for r in runs)
            lines.append(f"| {label(c)} | {Path(name).name} | {f(100 * med('share'))} % | {f(rate, 2)} | "
                         f"{f(med('age_p50'), 0)} / {f(med('age_p95'), 0)} | {f(med('new_age_p95'), 0)} | "
                         f"{f(med('first_result_s'))} |")
    return lines


def section(rounds: list[list[dict]], configs: list[str], args, knob: str | None) -> str:
    what = (f"{args.sources} live RTSP streams of tests/rtsp_server.py ({SIZE_WH[0]}x{SIZE_WH[1]}, {FPS} fps, "
            "videotestsrc patterns), pacing `live`" if args.rtsp else
            f"{args.sources} generated {SIZE_WH[0]}x{SIZE_WH[1]} H.264 clips at {FPS} fps, each its own content, "
            "played as live cameras (pacing `simulate-live`)")
    threads = (f"(b) runs with `{knob}=1` and `{knob}=2` (MultiStream's inference threads)." if knob else
               "(b) runs with MultiStream's defaults (no inference-thread knob found).")
    lines = [BEGIN, "## Several cameras: one MultiStream against a process per camera", "",
             f"`python scripts/bench_multi.py {' '.join(args.argv)}` on {datetime.date.today()}, "
             f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs: full-size SegFormer-B0 (random "
             f"weights, FP32, CPU) on {what}. (a) {args.sources} processes at once, each "
             "`Stream.open(source, \"segmentation\", model=...)` and a loop over its packets; (b) one process, "
             f"`MultiStream.open([...], \"segmentation\", model=...)` and a loop over its packets. {threads} "
             f"Each configuration: after every source's first result and a {args.warmup:g} s warm-up, "
             f"{args.seconds:g} s measured by all its processes at once; {len(rounds)} rounds, configurations "
             "interleaved (order rotated). Inferred / s: new results shown per second in the window, summed over "
             "the sources. Peak RSS: each process's `ru_maxrss` at its end, summed (in brackets: the peak of the "
             "processes' summed VmRSS, sampled every 0.2 s). First result: from the launch of the processes. "
             "Other processes' cores: the machine's busy CPU time in the window less the children's.", ""]
    lines += rounds_table(rounds)
    ratios, figures = ratio_table(rounds, configs)
    lines += ["", "Ratios of each round's (b) to the same round's (a); the figures are their medians. Targets "
              "(printed, not asserted): throughput >= 1.2x, memory <= 0.40.", ""] + ratios
    lines += ["", "Per source (medians over the rounds). Fair: each source's share near "
              f"{100 / args.sources:.0f} %.", ""] + sources_table(rounds, configs)
    if knob:
        fast = max((c for c in configs if c != "a"), key=lambda c: figures[c][0] or 0)
        lines += ["", f"Faster on this CPU: {label(fast)[4:]} (median throughput ratio "
                  f"{f(figures[fast][0], 2)}x against (a))."]
    return "\n".join(lines + [END])


# --- main -----------------------------------------------------------------------------------------


def open_sources(args, stack: list) -> list[str]:
    """The sources' specs: the clips (made when missing), or the RTSP server's URLs (started here)."""
    if args.rtsp:
        sys.path.insert(0, str(ROOT / "tests"))
        from rtsp_server import RtspServer, missing_rtsp_support

        reason = missing_rtsp_support()
        if reason:
            raise SystemExit(reason)
        server = RtspServer(mounts=tuple(f"cam{i}" for i in range(args.sources)), size_wh=SIZE_WH, fps=FPS)
        stack.append(server)
        return [server.url(f"cam{i}") for i in range(args.sources)]
    frames = int(FPS * (args.load_timeout + args.warmup + args.seconds + 10))
    return [str(make_clip(args.cache / "media" / f"multi{k}-{SIZE_WH[0]}x{SIZE_WH[1]}-{FPS}fps-{frames}.mp4", k,
                          frames)) for k in range(args.sources)]


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0, help="the measured window (default 30)")
    parser.add_argument("--warmup", type=float, default=5.0, help="after every source's first result (default 5)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--load-timeout", type=float, default=90.0, help="for every source's first result")
    parser.add_argument("--rtsp", action="store_true", help="RTSP streams of tests/rtsp_server.py, not clips")
    parser.add_argument("--configs", default="auto", help="a,b1,b2 (auto: b1,b2 when MultiStream has the knob)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 sources, 4 s, 1 round, no report")
    parser.add_argument("--cache", type=Path, default=ROOT / "bench-cache")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    # a child's own arguments (this script runs itself)
    parser.add_argument("--child", choices=("a", "b"), dest="config", help=argparse.SUPPRESS)
    parser.add_argument("--launched", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    parser.add_argument("--pacing", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("child_sources", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.sources, args.seconds, args.warmup, args.rounds, args.load_timeout = 2, 4.0, 1.0, 1, 60.0
    return args


def main(argv=None) -> None:
    args = parse(argv)
    if args.config:
        return child(args)
    args.pacing = "live" if args.rtsp else "simulate-live"
    args.logs = Path("/tmp") / f"bench_multi-{os.getpid()}"
    args.logs.mkdir(parents=True, exist_ok=True)
    import livevision

    knob = thread_knob() if hasattr(livevision, "MultiStream") else None
    configs = (["a", "b1", "b2"] if knob else ["a", "b"]) if args.configs == "auto" else args.configs.split(",")
    folder = prepare_model(args.cache)
    stack: list = []
    try:
        sources = open_sources(args, stack)
        rounds = []
        for n in range(args.rounds):
            order = configs[n % len(configs):] + configs[:n % len(configs)]
            results = []
            for config in order:
                results.append(run_config(config, sources, args, folder))
                print(f"round {n + 1} {label(config)}: {f(results[-1]['fps'], 2)} inferred/s, "
                      f"{results[-1]['rss_mb']:.0f} MB, load {results[-1]['loadavg']}", flush=True)
            rounds.append(sorted(results, key=lambda r: configs.index(r["config"])))
    finally:
        for server in stack:
            server.stop()
    if args.json:
        args.json.write_text(json.dumps({"configs": configs, "rounds": rounds}, indent=1))
    text = section(rounds, configs, args, knob)
    print(text)
    if not args.quick and "a" in configs and len(configs) > 1:
        write_section(Path(args.out), "multi", text)


if __name__ == "__main__":
    main()
