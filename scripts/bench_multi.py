"""Several cameras (issue 30): a process per source against one MultiStream over all of them, side by side;
written to BENCHMARKS.md between its `<!-- multi:begin -->` / `<!-- multi:end -->` markers (--rtsp: multi-rtsp).

(a) N processes at once, each `Stream.open(source_i, "segmentation", model=B0, ...)` and a loop over its packets
(`livevision run --source source_i --no-display` less its drawing); (b) one process, `MultiStream.open([...], ...,
workers=N, or its default)` and a loop over its packets; (r) the limit: the model as (b)'s default loads it, raw
`session.run` on one prepared frame in a loop per worker that (b)'s default starts. SegFormer-B0: full size, random
weights, FP32, CPU (bench-cache/).
Sources: N generated 640x360 clips (25 fps, each its own content) played as cameras (`simulate-live`), or with
--rtsp live streams of tests/rtsp_server.py. The configurations run in child processes of this script, alternating
in rounds; in each, once every source shows a result and a warm-up later, all measure the same wall-time window.

    python scripts/bench_multi.py [--sources 4] [--seconds 30] [--warmup 5] [--rounds 2] [--rtsp] [--quick]
        [--configs a,b1,b,r]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from bench_multi_report import fmt, label, section
from bench_sections import write_section

ROOT = Path(__file__).resolve().parent.parent
TASK, SIZE_WH, FPS, LOAD_TIMEOUT_S = "segmentation", (640, 360), 25, 60.0  # the last: for every first result


def prepare_model(cache: Path) -> Path:
    """The full-size SegFormer-B0 folder (random weights), exported once here so that no child exports it."""
    import bench_models as bm
    from livevision.models.export import export_model

    folder, _ = bm.build_model_folder(bm.MODELS["segformer"], cache / "hf")
    export_model(folder, TASK, cache_dir=cache / "onnx")
    return folder


def make_clip(path: Path, k: int, frames: int) -> Path:
    """Clip k, H.264 at FPS: the benchmark's synthetic scene at its own moment, mirrored (odd k) and with red
    and blue swapped (k % 4 >= 2); reused when it exists (its name says k and the frames)."""
    import bench_models as bm

    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.mp4")
    cmd = [bm.find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
           "-s", "%dx%d" % SIZE_WH, "-framerate", str(FPS), "-i", "pipe:0", "-c:v", "libx264", "-preset",
           "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-g", str(2 * FPS), str(tmp)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    try:
        for i in range(frames):
            frame = bm.synthetic_frame(i + 337 * k, *SIZE_WH)[:, ::-1 if k % 2 else 1]
            proc.stdin.write(np.ascontiguousarray(frame[..., ::-1] if k % 4 >= 2 else frame).tobytes())
    finally:
        proc.stdin.close()
        if proc.wait(timeout=300) != 0:
            raise SystemExit(f"ffmpeg failed writing {tmp}")
    tmp.replace(path)
    return path


class Tally:
    """What each source's packets show: its first result, and in the window [start, end] (time.monotonic,
    the same in every process, read from stdin) its new results and the age of every result shown."""

    def __init__(self, sources: int, launched: float):
        self.launched, self.window, self.last = launched, None, None  # last: the last packet's time in the window
        self.first, self.shown, self.inferred = [None] * sources, [None] * sources, [0] * sources
        self.ages, self.new_ages = [[] for _ in range(sources)], [[] for _ in range(sources)]
        self.cpu = [0.0, 0.0]  # this process's CPU seconds at the first and the last packet in the window
        threading.Thread(target=self._read_window, daemon=True).start()

    def _read_window(self) -> None:
        self.window = read_window()

    def add(self, i: int, output, now: float) -> None:
        if output is None:
            return
        if self.first[i] is None:
            self.first[i] = now - self.launched
        new, self.shown[i] = output.frame_index != self.shown[i], output.frame_index
        if (window := self.window) is not None and window[0] <= now <= window[1]:
            cpu = sum(os.times()[:2])
            self.cpu = [self.cpu[0] if self.last else cpu, cpu]
            self.last, age = now, (now - output.captured_at) * 1e3
            self.ages[i].append(age)
            if new:
                self.inferred[i] += 1
                self.new_ages[i].append(age)

    def summary(self, names: list[str], ended_early: bool) -> dict:
        start, end = self.window or (0.0, 0.0)
        return {"names": names, "first_result_s": self.first, "inferred": self.inferred,
                "seconds": ((self.last or start) if ended_early else end) - start, "ended_early": ended_early,
                "age_p50": pct(self.ages, 50), "age_p95": pct(self.ages, 95), "new_age_p95": pct(self.new_ages, 95),
                "cpu_s": self.cpu[1] - self.cpu[0],
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def read_window() -> tuple[float, float]:
    """The window [start, end] the parent sends on stdin (no parent: one that has ended)."""
    words = sys.stdin.readline().split()
    return tuple(map(float, words)) if len(words) == 2 else (0.0, 0.0)


def pct(series: list[list[float]], q: float) -> list[float | None]:
    return [float(np.percentile(values, q)) if values else None for values in series]


def child(spec: dict) -> None:
    """Open the sources (one: a Stream; several: a MultiStream), print "ready" once each has shown a result,
    tally the window the parent sends, and print the summary as one "result {json}" line."""
    import livevision
    from livevision.types import Task

    if spec["config"] == "r":
        return child_limit(spec)
    load = {key: spec[key] for key in ("model", "pacing", "cache_dir")} | {"precision": "fp32", "device": "cpu"}
    if spec["config"] == "a":
        stream = livevision.Stream.open(spec["sources"][0], TASK, **load)
        names = [stream.info.name]
    else:  # "b1", "b2": workers=1, 2 (MultiStream's inference threads); "b": its default
        extra = {"workers": spec["workers"]} if spec["workers"] else {}
        stream = livevision.MultiStream.open(spec["sources"], TASK, **load, **extra)
        names = list(stream.names)
    task, tally, ready, ended_early = Task.parse(TASK), Tally(len(names), spec["launched"]), False, True
    try:
        for packet in stream:
            now = time.monotonic()
            tally.add(packet.source_index, packet.outputs.get(task), now)
            if not ready and None not in tally.first:
                ready = True
                print("ready", flush=True)
            if tally.window and now > tally.window[1]:
                ended_early = False
                break
    finally:
        stream.close()
    print("result " + json.dumps(tally.summary(names, ended_early)), flush=True)


def child_limit(spec: dict) -> None:
    """(r): the model loaded as MultiStream.open loads it for the sources (split_cores: its workers, each
    session's threads), one frame of the first source prepared; `session.run` on it in a loop per worker.
    Prints "ready" once every loop has run once, and the summary of the runs that ended in the window."""
    from livevision.sources import open_source
    from livevision.stream import model_loader, parse_tasks
    from livevision.stream_multi import split_cores
    from livevision.types import Task

    loader = model_loader(parse_tasks(TASK), model=spec["model"], cache_dir=spec["cache_dir"], precision="fp32",
                          device="cpu")
    workers = split_cores(loader, len(spec["sources"]), spec["workers"] or None)
    predictor = loader()[Task.parse(TASK)]
    with open_source(spec["sources"][0]) as source:
        prepared = predictor.preprocess(next(iter(source.frames())).image)
    outputs = list(predictor.architecture.outputs)
    feed = {predictor.input_name: prepared.pixel_values, **predictor.text_inputs}  # as Predictor.infer's
    counter = RunCounter(lambda: predictor.session.run(outputs, feed), workers)
    counter.warm.wait()
    print("ready", flush=True)
    window = counter.window = read_window()
    for thread in counter.threads:
        thread.join()
    name = f"session.run: {workers} loops x {loader.load.intra_op_threads} thread(s)"
    summary = {"names": [name], "first_result_s": [None], "inferred": [counter.inferred],
               "seconds": window[1] - window[0], "ended_early": False, "age_p50": [None], "age_p95": [None],
               "new_age_p95": [None], "cpu_s": counter.cpu[1] - counter.cpu[0],
               "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print("result " + json.dumps(summary), flush=True)


class RunCounter:
    """`loops` threads, each calling `run` until the window [start, end] (set from outside) has passed: the
    runs that end in it, and this process's CPU seconds at the first and the last of them. `warm` is set
    once every loop has run once."""

    def __init__(self, run, loops: int):
        self.window, self.inferred, self.cpu, self.lock = None, 0, [None, 0.0], threading.Lock()
        self.warm, self._cold = threading.Event(), loops
        self.threads = [threading.Thread(target=self._loop, args=(run,), daemon=True) for _ in range(loops)]
        for thread in self.threads:
            thread.start()

    def _loop(self, run) -> None:
        run()
        with self.lock:
            self._cold -= 1
            if not self._cold:
                self.warm.set()
        while True:
            run()
            now, window = time.monotonic(), self.window
            if window is not None and now > window[1]:
                return
            if window is not None and now >= window[0]:
                cpu = sum(os.times()[:2])
                with self.lock:
                    self.inferred += 1
                    self.cpu = [cpu if self.cpu[0] is None else self.cpu[0], cpu]


class Child:
    """A child process of this script (its stderr to `log`) and the lines it prints."""

    def __init__(self, spec: dict, log: Path):
        with open(log, "ab") as err:
            self.proc = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(spec)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1)  # line-buffered
        self.lines, self.log = queue.Queue(), log
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put("exited")

    def expect(self, word: str, timeout: float) -> str:
        """The rest of the child's next line, which must start with `word`."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            line = f"nothing within {timeout:.0f} s"
        if not line.startswith(word):
            raise SystemExit(f"a child said {line!r}, not {word!r}: see {self.log}")
        return line[len(word):].strip()

    def close(self) -> None:
        self.proc.kill()  # nothing once it has exited
        self.proc.wait()


def proc_number(pid: int, name: str) -> int:
    """VmRSS in kB (name "status") or utime + stime in ticks ("stat") of a process; 0 once it has gone."""
    try:
        text = Path(f"/proc/{pid}/{name}").read_text()
    except OSError:
        return 0
    if name == "stat":
        return sum(map(int, text.rsplit(")", 1)[1].split()[11:13]))
    return next((int(line.split()[1]) for line in text.splitlines() if line.startswith("VmRSS:")), 0)


def sample_rss(pids: list[int], done: threading.Event, peak: list[float]) -> None:
    """peak[0]: the peak of the processes' summed resident memory (MB), sampled every 0.2 s."""
    while not done.wait(0.2):
        peak[0] = max(peak[0], sum(proc_number(pid, "status") for pid in pids) / 1024)


def cpu_snapshot(children: list[Child]) -> tuple[int, int, str]:
    """The machine's busy ticks (all but idle and iowait), the children's ticks, the load average."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4], sum(proc_number(c.proc.pid, "stat") for c in children),
            ", ".join(Path("/proc/loadavg").read_text().split()[:3]))


def run_config(config: str, sources: list[str], args, folder: Path) -> dict:
    """One configuration, measured: "a" (a process per source), "bN"/"b" (one process, N workers or
    MultiStream's default) or "r" (one process: the limit, raw session.run)."""
    spec = {"config": config[0], "launched": time.monotonic(), "model": str(folder), "pacing": args.pacing,
            "cache_dir": str(args.cache / "onnx"), "workers": int(config[1:] or 0)}
    groups = [[s] for s in sources] if config == "a" else [sources]
    children = [Child({**spec, "sources": group}, args.logs / f"{config}.log") for group in groups]
    done, peak = threading.Event(), [0.0]
    threading.Thread(target=sample_rss, args=([c.proc.pid for c in children], done, peak), daemon=True).start()
    try:
        [c.expect("ready", LOAD_TIMEOUT_S) for c in children]
        start = time.monotonic() + args.warmup
        for c in children:
            c.proc.stdin.write(f"{start!r} {start + args.seconds!r}\n")
        time.sleep(max(0.0, start - time.monotonic()))
        before = cpu_snapshot(children)
        time.sleep(max(0.0, start + args.seconds - 0.05 - time.monotonic()))
        after = cpu_snapshot(children)
        results = [json.loads(c.expect("result", 60)) for c in children]
    finally:
        done.set()
        for c in children:
            c.close()
    others = ((after[0] - before[0]) - (after[1] - before[1])) / os.sysconf("SC_CLK_TCK") / args.seconds
    return combine(config, results, peak[0], max(0.0, others), (before[2], after[2]))


def combine(config: str, results: list[dict], peak_mb: float, others: float, loads: tuple) -> dict:
    """The children's summaries as one: per source (in the order given) and in all."""
    def joined(key):
        return [v for r in results for v in r[key]]

    inferred, seconds = joined("inferred"), min(r["seconds"] for r in results)
    total = sum(inferred)
    return {"config": config, "names": joined("names"), "inferred": inferred, "seconds": seconds,
            "fps": total / seconds if seconds > 0 else None, "share": [n / total if total else None for n in inferred],
            "age_p50": joined("age_p50"), "age_p95": joined("age_p95"), "new_age_p95": joined("new_age_p95"),
            "first_result_s": joined("first_result_s"), "rss_mb": sum(r["maxrss_mb"] for r in results),
            "peak_rss_mb": peak_mb, "cpu_ms_per_inference": 1e3 * sum(r["cpu_s"] for r in results) / max(total, 1),
            "other_cores": others, "loadavg": loads, "ended_early": any(r["ended_early"] for r in results)}


def open_sources(args, servers: list) -> list[str]:
    """The sources' specs: the clips (made when missing), or the URLs of an RTSP server started here."""
    if args.rtsp:
        sys.path.insert(0, str(ROOT / "tests"))
        from rtsp_server import RtspServer, missing_rtsp_support

        if reason := missing_rtsp_support():
            raise SystemExit(reason)
        servers.append(RtspServer(mounts=tuple(f"cam{i}" for i in range(args.sources)), size_wh=SIZE_WH, fps=FPS))
        return [servers[0].url(f"cam{i}") for i in range(args.sources)]
    frames = int(FPS * (LOAD_TIMEOUT_S + args.warmup + args.seconds + 10))
    return [str(make_clip(args.cache / "media" / f"multi{k}-{SIZE_WH[0]}x{SIZE_WH[1]}-{FPS}fps-{frames}.mp4", k,
                          frames)) for k in range(args.sources)]


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0, help="the measured window (default 30)")
    parser.add_argument("--warmup", type=float, default=5.0, help="after every source's first result (default 5)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rtsp", action="store_true", help="live RTSP streams of tests/rtsp_server.py, not clips")
    parser.add_argument("--configs", default="a,b1,b,r", help="a: a process per source; bN: one MultiStream, "
                        "workers=N (b: its default); r: the limit, raw session.run (default a,b1,b,r)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 sources, 4 s, 1 round, no report")
    parser.add_argument("--cache", type=Path, default=ROOT / "bench-cache")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # this script runs itself: a child's spec (JSON)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.sources, args.seconds, args.warmup, args.rounds = 2, 4.0, 1.0, 1
    return args


def main(argv=None) -> None:
    args = parse(argv)
    if args.child:
        return child(json.loads(args.child))
    args.pacing, args.logs = "live" if args.rtsp else "simulate-live", Path(f"/tmp/bench_multi-{os.getpid()}")
    args.logs.mkdir(parents=True, exist_ok=True)
    args.section = "multi-rtsp" if args.rtsp else "multi"
    folder, servers, rounds, configs = prepare_model(args.cache), [], [], args.configs.split(",")
    try:
        sources = open_sources(args, servers)
        for n in range(args.rounds):
            results = []
            for config in configs[n % len(configs):] + configs[:n % len(configs)]:
                results.append(run_config(config, sources, args, folder))
                print(f"round {n + 1} {label(config)}: {fmt(results[-1]['fps'], 2)} inferred/s, "
                      f"{results[-1]['rss_mb']:.0f} MB, load {results[-1]['loadavg']}", flush=True)
            rounds.append(sorted(results, key=lambda r: configs.index(r["config"])))
    finally:
        for server in servers:
            server.stop()
    if args.json:
        args.json.write_text(json.dumps({"configs": configs, "rounds": rounds}, indent=1))
    what = (f"{args.sources} live RTSP streams of tests/rtsp_server.py ({SIZE_WH[0]}x{SIZE_WH[1]}, {FPS} fps, "
            "videotestsrc patterns; pacing `live`)" if args.rtsp else f"{args.sources} generated "
            f"{SIZE_WH[0]}x{SIZE_WH[1]} H.264 clips at {FPS} fps, each its own content, played as cameras (pacing "
            "`simulate-live`)")
    print(text := section(rounds, configs, args, what))
    if not args.quick and "a" in configs and len(configs) > 1:
        write_section(Path(args.out), args.section, text)


if __name__ == "__main__":
    main()
