#!/usr/bin/env bash
# Set up livevision from nothing: a virtual environment in .venv with the CPU build of
# torch (installed first and pinned, so that no dependency pulls a multi-GB CUDA build),
# then livevision with its export and test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet -e ".[test]"
python -c "import livevision, onnxruntime, cv2, optimum.exporters.onnx; print('livevision', livevision.__version__, 'ready')"
echo "next: . .venv/bin/activate   (puts livevision on your PATH in this shell; or call .venv/bin/livevision)"
