"""What `livevision.pipeline` costs over a Predictor per image, written to BENCHMARKS.md between its
`<!-- pipeline:begin -->` / `<!-- pipeline:end -->` markers.

Full-size random-weight models (bench_models.py, cached under bench-cache/), one 1280x720 photo-like
image: `pipe(pil_image)` (PIL in, transformers' output format out: PIL masks, the depth image) against
`predictor(bgr_frame)` on the same model and session, in interleaved rounds (the shared machine's
noise hits both alike); the median time per call of each.

    python scripts/bench_pipeline.py [--models segformer,vit] [--rounds 5] [--calls 8]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time
from pathlib import Path

import bench_models as bm
from bench_sections import markers, write_section
import cv2
from PIL import Image

import livevision
from livevision.models.export import export_model
from livevision.types import Task

BEGIN, END = markers("pipeline")
REPO = Path(__file__).resolve().parent.parent
HF_TASKS = {"depth": "depth-estimation", "classification": "image-classification",
            "segmentation": "image-segmentation"}


def per_call(fn, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls


def measure(key: str, cache: Path, rounds: int, calls: int) -> dict:
    spec = bm.MODELS[key]
    folder, _ = bm.build_model_folder(spec, cache / "models")
    export_model(folder, Task.parse(spec.task), cache_dir=cache / "exports")
    pipe = livevision.pipeline(HF_TASKS[spec.task], model=str(folder), cache_dir=cache / "exports",
                               precision="fp32", device="cpu")
    frame = bm.synthetic_frame(3)
    image = Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    predictor = pipe.predictor
    pipe(image), predictor(frame)  # warm-up
    times = {"predictor": [], "pipeline": []}
    for _ in range(rounds):
        times["predictor"].append(per_call(lambda: predictor(frame), calls))
        times["pipeline"].append(per_call(lambda: pipe(image), calls))
    p50 = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    return {"key": key, **p50, "overhead": p50["pipeline"] / p50["predictor"] - 1.0}


def section(rows: list[dict], args) -> str:
    lines = [BEGIN, "## `livevision.pipeline` against a Predictor: per-image overhead", "",
             f"`python scripts/bench_pipeline.py --models {args.models} --rounds {args.rounds} --calls {args.calls}` "
             f"on {datetime.date.today()}, {platform.machine()}: full-size random-weight models, one 1280x720 image, "
             "FP32 on the CPU; `pipe(pil_image)` (PIL in, transformers' output format out) against "
             "`predictor(bgr_frame)` on the same session, interleaved rounds, median ms per call.", "",
             "| model | Predictor ms | pipeline ms | overhead (target <= 5 %) |", "|---|---|---|---|"]
    for r in rows:
        mark = "✓" if r["overhead"] <= 0.05 else "✗"
        lines.append(f"| {r['key']} | {r['predictor']:.1f} | {r['pipeline']:.1f} | {100 * r['overhead']:+.1f} % "
                     f"{mark} |")
    return "\n".join(lines + ["", END])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="segformer,vit")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--cache-dir", default=str(REPO / "bench-cache"))
    parser.add_argument("--out", default=str(REPO / "BENCHMARKS.md"))
    args = parser.parse_args()
    rows = [measure(key, Path(args.cache_dir), args.rounds, args.calls) for key in args.models.split(",")]
    text = section(rows, args)
    print(text)
    write_section(Path(args.out), "pipeline", text)


if __name__ == "__main__":
    main()
