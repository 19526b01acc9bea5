"""ONNX Runtime's CPU provider against the OpenVINO runtime (`--device openvino`) on this machine's CPU:
the raw `session.run` rate on ready inputs of the three full-size benchmark models, FP32 and INT8.

    python scripts/bench_openvino.py                      # prints the section
    python scripts/bench_openvino.py --write BENCHMARKS.md  # and puts it at the end of the file

The models are scripts/bench_models.py's exports (`--onnx-dir`, default bench-cache/onnx). INT8: the
variants livevision's precision machinery builds (models/variant_build.py: int8-dynamic, and the
static QDQ int8-static calibrated on the same inputs), built once into `<onnx-dir>/../openvino-variants`.
Both runtimes get the same thread count (one per physical core, as livevision's sessions) and are timed
round by round, interleaved (the order rotated every round), so that load from other processes hits
both alike: the ratio is the median over rounds of each round's ORT time / OpenVINO time (above 1:
OpenVINO faster). OpenVINO runs FP32 as livevision opens it (INFERENCE_PRECISION_HINT f32); its own
default on CPUs with AMX or AVX-512 BF16 is bfloat16, timed too in its own row, against ORT's FP32.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import textwrap
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from livevision.models.openvino_session import OpenVINOSession  # noqa: E402
from livevision.models.session import create_session, physical_cores  # noqa: E402
from livevision.models.variant_build import build_variant  # noqa: E402

HEADING = "## OpenVINO against ONNX Runtime on the CPU"
#: (folder prefix in the onnx dir, name, model_type, task, input shape at 1280x720 as scripts/bench.py runs it)
MODELS = (
    ("depth-", "Depth Anything V2 Small", "depth_anything", "depth", (1, 3, 518, 924)),
    ("segformer-", "SegFormer-B0", "segformer", "segmentation", (1, 3, 512, 512)),
    ("vit-", "ViT-B/16", "vit", "classification", (1, 3, 224, 224)),
)
KINDS = ("int8-dynamic", "int8-static")


def cpu_name() -> str:
    name, flags = "unknown CPU", ""
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.strip() == "model name" and name == "unknown CPU":
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = value
    isa = [label for label, flag in (("AVX-512 VNNI", "avx512_vnni"), ("AVX-512 BF16", "avx512_bf16"),
                                     ("AMX", "amx_bf16")) if flag in flags.split()]
    return f"{name} ({', '.join(isa) or 'no AVX-512 VNNI'})"


def sessions_for(onnx: Path, model_type: str, inputs: list, threads: int, variants: Path) -> dict:
    """{(runtime, row): session or the error text} for one model."""
    made: dict = {}

    def make(key, build):
        try:
            made[key] = build()
        except Exception as exc:  # noqa: BLE001 -- a runtime that cannot load a variant is a result too
            made[key] = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:160]}"

    paths = {"FP32": onnx}
    for kind in KINDS:
        out = variants / f"model.{kind}.onnx"
        if not out.exists():
            build_variant(onnx, kind, out, calibration=inputs, model_type=model_type)
        paths[kind] = out
    for row, path in paths.items():
        make(("ort", row), lambda p=path: create_session(p, "cpu", intra_op_threads=threads, live=True))
        make(("ov", row), lambda p=path: OpenVINOSession(p, "CPU", threads=threads))
    make(("ov", "bf16"), lambda: OpenVINOSession(onnx, "CPU", threads=threads,
                                                 properties={"INFERENCE_PRECISION_HINT": "bf16"}))
    return made


def run_once(session, x) -> float:
    name = session.get_inputs()[0].name
    started = time.perf_counter()
    session.run(None, {name: x})
    return (time.perf_counter() - started) * 1000.0


#: the table's rows: (row, label, the ORT session it is compared with)
ROWS = (("FP32", "FP32", "FP32"), ("int8-dynamic", "INT8 dynamic (MatMul)", "int8-dynamic"),
        ("int8-static", "INT8 static QDQ", "int8-static"), ("bf16", "OpenVINO bf16 vs ORT FP32", "FP32"))


def _warm(sessions: dict, inputs: list) -> None:
    """Two untimed runs of each session; one that fails to run is replaced by its error text."""
    for key, session in list(sessions.items()):
        if isinstance(session, str):
            continue
        try:
            for i in range(2):
                run_once(session, inputs[i % len(inputs)])
        except Exception as exc:  # noqa: BLE001
            sessions[key] = f"does not run: {type(exc).__name__}: {str(exc).strip()[:160]}"


def interleaved(sessions: dict, inputs: list, rounds: int, seconds: float) -> dict:
    """{row: (ORT's, OpenVINO's median ms of each round)}. Each round times every row's pair of sessions
    call by call alternately (ORT, OpenVINO, ORT...) for about `seconds` each (at least one call), so
    that both see the same load; the rows' order rotates every round."""
    _warm(sessions, inputs)
    pairs = {row: (sessions[("ort", ort_row)], sessions[("ov", row)]) for row, _, ort_row in ROWS
             if not isinstance(sessions[("ort", ort_row)], str) and not isinstance(sessions[("ov", row)], str)}
    rows = list(pairs)
    times: dict = {row: ([], []) for row in rows}
    for r in range(rounds):
        for row in rows[r % len(rows):] + rows[:r % len(rows)]:
            calls: tuple = ([], [])
            started = time.perf_counter()
            while not calls[1] or time.perf_counter() - started < 2 * seconds:
                x = inputs[len(calls[0]) % len(inputs)]
                for side in (0, 1):
                    calls[side].append(run_once(pairs[row][side], x))
            for side in (0, 1):
                times[row][side].append(statistics.median(calls[side]))
        print(f"  round {r + 1}/{rounds}: " + ", ".join(
            f"{row} ORT {times[row][0][-1]:.1f} OV {times[row][1][-1]:.1f}" for row in rows), flush=True)
    return times


def model_rows(name: str, shape, sessions: dict, times: dict) -> list[str]:
    rows = []
    size = f"{shape[2]}x{shape[3]}"
    for row, label, ort_row in ROWS:
        if row in times:
            ort_ms, ov_ms = times[row]
            ratio = statistics.median(a / b for a, b in zip(ort_ms, ov_ms))
            cells = f"{statistics.median(ort_ms):.1f} | {statistics.median(ov_ms):.1f} | {ratio:.2f}x"
        else:
            failed = [sessions[k] for k in (("ort", ort_row), ("ov", row)) if isinstance(sessions[k], str)]
            cells = f"- | fails ({'; '.join(failed)}) | -"
        rows.append(f"| {name} {size} | {label} | {cells} |")
    return rows


def auto_row(name: str, folder: Path, model_type: str, task: str) -> str:
    """What `--precision auto` does on OpenVINO for this model, as livevision runs it: its default synthetic
    calibration frames (1280x720) through the model's preprocessor, the real gate, the real timing."""
    import tempfile

    from livevision.models.cache import PROCESSOR_FILE, read_entry
    from livevision.models.variants import choose_variant, synthetic_calibration_frames
    from livevision.preprocessing.preprocess import build_preprocessor

    preprocess = build_preprocessor(read_entry(folder).read_json(PROCESSOR_FILE))
    frames = [preprocess(f).pixel_values for f in synthetic_calibration_frames(8, (1280, 720))]
    with tempfile.TemporaryDirectory() as tmp:
        _, report = choose_variant(folder / "model.onnx", Path(tmp), task=task, model_type=model_type,
                                   calibration_inputs=frames, device="openvino", precision="auto", runs=5, warmup=1)
    int8 = next(c for c in report["candidates"] if c["kind"] != "fp32")
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in (int8.get("metrics") or {}).items())
    verdict = "pass" if int8.get("passed") else f"FAIL: {int8.get('reason')}"
    return f"| {name} | {int8['kind']} | {verdict} ({metrics}) | {int8.get('speedup')}x | {report['chosen']} |"


def section(rows: list[str], auto_rows: list[str], args, threads: int, started: str, loads: tuple) -> str:
    import onnxruntime
    import openvino

    def para(text: str) -> str:
        return textwrap.fill(text, width=110, break_on_hyphens=False, break_long_words=False)

    return "\n".join([
        HEADING, "",
        para(f"`scripts/bench_openvino.py`, {started} UTC, {cpu_name()}, {os.cpu_count()} logical CPUs, "
        f"{threads} threads for each runtime; onnxruntime {onnxruntime.__version__}, openvino "
        f"{openvino.__version__.split('-')[0]}. Load average {loads[0]:.1f} before, {loads[1]:.1f} after: "
        "other jobs shared the CPU, which is why the two runtimes ran interleaved."), "",
        para(f"The raw `session.run` time on ready random inputs (the models' input size for a 1280x720 frame), "
        f"median ms per call: {args.rounds} rounds; in each, every row's two sessions ran alternately call by "
        f"call for about {args.seconds:g} s each, the rows' order rotated every round; the ratio is the "
        "median of the rounds' ORT time / OpenVINO time (above 1: OpenVINO faster). ORT is livevision's "
        "CPU session (`--device cpu`), OpenVINO its `--device openvino` "
        "session (FP32 computed in FP32, the input shape compiled static). INT8 rows run the same variant "
        "file on both: livevision's int8-dynamic and static QDQ int8-static builds. They time speed only: "
        "whether a variant may run is the accuracy gate's verdict at load, on calibration frames (random "
        "inputs gate nothing). The bf16 row is OpenVINO's CPU default where the CPU has AMX or AVX-512 BF16; "
        "livevision does not run it (it is not the FP32 model and is not gated)."), "",
        "| model | precision | ORT CPU ms | OpenVINO CPU ms | ratio |",
        "|---|---|---|---|---|",
        *rows, "",
        para("`--precision auto` on OpenVINO, as a run chooses (models/variants.py: livevision's default 8 "
             "synthetic 1280x720 calibration frames, static INT8 calibrated on half and checked on all by the "
             "accuracy gate, timed against OpenVINO's FP32, median of 5 interleaved runs; same run):"), "",
        "| model | variant | gate | speed-up over OpenVINO FP32 | chosen |",
        "|---|---|---|---|---|",
        *auto_rows, "",
    ])


def write_section(path: Path, text: str) -> None:
    """Replace the section under HEADING in `path`, or add it at the end."""
    old = path.read_text(encoding="utf-8")
    if HEADING in old:
        before, _, rest = old.partition(HEADING)
        after = rest.partition("\n## ")
        old = before.rstrip("\n") + ("\n\n## " + after[2] if after[1] else "")
    path.write_text(old.rstrip("\n") + "\n\n" + text, encoding="utf-8")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx-dir", type=Path, default=ROOT / "bench-cache" / "onnx")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="per session per round")
    parser.add_argument("--threads", type=int, default=None, help="default: one per physical core")
    parser.add_argument("--no-auto", action="store_true", help="skip the --precision auto table")
    parser.add_argument("--write", type=Path, help="the BENCHMARKS.md to put the section in")
    args = parser.parse_args(argv)
    threads = args.threads or physical_cores()
    started, load_before = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"), os.getloadavg()[0]
    rng = np.random.default_rng(0)
    rows, auto_rows = [], []
    for prefix, name, model_type, task, shape in MODELS:
        folder = next(iter(sorted(args.onnx_dir.glob(prefix + "*"))), None)
        if folder is None:
            sys.exit(f"no {prefix}* export in {args.onnx_dir}: run scripts/bench_models.py first")
        inputs = [rng.uniform(-2, 2, shape).astype(np.float32) for _ in range(4)]
        print(f"{name}: building variants and opening sessions", flush=True)
        variants = args.onnx_dir.parent / "openvino-variants" / folder.name
        sessions = sessions_for(folder / "model.onnx", model_type, inputs, threads, variants)
        times = interleaved(sessions, inputs, args.rounds, args.seconds)
        rows += model_rows(name, shape, sessions, times)
        del sessions
        if not args.no_auto:
            print(f"{name}: --precision auto on OpenVINO", flush=True)
            auto_rows.append(auto_row(name, folder, model_type, task))
    text = section(rows, auto_rows, args, threads, started, (load_before, os.getloadavg()[0]))
    print(text)
    if args.write:
        write_section(args.write, text)


if __name__ == "__main__":
    main()
