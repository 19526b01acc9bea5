"""The `livevision` command: a thin layer over the Python API.

Every LiveVisionError becomes one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import __version__
from .errors import LiveVisionError
from .models.registry import DEFAULT_MODELS, supported_model_types
from .types import Task

log = logging.getLogger("livevision")


def _defaults_text() -> str:
    return "\n".join(f"  {t.value:<15} {DEFAULT_MODELS[t]}" for t in Task)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livevision",
        description="Run Hugging Face depth, classification and segmentation models live on video, via ONNX Runtime.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="default models:\n" + _defaults_text(),
    )
    parser.add_argument("--version", action="version", version=f"livevision {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (export steps, providers)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    export = commands.add_parser(
        "export",
        help="export a model to ONNX and cache it",
        description="Export a Hugging Face model (Hub id or local folder) to ONNX with Optimum and cache it. "
        "Later runs load the cached model without torch or transformers.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="supported model types:\n"
        + "\n".join(f"  {t.value:<15} {', '.join(supported_model_types(t))}" for t in Task),
    )
    export.add_argument("model", nargs="?", help="Hub id (e.g. Intel/dpt-large) or a local model folder; default: the task's default model")
    export.add_argument("--task", required=True, help="depth, classification or segmentation")
    export.add_argument("--revision", help="Hub revision (branch, tag or commit); Hub ids only")
    export.add_argument("--cache-dir", help="where exports are cached (default: models/ in a checkout, else the user cache)")
    export.add_argument("--opset", type=int, help="ONNX opset (default: Optimum's choice for the model)")
    export.add_argument("--force", action="store_true", help="export again even if a cached export exists")
    export.set_defaults(handler=_cmd_export)
    return parser


def _cmd_export(args: argparse.Namespace) -> int:
    from .models.export import export_model

    task = Task.parse(args.task)
    model = args.model or DEFAULT_MODELS[task]
    entry = export_model(model, task, revision=args.revision, cache_dir=args.cache_dir, opset=args.opset, force=args.force)
    print(entry.onnx_path)
    for warning in entry.metadata.get("notes", {}).get("validation_warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        _quiet_third_party()
    try:
        return args.handler(args)
    except LiveVisionError as exc:
        print(f"livevision: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("livevision: interrupted", file=sys.stderr)
        return 130


def _quiet_third_party() -> None:
    """Keep transformers/optimum chatter (deprecations, opset advice) off the terminal."""
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("transformers", "optimum", "torch", "onnxruntime"):
        logging.getLogger(name).setLevel(logging.ERROR)


if __name__ == "__main__":
    sys.exit(main())
