"""`python -m livevision ...` in a subprocess, as a user runs it, offline (the Hub is never reached)."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    """Run the CLI with `args`; `env` entries are added to (or override) this process's environment."""
    return subprocess.run([sys.executable, "-m", "livevision", *args], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}, cwd=cwd, timeout=300)
