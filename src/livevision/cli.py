"""The `livevision` command: a thin layer over the Python API.

Every LiveVisionError becomes one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from . import cli_args
from .errors import LiveVisionError, UsageError
from .interrupts import EXIT_SIGINT, EXIT_SIGTERM, Terminated, graceful_interrupts
from .models.registry import DEFAULT_MODELS, supported_model_types
from .options import LoadOptions, PostprocessOptions, ViewMode, cli_flag
from .objects.distance import OBJECT_TASKS
from .pointcloud import CameraIntrinsics, check_camera
from .tasks.registry import TASKS, definition
from .types import Precision, Task

log = logging.getLogger("livevision")


def build_parser() -> argparse.ArgumentParser:
    return cli_args.build_parser({"export": _cmd_export, "models": _cmd_models, "run": _cmd_run, "batch": _cmd_batch,
                                  "serve": _cmd_serve})


def _cmd_serve(args: argparse.Namespace) -> int:
    from .serve_app import cmd_serve

    return cmd_serve(args, _model_options)


def _cmd_models(args: argparse.Namespace) -> int:
    from .models.cache import ModelCache
    from .models.inventory import cache_location, cached_models, clear_cache, disk_bytes, shared_bytes

    root, why = cache_location(args.cache_dir)
    cache = ModelCache(root)
    if args.clear:
        removed = clear_cache(cache)
        print(f"removed {len(removed)} cached model{'s' if len(removed) != 1 else ''} from {root}")
        return 0
    print("supported architectures (model_type in config.json) and default models:")
    for task in Task:
        print(f"  {task.value:<15} {', '.join(supported_model_types(task))}")
        print(f"  {'':<15} default: {DEFAULT_MODELS[task]}")
    print(f"\ncache: {root} ({why})")
    entries = cached_models(cache)
    if not entries:
        print("  nothing cached yet: the first run of a model exports it here")
        return 0
    print(f"  {len(entries)} cached, {disk_bytes(entries) / 1e6:.1f} MB on disk in all (hard links counted once):")
    for m in entries:
        shared = shared_bytes(m, entries)
        linked = f"  ({shared / 1e6:.1f} MB of it hard links to another entry's files)" if shared else ""
        print(f"  {m.size_bytes / 1e6:8.1f} MB  {m.task:<14} {m.model_type:<14} {m.what:<40} "
              f"{m.source}  [{m.folder.name}]{linked}")
    return 0


def _task_values(pairs: list[str], tasks: list[Task], what: str, convert) -> dict:
    """`--model`/`--rate` values: TASK=VALUE, or a bare VALUE when one task runs."""
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            if len(tasks) > 1:
                raise UsageError(f"{what} {pair!r}: with several tasks write task=value")
            task, value = tasks[0], pair
        else:
            task = Task.parse(name)
            if task not in tasks:
                raise UsageError(f"{what} {pair!r}: {task.value} is not among --task")
        try:
            values[task] = convert(value)
        except ValueError:
            raise UsageError(f"{what} {pair!r}: invalid value {value!r}") from None
    return values


def _count_or_auto(value: str, option: str, what: str) -> int | str:
    if value == "auto":
        return value
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise UsageError(f"{option} {value!r}: give a positive number of {what}, or auto")
    return count


def _opacity(text: str) -> float | None:
    """text as an opacity in [0, 1], or None."""
    try:
        opacity = float(text)
    except ValueError:
        return None
    return opacity if 0.0 <= opacity <= 1.0 else None


def _alpha_values(values: list[str], tasks: list[Task]) -> dict:
    """--alpha: OPACITY for every task that colours the frame, or TASK=OPACITY."""
    drawn = [t for t in tasks if definition(t).colours_frame]
    alpha = {}
    for value in values:
        name, sep, number = value.rpartition("=")
        targets = [Task.parse(name)] if sep else drawn
        if sep and not definition(targets[0]).colours_frame:
            colouring = " and ".join(t.value for t, found in TASKS.items() if found.colours_frame)
            raise UsageError(f"--alpha applies to {colouring}: {targets[0].value} draws a panel")
        if sep and targets[0] not in tasks:
            raise UsageError(f"--alpha {value!r}: {targets[0].value} is not among --task")
        opacity = _opacity(number)
        if opacity is None:
            raise UsageError(f"--alpha {value!r}: invalid opacity {number!r}: the opacity must be between 0 and 1")
        alpha.update(dict.fromkeys(targets, opacity))
    return alpha


def _reconnect_policy(args: argparse.Namespace):
    """--reconnect / --reconnect-timeout / --wait-for-camera as open_source's `reconnect`."""
    from .sources import ReconnectPolicy

    if args.wait_for_camera:
        if args.reconnect is not None or args.reconnect_timeout is not None:
            raise UsageError("--wait-for-camera waits without limit: drop --reconnect and --reconnect-timeout")
        return ReconnectPolicy.forever()
    if args.reconnect is None and args.reconnect_timeout is None:
        return None  # streams reconnect, cameras stop
    if args.reconnect is not None and args.reconnect < 0:
        raise UsageError("--reconnect must be 0 or more")
    if args.reconnect == 0:
        return False
    return ReconnectPolicy(max_attempts=args.reconnect, max_outage_s=args.reconnect_timeout)


def _cmd_run(args: argparse.Namespace) -> int:
    from .app import run
    from .options import OutputOptions, RunOptions, SourceOptions
    from .outputs_multi import fill_placeholders
    from .stream import parse_tasks

    tasks = parse_tasks(",".join(args.task or ["depth"]))  # --task is repeatable
    if args.max_frames is not None and args.max_frames < 1:
        raise UsageError("--max-frames must be at least 1")
    if args.max_fps is not None and not args.max_fps > 0:
        raise UsageError("--max-fps must be a positive number")
    rates = _task_values(args.rate, tasks, "--rate", float)
    if any(not r > 0 for r in rates.values()):
        raise UsageError("--rate values must be positive frames per second")
    reconnect = _reconnect_policy(args)
    if args.hud and args.no_hud:
        raise UsageError("--hud draws the overlay into --output, --no-hud hides it everywhere: give one")
    if args.hud and args.output is None:
        raise UsageError("--hud draws the telemetry overlay into --output's video: add --output (the window and "
                         "the web view show it without --hud)")
    camera_outputs = args.depth_format == "ply" or args.rerun or args.mcap or args.foxglove
    object_positions = Task.DEPTH in tasks and any(t in tasks for t in OBJECT_TASKS)
    if not camera_outputs and args.point_stride is not None:
        raise UsageError("--point-stride applies to point clouds and camera info: add --depth-format ply, --rerun, "
                         "--mcap or --foxglove")
    if not (camera_outputs or object_positions) and (args.fov is not None or args.intrinsics):
        raise UsageError("--fov and --intrinsics apply to point clouds, camera info and object positions: add "
                         "--depth-format ply, --rerun, --mcap or --foxglove, or run depth with detection or "
                         "segmentation")
    if args.raw_images and not (args.rerun or args.mcap or args.foxglove):
        raise UsageError("--raw-images applies to --rerun, --mcap and --foxglove")
    if args.depth_stride is not None and not (args.rerun or args.mcap or args.foxglove):
        raise UsageError("--depth-stride applies to --rerun, --mcap and --foxglove")
    if args.depth_stride is not None and args.depth_stride < 1:
        raise UsageError(f"--depth-stride must be at least 1, got {args.depth_stride}")
    camera = CameraIntrinsics.parse(args.intrinsics) if args.intrinsics else None
    check_camera(camera, args.fov, 1)  # before a model loads
    sources = cli_args.source_specs(args.source)
    output = OutputOptions(
        video=args.output, results=args.results, arrays=args.arrays, stats=args.stats,
        depth_format=args.depth_format, camera=camera, fov=args.fov, point_stride=args.point_stride,
        display=not args.no_display, view=ViewMode(args.view) if args.view else None,
        alpha=_alpha_values(args.alpha, tasks), full_size_tiles=args.full_size_tiles,
        hud=not args.no_hud, hud_in_output=args.hud, snapshot_dir=args.snapshot_dir,
        serve=args.serve, serve_token=args.serve_token, rerun=args.rerun, mcap=args.mcap,
        mcap_compression=args.mcap_compression, foxglove=args.foxglove, raw_images=args.raw_images,
        depth_stride=args.depth_stride)
    if len(sources) == 1:  # {source} in a path names the one source too (an @LIST of one, say)
        output = fill_placeholders(output, sources[0])
    options = RunOptions(
        tasks=tuple(tasks),
        source=SourceOptions(sources=sources, require_all=args.require_all, pacing=args.pacing,
                             max_fps=args.max_fps, rates=rates, reconnect=reconnect, max_frames=args.max_frames),
        model=_model_options(args, tasks), output=output)
    return run(options)


def _model_options(args: argparse.Namespace, tasks):
    """The model, precision and device options as ModelOptions (run and batch), parsed here: a bad value
    is one line naming its flag."""
    from .options import ModelOptions

    postprocess = PostprocessOptions.parse(dict(top_k=args.top_k, segmentation_mode=args.segmentation_mode,
                                                threshold=args.threshold), spell=cli_flag)
    if args.revision and len(tasks) > 1:
        raise UsageError("--revision applies to one model: run one task, or pin each model by folder")
    # a run's models wait for frames between runs: live (no ONNX Runtime thread spinning, see Stream.open)
    load = LoadOptions.parse(dict(
        revision=args.revision, cache_dir=args.cache_dir, device=args.device, allow_fallback=args.allow_cpu_fallback,
        precision=args.precision, calibrate=args.calibrate, resize=args.resize, pre_post=args.pre_post,
        batch=args.batch, live=True, labels=args.labels), spell=cli_flag)
    return ModelOptions(models=_task_values(args.model, tasks, "--model", str), load_options=load,
                        input_size=_task_values(args.input_size, tasks, "--input-size", int),
                        depth_stabilize=args.depth_stabilize, track=args.track, postprocess=postprocess)


def _cmd_batch(args: argparse.Namespace) -> int:
    from .batch import Job
    from .batch_sources import expand_sources
    from .options import OutputOptions, RunOptions, SourceOptions
    from .batch_runner import run_batch
    from .stream import parse_tasks

    tasks = parse_tasks(",".join(args.task or ["depth"]))  # --task is repeatable
    options = RunOptions(tasks=tuple(tasks), source=SourceOptions(pacing="every"),
                         model=_model_options(args, tasks),
                         output=OutputOptions(display=False, depth_format=args.depth_format))
    job = Job(options=options, output_dir=str(args.output_dir), video=args.video, arrays=args.arrays)
    workers = _count_or_auto(args.workers, "--workers", "workers")
    return run_batch(expand_sources(args.sources), job, ray=args.ray, workers=workers, force=args.force)


def _cmd_export(args: argparse.Namespace) -> int:
    from .models.export import export_model

    task = Task.parse(args.task)
    model = args.model or DEFAULT_MODELS[task]
    load = LoadOptions.parse(dict(revision=args.revision, cache_dir=args.cache_dir, precision=args.precision,
                                  calibrate=args.calibrate, device=args.device, input_size=args.input_size,
                                  allow_fallback=args.allow_cpu_fallback), spell=cli_flag)
    entry = export_model(model, task, revision=args.revision, cache_dir=args.cache_dir, opset=args.opset,
                         force=args.force)
    exported = entry.path
    if load.precision is not Precision.FP32 or load.input_size is not None:
        from .loader import find_model_entry

        entry = find_model_entry(model, task, revision=args.revision, cache_dir=args.cache_dir,
                                 precision=load.precision, calibrate=args.calibrate, runtime=load)
    for warning in entry.metadata.get("notes", {}).get("validation_warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    # stdout: the folder to copy, the export itself (a precision variant built here is this machine's choice;
    # another machine chooses its own). The round trip to a machine that only runs models (no torch):
    print(f"livevision: to run it where torch is not installed, copy the folder {exported} there "
          f"(e.g. scp -r) and pass that folder as the model: livevision run --task {task.value} --model FOLDER",
          file=sys.stderr)
    print(exported)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    else:
        # Our own progress notes (exporting, provider in use) and warnings; others' only when serious.
        logging.basicConfig(level=logging.WARNING, format="livevision: %(message)s")
        logging.getLogger("livevision").setLevel(logging.INFO)
        _quiet_third_party()
    try:
        with graceful_interrupts():
            return args.handler(args)
    except LiveVisionError as exc:
        print(f"livevision: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("livevision: interrupted; what was written so far is complete", file=sys.stderr)
        return EXIT_SIGINT
    except Terminated:
        print("livevision: terminated; what was written so far is complete", file=sys.stderr)
        return EXIT_SIGTERM
    except Exception as exc:  # a bug, not bad input: one line, the traceback only with -v
        if args.verbose:
            raise
        first_line = (str(exc).strip().splitlines() or [""])[0]
        print(f"livevision: internal error: {type(exc).__name__}: {first_line} (run with -v for the traceback)",
              file=sys.stderr)
        return 1


def _quiet_third_party() -> None:
    """Keep transformers/optimum/OpenCV chatter (deprecations, opset advice, probe failures) off the terminal."""
    import warnings

    import cv2

    warnings.filterwarnings("ignore")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # our own messages say what failed
    # FFmpeg inside OpenCV logs on its own ("[mov,mp4,...] moov atom not found", "[tcp @ ...] Connection
    # refused") before our one-line error; OpenCV reads this when it opens a capture.
    if not os.environ.get("OPENCV_FFMPEG_LOGLEVEL"):  # a level the user set is kept
        os.environ["OPENCV_FFMPEG_LOGLEVEL"] = "-8"  # AV_LOG_QUIET
    for name in ("transformers", "optimum", "torch", "onnxruntime"):
        logging.getLogger(name).setLevel(logging.ERROR)


if __name__ == "__main__":
    sys.exit(main())
