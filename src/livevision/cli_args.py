"""The `livevision` command's arguments: the parser of every command (cli.py runs them)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable, Mapping

from . import __version__
from .errors import UsageError
from .tasks.depth.stabilize import STABILIZE_CHOICES
from .tasks.detection.head import DetectionOptions
from .tasks.segmentation.head import SegmentationOptions
from .models.registry import DEFAULT_MODELS, supported_model_types
from .models.variant_kinds import DEFAULT_PRECISION
from .options import PostprocessOptions, ViewMode
from .types import Precision, PrePost, ResizeMode, SegmentationKind, Task


def _choices(enum_type) -> str:
    """An option's choices as argparse shows them ({a,b,c}): the options' parsers check them, so that a bad
    one is one line (livevision.options), not argparse's usage and error."""
    return "{" + ",".join(e.value for e in enum_type) + "}"


def _defaults_text() -> str:
    return "\n".join(f"  {t.value:<15} {DEFAULT_MODELS[t]}" for t in Task)


def build_parser(handlers: Mapping[str, Callable]) -> argparse.ArgumentParser:
    """The parser of every command; `handlers`: the function that runs each (by command name)."""
    parser = argparse.ArgumentParser(
        prog="livevision",
        description="Run Hugging Face depth, classification, segmentation and detection models live on video, "
                    "via ONNX Runtime.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="default models:\n" + _defaults_text(),
    )
    parser.add_argument("--version", action="version", version=f"livevision {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log everything, including transformers/optimum/OpenCV messages")
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
    export.add_argument("model", nargs="?",
                        help="Hub id (e.g. Intel/dpt-large) or a local model folder; "
                             "default: the task's default model")
    export.add_argument("--task", required=True, help="depth, classification, segmentation or detection")
    export.add_argument("--revision", help="Hub revision (branch, tag or commit); Hub ids only")
    export.add_argument("--cache-dir",
                        help="where exports are cached (default: models/ in a checkout, else the user cache)")
    export.add_argument("--opset", type=int, help="ONNX opset (default: Optimum's choice for the model)")
    export.add_argument("--force", action="store_true", help="export again even if a cached export exists")
    ahead = export.add_argument_group(
        "precision variant", "build the variant `livevision run` would choose now, so a live demo starts at once; "
        "give the same --precision, --device, --calibrate and --input-size as the run")
    ahead.add_argument("--precision", metavar=_choices(Precision), default=DEFAULT_PRECISION,
                       help=f"the variant to build now, as `run --precision` would choose it (default "
                       f"{DEFAULT_PRECISION}, as run's); fp32: the export only")
    ahead.add_argument("--device", default="auto", help="the device the run will use (default auto)")
    ahead.add_argument("--calibrate", metavar="CLIP", help="video, image folder or glob to calibrate INT8 on")
    ahead.add_argument("--input-size", type=int, metavar="N", help="the model input short side the run will use")
    ahead.add_argument("--allow-cpu-fallback", action="store_true",
                       help="build for the CPU when --device is not available, as the run would")
    export.set_defaults(handler=handlers["export"])
    models = commands.add_parser(
        "models", help="what is supported, and what the export cache holds",
        description="The supported architectures per task with the default models, the export cache's "
        "folder (and why that one), and the exports and precision variants cached there with their sizes.")
    models.add_argument("--cache-dir", help="the cache to show (default: the one a run would use)")
    models.add_argument("--clear", action="store_true", help="remove every cached export and variant")
    models.set_defaults(handler=handlers["models"])
    _add_run_parser(commands).set_defaults(handler=handlers["run"])
    _add_batch_parser(commands).set_defaults(handler=handlers["batch"])
    from .serve_app import add_serve_parser

    add_serve_parser(commands, _add_task_and_models, _add_model_arguments).set_defaults(handler=handlers["serve"])
    return parser


def _add_run_parser(commands) -> argparse.ArgumentParser:
    run = commands.add_parser(
        "run",
        help="run models on a webcam, video file, stream or images and show/save the results",
        description="Run one or more models on a source and draw their results live.\n\n"
        "pacing (how frames are chosen when a model is slower than the source):\n"
        "  live           cameras and streams (default): only the newest frame is inferred, at most one\n"
        "                 in flight per model; every frame is shown with the latest result and its age\n"
        "  every          files (default): every frame inferred, in order, stages overlapped\n"
        "  simulate-live  a file played at its own frame rate, as a camera would deliver it\n\n"
        "keys in the window: q quit, space pause, v next view, s snapshot",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  livevision run --task depth                                   # webcam 0, window\n"
        "  livevision run --task segmentation --source in.mp4 --output out.mp4 --results out.jsonl --no-display\n"
        "  livevision run --task depth,segmentation,classification --rate classification=2 --view grid\n"
        "  livevision run --task depth --source rtsp://camera.local/stream --model Intel/dpt-hybrid-midas\n"
        "  livevision run --task classification --source 'photos/*.jpg' --results labels.jsonl\n"
        "  livevision run --task detection --source @cameras.txt --output videos/ --results all.jsonl\n"
        "\ndefault models:\n" + _defaults_text(),
    )
    _add_task_and_models(run)
    run.add_argument("--source", action="append", metavar="SOURCE|@LIST",
                     help="camera index (default 0), video file, rtsp/http(s) URL, image, folder or glob of images; "
                     "repeatable: several sources in one run, the models shared; @LIST: a text file of sources, one "
                     "a line (blank lines and # comments skipped, relative paths from the current folder). With "
                     "several, name the outputs with {source} or {index}, or give folders (see outputs)")
    run.add_argument("--require-all", action="store_true",
                     help="several sources: stop when any cannot open (default: go on with those that open)")
    pace = run.add_argument_group("pacing")
    pace.add_argument("--pacing", choices=["live", "every", "simulate-live"],
                      help="live for cameras and streams, every for files (defaults); "
                           "simulate-live plays a file like a camera")
    pace.add_argument("--max-fps", type=float, help="cap every task's inference rate (frames per second)")
    pace.add_argument("--rate", action="append", default=[], metavar="TASK=FPS",
                      help="cap one task's inference rate, e.g. classification=2 (repeatable)")
    pace.add_argument("--max-frames", type=int, help="stop after this many frames")
    faults = run.add_argument_group("when a camera or stream stops delivering")
    faults.add_argument("--reconnect", type=int, metavar="N",
                        help="reopen attempts per outage, with backoff (default: 10 for streams, 0 for cameras: "
                        "a camera that is unplugged stops the run)")
    faults.add_argument("--reconnect-timeout", type=float, metavar="S", help="give up after S seconds without frames")
    faults.add_argument("--wait-for-camera", action="store_true", help="keep waiting for the source to come back")
    _add_outputs(run)
    _add_model_arguments(run)
    return run


def source_specs(values: list[str] | None) -> tuple[str, ...]:
    """--source's values (None: not given, camera 0) with each @LIST replaced by the sources it lists, in
    order. A missing, unreadable or empty list, or a source given twice, is one line (UsageError)."""
    specs: list[str] = []
    for value in values or ["0"]:
        specs += _source_list(value[1:]) if value.startswith("@") else [value]
    twice = next((spec for i, spec in enumerate(specs) if spec in specs[:i]), None)
    if twice is not None:
        raise UsageError(f"--source {twice!r} is given twice: give each source once")
    return tuple(specs)


def _source_list(name: str) -> list[str]:
    """The sources a @LIST file names: one a line, blank lines and # comments skipped. Relative paths stay
    as written: from the current folder, as --source's own (and `livevision batch @LIST`'s)."""
    path = Path(name).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UsageError(f"--source @{name}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        reason = "it is a folder" if path.is_dir() else getattr(e, "strerror", None) or str(e)
        raise UsageError(f"--source @{name}: cannot read the list of sources ({reason})") from None
    specs = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    if not specs:
        raise UsageError(f"--source @{name} lists no source: write one a line (blank lines and # comments are "
                         "skipped)")
    nested = next((spec for spec in specs if spec.startswith("@")), None)
    if nested is not None:
        raise UsageError(f"--source @{name} names another list, {nested}: write its sources in the list instead")
    return specs


def _add_outputs(run) -> None:
    """run's files, streams and recordings."""
    out = run.add_argument_group(
        "outputs", "with several sources: {source} (each one's short name: front for /data/front.mp4, camera0,\n"
        "10.0.0.5_cam1 for rtsp://10.0.0.5/cam1) or {index} (0, 1...) in a path names a file per source; a folder\n"
        "(one that exists, or a path ending in / or without extension) holds a file per source, named after it;\n"
        "--results and --stats without either: one file for every source. The window and --serve show every\n"
        "source in one mosaic (keys 1..9: that source alone, 0: all of them)")
    out.add_argument("--output", type=Path, metavar="VIDEO",
                     help="write the annotated video (.mp4 H.264 with the source's audio; .mkv, .mov, .avi), "
                          "or for one image an image (.png, .jpg...)")
    out.add_argument("--results", type=Path, metavar="JSONL",
                     help="write per-frame results as JSON Lines (- for standard output)")
    out.add_argument("--arrays", type=Path, metavar="DIR",
                     help="write raw per-frame arrays (depth maps, label maps) into DIR")
    out.add_argument("--depth-format", choices=["npy", "npz", "png", "ply"], default="npy",
                     help="format of depth arrays in --arrays (png: 16-bit, millimetres for metric models; "
                     "ply: coloured point clouds in metres, metric models only)")
    out.add_argument("--rerun", metavar="FILE.rrd|spawn|connect[=URL]",
                     help="log frames, depth (a 3-D point cloud for metric models), label maps, top-k and telemetry "
                     "to rerun: a recording file, a viewer spawned now, or a running viewer (livevision[rerun])")
    out.add_argument("--mcap", type=Path, metavar="FILE.mcap",
                     help="write ROS 2 messages (CompressedImage, CameraInfo, PointCloud2, String) to an MCAP file "
                     "that Foxglove and ros2 bag open (livevision[mcap])")
    out.add_argument("--mcap-compression", choices=["none", "lz4", "zstd"], default="zstd",
                     help="compress --mcap's chunks (default zstd; lz4 is faster and larger)")
    out.add_argument("--raw-images", action="store_true",
                     help="--rerun, --mcap, --foxglove: exact values, 20-70x larger: the frame as raw BGR, depth "
                     "as float32 (metres for metric models) at full size, label maps as raw images, instead of "
                     "JPEG, 16-bit PNG depth (metric: millimetres; relative: 65535 levels of the frame's range, "
                     "offset and step published beside it) at --depth-stride, and PNG label maps")
    out.add_argument("--depth-stride", type=int, metavar="N",
                     help="--rerun, --mcap, --foxglove: publish depth maps at every N-th pixel in each direction, "
                     "with a camera info scaled to match (default 2: 640x360 for 1280x720, about the depth "
                     "models' own output; 1 with --raw-images; 1: full size)")
    out.add_argument("--foxglove", metavar="[HOST:]PORT",
                     help="serve --mcap's channels live to Foxglove at ws://HOST:PORT (HOST 127.0.0.1 unless given; "
                     "livevision[foxglove])")
    out.add_argument("--fov", type=float, metavar="DEG", help="for point clouds, camera info and object positions "
                     "(depth with detection or segmentation): the camera's horizontal field of view in degrees "
                     "(default 60)")
    out.add_argument("--intrinsics", metavar="FX,FY,CX,CY", help="for point clouds, camera info and object "
                     "positions: the camera's intrinsics in pixels, at the source's resolution (instead of --fov)")
    out.add_argument("--point-stride", type=int, metavar="N",
                     help="for point clouds (ply, --mcap, --foxglove): keep every N-th pixel in each direction "
                     "(default: all for ply, at most 80 columns for --mcap and --foxglove, 16 at 1280x720: "
                     "80x45 points)")
    _add_view_arguments(out)


def _add_view_arguments(out) -> None:
    """run's stats, window, web view and overlay."""
    out.add_argument("--stats", type=Path, metavar="JSON",
                     help="write a telemetry summary at the end (FPS, latencies, result age, drops)")
    out.add_argument("--no-display", action="store_true", help="do not open a window")
    out.add_argument("--serve", metavar="[HOST:]PORT", help="show the view in a browser at http://HOST:PORT/ "
                     "(MJPEG; HOST 127.0.0.1 unless given, 0.0.0.0 for every interface)")
    out.add_argument("--serve-token", metavar="TOKEN", help="the token the web view asks for (?token= in the URL "
                     "printed at start); default: a new one for any address but loopback, none there; "
                     "'none': serve without (a warning off loopback)")
    out.add_argument("--view", choices=[v.value for v in ViewMode],
                     help="overlay, side_by_side (original | result) or grid (the source and one titled tile per "
                     "task); default grid when depth and segmentation both run, else overlay")
    out.add_argument("--alpha", action="append", default=[], metavar="[TASK=]OPACITY",
                     help="opacity 0..1 of the depth and segmentation colours over the frame, e.g. 0.4 or "
                     "depth=0.4 (repeatable; default depth 1 alone, 0.6 with other tasks; segmentation 0.5)")
    out.add_argument("--full-size-tiles", action="store_true",
                     help="grid: every tile at the source's size (default: the grid is the source's size, its "
                     "tiles scaled to fit)")
    out.add_argument("--hud", action="store_true",
                     help="also draw the telemetry overlay (rates, latencies) into --output's video; by default "
                     "only the window and the web view show it")
    out.add_argument("--no-hud", action="store_true", help="hide the telemetry overlay in the window and web view")
    out.add_argument("--snapshot-dir", type=Path, default=Path("."),
                     help="where the s key saves snapshots (default: here)")


def _add_task_and_models(parser) -> None:
    """--task, --model and --revision: which tasks run with which models (run and batch)."""
    parser.add_argument("--task", action="append", metavar="TASK",
                        help="depth (default), classification, segmentation or detection; several: "
                        "--task detection --task depth, or detection,depth")
    parser.add_argument("--model", action="append", default=[], metavar="[TASK=]ID",
                        help="Hub id or local model folder; with several tasks: task=ID (repeatable). "
                        "Default: each task's default model")
    parser.add_argument("--revision", help="Hub revision of --model (one task)")


def _add_model_arguments(parser) -> None:
    """The model, precision and device options `run` and `batch` share."""
    tuning = parser.add_argument_group("model options")
    defaults = PostprocessOptions()
    tuning.add_argument("--segmentation-mode", metavar=_choices(SegmentationKind),
                        default=defaults.segmentation_mode.value,
                        help=f"for MaskFormer/Mask2Former (default {defaults.segmentation_mode}, as the HF "
                             "pipeline); SegFormer is always semantic")
    tuning.add_argument("--threshold", type=float, default=defaults.threshold,
                        help=f"score threshold of segments (default {SegmentationOptions.threshold}) and "
                             f"detected objects (default {DetectionOptions.threshold}), as the HF pipelines")
    tuning.add_argument("--labels", metavar="A,B,...",
                        help="what a zero-shot detector (OWL-ViT, OWLv2) finds, comma-separated: \"person,cup\"")
    tuning.add_argument("--top-k", type=int, default=defaults.top_k,
                        help=f"classes shown for classification (default {defaults.top_k})")
    tuning.add_argument("--resize", metavar=_choices(ResizeMode), default=ResizeMode.EXACT.value,
                        help="exact: resizing identical to the HF processors (default); "
                             "fast: OpenCV's, slightly cheaper")
    tuning.add_argument("--pre-post", metavar=_choices(PrePost), default=PrePost.AUTO.value,
                        help="where pre- and post-processing run: device (ONNX graphs on the model's provider, the "
                        "frame goes up once and only results come down), host (numpy/OpenCV) or auto (default: "
                        "each stage where it measures faster on the first frame; --stats keeps the figures)")
    tuning.add_argument("--depth-stabilize", choices=list(STABILIZE_CHOICES), default="auto",
                        help="depth values over time: align (scale and shift fitted to the previous frame), "
                        "smooth (align, then a motion-aware moving average) or off; default auto: smooth in "
                        "the live modes, align for files, off for one image")
    tuning.add_argument("--track", action="store_true",
                        help="give detected objects and instance/panoptic segments an id that persists over "
                        "frames (ByteTrack; pip install 'livevision[track]')")
    tuning.add_argument("--batch", default="auto", metavar="N|auto",
                        help="every mode: run up to N consecutive frames through the model as one batch "
                        "(default auto: 1 on the CPU, where batching measured no faster; measured on a GPU)")
    tuning.add_argument("--input-size", action="append", default=[], metavar="[TASK=]N",
                        help="model input short side in pixels, for models that take other sizes "
                        "(e.g. Depth Anything 252 or 364 instead of 518: faster, coarser); aspect ratio "
                        "and the model's multiple are kept")
    tuning.add_argument("--cache-dir", type=Path, help="export cache folder")
    device = parser.add_argument_group("execution")
    device.add_argument("--device", default="auto",
                        help="auto (default: the best available), cpu, cuda, tensorrt, openvino, coreml or directml "
                        "(an index may follow: cuda:1)")
    device.add_argument("--precision", metavar=_choices(Precision), default=DEFAULT_PRECISION,
                        help="auto (default): the fastest variant that passes the accuracy gate, measured on this "
                        "machine on first use and cached; fp32; fp16 (GPU); int8")
    device.add_argument("--calibrate", metavar="CLIP",
                        help="video, image folder or glob to calibrate INT8 and check variants on "
                        "(default: synthetic frames; a clip from your camera is better)")
    device.add_argument("--allow-cpu-fallback", action="store_true",
                        help="run on the CPU, with a warning, when --device is not available, instead of stopping")


def _add_batch_parser(commands) -> argparse.ArgumentParser:
    batch = commands.add_parser(
        "batch", help="run models over many video files (or images), here or on a Ray cluster",
        description="Every frame of every file through the same models, each file's results written under "
        "--output-dir, named after it. Models load once per worker; the largest files go first; a bad file is "
        "marked failed and the batch goes on; a rerun skips files already done with the same options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  livevision batch clips/ --task segmentation --output-dir out/ --video\n"
        "  livevision batch 's3://bucket/logs/*.mp4' --task depth --output-dir s3://bucket/depth/ --ray ray://head:10001\n"
        "  livevision batch @list.txt --task classification --output-dir labels/ --ray off")
    batch.add_argument("sources", nargs="+", metavar="SOURCE",
                       help="files, folders, globs, @list.txt (one path or URL per line); fsspec URLs too")
    _add_task_and_models(batch)
    batch.add_argument("--output-dir", required=True, help="where the outputs and manifest.jsonl go (fsspec URL ok)")
    batch.add_argument("--video", action="store_true", help="also write each file's annotated video (.mp4)")
    batch.add_argument("--arrays", action="store_true", help="also write each file's raw arrays (a folder)")
    batch.add_argument("--depth-format", choices=["npy", "npz", "png"], default="npy",
                       help="format of depth arrays with --arrays")
    batch.add_argument("--ray", default="auto", metavar="auto|ADDRESS|local|off",
                       help="auto (default): the Ray cluster RAY_ADDRESS names, else this process; ADDRESS: join a "
                       "cluster (ray://host:10001 or host:6379); local: a Ray on this machine's cores and GPUs "
                       "(slower to start than it wins back on small batches); off: this process (see --workers)")
    batch.add_argument("--workers", default="auto", metavar="N|auto",
                       help="in this process, files run side by side; auto (default): one per "
                       "physical core, each model on one ONNX Runtime thread, when the models run on the CPU "
                       "(as many as memory allows); one on an accelerator")
    batch.add_argument("--force", action="store_true", help="redo files already done with the same options")
    _add_model_arguments(batch)
    return batch
