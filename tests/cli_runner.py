"""The CLI as a user runs it, offline (the Hub is never reached): `run_cli` calls `livevision.cli.main` in
this process (seconds faster per call than a new interpreter), `run_cli_process` runs
`python -m livevision` in a subprocess (for what needs a process of its own: signals, stdout at the
file-descriptor level, the module entry point itself)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import warnings

# What cli.main changes in the process, restored after each in-process call.
_LOGGERS = ("livevision", "transformers", "optimum", "torch", "onnxruntime")


def run_cli(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    """cli.main(args) in this process, with stdout and stderr captured, as a CompletedProcess.
    `env` entries are added to (or override) the environment for the call."""
    import cv2

    from livevision import cli

    argv = [str(a) for a in args]
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    saved_levels = {name: logging.getLogger(name).level for name in _LOGGERS}
    saved_cv2_log = cv2.utils.logging.getLogLevel()
    out, err = io.StringIO(), io.StringIO()
    os.environ.update({"HF_HUB_OFFLINE": "1", **(env or {})})
    root.handlers = []  # cli.main's logging.basicConfig then writes to the captured stderr
    try:
        if cwd is not None:
            os.chdir(cwd)
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as exc:  # argparse: --help, --version, usage errors
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        root.handlers, level = saved_root
        root.setLevel(level)
        for name, value in saved_levels.items():
            logging.getLogger(name).setLevel(value)
        cv2.utils.logging.setLogLevel(saved_cv2_log)
    return subprocess.CompletedProcess(["livevision", *argv], code, out.getvalue(), err.getvalue())


def run_cli_process(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    """`python -m livevision args` in a subprocess; `env` entries are added to (or override) this
    process's environment."""
    return subprocess.run([sys.executable, "-m", "livevision", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}, cwd=cwd, timeout=300)
