"""The runtime-only install, checked as a new user meets it (run by .ci/run after the test suite).

1. Build livevision's wheel and install it, with its runtime dependencies only, in a fresh venv:
   no torch, no transformers, no optimum.
2. On the export side (this checkout's venv): export a tiny random-weight SegFormer into one cache
   with `livevision export`, which names the folder to copy (stdout, and stderr's hint).
3. Copy that folder elsewhere, as a user copies it to the runtime machine, and run it there with the
   slim install: `livevision run --model FOLDER`, default precision (auto).

Passes when the run exits 0, writes a result line per frame, no module is missing (the INT8
variants are built, not "FAIL not built: No module named 'onnx'"), its messages name the folder
passed (not the one the export was made from), and the slim venv has no torch.

    .venv/bin/python scripts/check_slim_install.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise SystemExit(f"check_slim_install: failed ({result.returncode}): {' '.join(map(str, cmd))}\n"
                         f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result


def make_video(path: Path, frames: int = 6) -> Path:
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (96, 64))
    for i in range(frames):
        image = np.full((64, 96, 3), 40 * i % 255, np.uint8)
        cv2.rectangle(image, (10 + 8 * i, 10), (40 + 8 * i, 50), (0, 200, 255), -1)
        writer.write(image)
    writer.release()
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="livevision-slim-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        # 1. the wheel, in a venv of its own
        wheels = work / "wheel"
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheels, ROOT])
        wheel = next(wheels.glob("livevision-*.whl"))
        slim = work / "slim-venv"
        # The slim venv sees only what it installed: a PYTHONPATH naming a checkout would make pip take
        # livevision as installed already (its egg-info) and the run import the checkout, not the wheel.
        slim_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", slim])
        run([slim / "bin" / "python", "-m", "pip", "install", "-q", wheel], timeout=900, env=slim_env)
        heavy = run([slim / "bin" / "python", "-c", "import importlib.util as u; print([m for m in "
                     "('torch', 'transformers', 'optimum') if u.find_spec(m)])"], env=slim_env).stdout.strip()
        if heavy != "[]":
            raise SystemExit(f"check_slim_install: the runtime install pulled in {heavy}")

        # 2. the export machine: a tiny model, exported into its own cache
        from livevision.testing.tiny_models import build_tiny_model

        folder = build_tiny_model("segformer", work / "tiny-segformer")
        exported = run([sys.executable, "-m", "livevision.cli", "export", folder, "--task", "segmentation",
                        "--cache-dir", work / "export-cache", "--precision", "fp32"])
        hint = re.search(r"copy the folder (\S+) there", exported.stderr)
        if hint is None or hint.group(1) != exported.stdout.strip():
            raise SystemExit(f"check_slim_install: `livevision export` did not name one folder to copy on stdout "
                             f"and stderr:\n{exported.stdout}\n{exported.stderr}")

        # 3. the runtime machine: the copied folder, run with the slim install
        copied = work / "runtime" / "segformer"
        shutil.copytree(hint.group(1), copied)
        results = work / "runtime" / "results.jsonl"
        ran = run([slim / "bin" / "livevision", "run", "--task", "segmentation", "--model", copied,
                   "--source", make_video(work / "clip.avi"), "--no-display", "--results", results,
                   "--cache-dir", work / "runtime" / "cache"], timeout=900, env=slim_env)
        missing = [line for line in ran.stderr.splitlines() if "No module named" in line]
        if missing:
            raise SystemExit("check_slim_install: a module is missing on the runtime install:\n" + "\n".join(missing))
        lines = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
        if len(lines) != 6:
            raise SystemExit(f"check_slim_install: {len(lines)} result lines for 6 frames")
        if "not built" in ran.stderr:
            raise SystemExit(f"check_slim_install: a precision variant was not built:\n{ran.stderr}")
        if str(folder) in ran.stderr or str(copied) not in ran.stderr:
            raise SystemExit(f"check_slim_install: the run's messages name the export machine's folder {folder}, "
                             f"not the one passed ({copied}):\n{ran.stderr}")
        print(f"check_slim_install: ok ({wheel.name} in a venv without torch; export copied from "
              f"{Path(hint.group(1)).name}; {len(lines)} frames; precision: "
              f"{', '.join(sorted(set(re.findall(r'(fp32|int8-dynamic|int8-static)', ran.stderr)))) or 'see log'})")
        return 0
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
