"""`livevision export` and model loading: local folders, cache reuse, torch-free reloads, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_runner import run_cli

from livevision.cli import main
from livevision.errors import ModelNotFoundError, UnsupportedModelError
from livevision.models.export import export_model
from livevision.models.resolve import parse_model_ref


def test_export_local_folder_then_reuse(tiny_model, tmp_path):
    folder = tiny_model("vit")
    cache = tmp_path / "cache"
    first = run_cli("export", str(folder), "--task", "classification", "--cache-dir", str(cache), "--precision", "fp32")
    assert first.returncode == 0, first.stderr
    entry_dir = first.stdout.strip()
    onnx_path = os.path.join(entry_dir, "model.onnx")
    assert os.path.getsize(onnx_path) > 0
    assert json.load(open(os.path.join(entry_dir, "livevision.json")))["key"]["options"]["task"] == "classification"
    mtime = os.path.getmtime(onnx_path)

    second = run_cli("export", str(folder), "--task", "classification", "--cache-dir", str(cache),
                     "--precision", "fp32")
    assert second.returncode == 0 and second.stdout.strip() == entry_dir
    assert os.path.getmtime(onnx_path) == mtime  # reused, not re-exported


def test_force_rebuilds(tiny_model, tmp_path):
    folder = tiny_model("vit")
    entry = export_model(folder, "classification", cache_dir=tmp_path)
    created = entry.metadata["created"]
    again = export_model(folder, "classification", cache_dir=tmp_path, force=True)
    assert again.path == entry.path and again.metadata["created"] > created


def test_changed_folder_gets_a_new_entry(tiny_model, tmp_path):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_model("vit"), folder)
    first = export_model(folder, "classification", cache_dir=tmp_path / "cache")
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {str(i): f"renamed_{i}" for i in range(len(config["id2label"]))}
    (folder / "config.json").write_text(json.dumps(config))
    second = export_model(folder, "classification", cache_dir=tmp_path / "cache")
    assert second.path != first.path
    assert second.read_json("config.json")["id2label"]["0"] == "renamed_0"


def test_second_load_does_not_import_torch(tiny_model, tmp_path):
    folder = tiny_model("vit")
    export_model(folder, "classification", cache_dir=tmp_path)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        from livevision.predictor import load_model
        model = load_model({str(folder)!r}, "classification", cache_dir={str(tmp_path)!r})
        result = model(np.full((48, 64, 3), 127, np.uint8))
        assert len(result.labels) == 5, result
        # Pillow is a runtime dependency (the exact resize is Pillow's own); these are not
        heavy = sorted(m for m in ("torch", "transformers", "optimum") if m in sys.modules)
        print("HEAVY=" + ",".join(heavy))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY=\n" in out.stdout or out.stdout.strip().endswith("HEAVY=")


def test_wrong_task_names_the_supported_ones(tiny_model, tmp_path, capsys):
    code = main(["export", str(tiny_model("vit")), "--task", "depth", "--cache-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1
    assert "'vit'" in err and "depth_anything" in err and "zoedepth" in err


def test_unsupported_architecture(tmp_path, capsys):
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    with pytest.raises(UnsupportedModelError, match="supported: .*segformer"):
        export_model(folder, "segmentation", cache_dir=tmp_path / "cache")
    assert main(["export", str(folder), "--task", "segmentation", "--cache-dir", str(tmp_path)]) == 1
    assert "not supported" in capsys.readouterr().err


def test_classifier_without_head_is_rejected(tmp_path):
    folder = tmp_path / "backbone"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "vit", "architectures": ["ViTModel"]}))
    with pytest.raises(UnsupportedModelError, match="ViTModel"):
        export_model(folder, "classification", cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("bad, message", [
    ("/no/such/folder", "model folder not found"),
    ("./relative/missing", "model folder not found"),
])
def test_missing_folder(bad, message, capsys):
    assert main(["export", bad, "--task", "depth"]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_folder_without_config(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        parse_model_ref(tmp_path)


def test_unreachable_hub_says_how_to_use_a_local_folder(tmp_path):
    result = run_cli("export", "some-org/some-model", "--task", "depth", "--cache-dir", str(tmp_path / "c"),
                      env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    assert result.returncode == 1
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "some-org/some-model" in err and "unreachable" in err and "local" in err


def test_unknown_task_exit_code(capsys):
    assert main(["export", "x", "--task", "colour"]) == 2
    assert "unknown task 'colour'" in capsys.readouterr().err


def test_revision_is_part_of_a_hub_model_identity():
    assert parse_model_ref("org/model").revision == "main"
    assert parse_model_ref("org/model", revision="v1.0").revision == "v1.0"


def test_corrupt_onnx_file_is_a_clear_error(tiny_model, tmp_path, capsys):
    folder = tiny_model("vit")
    entry = export_model(folder, "classification", cache_dir=tmp_path)
    size = entry.onnx_path.stat().st_size
    entry.onnx_path.write_bytes(b"\x00garbage" * (size // 8) + b"\x00" * (size % 8))  # same size: looks complete
    assert entry.onnx_path.stat().st_size == size
    from livevision.errors import CacheError
    from livevision.predictor import load_model

    with pytest.raises(CacheError, match="cannot load ONNX model"):
        load_model(folder, "classification", cache_dir=tmp_path, precision="fp32")
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "frame.png"), np.zeros((32, 32, 3), np.uint8))
    code = main(["run", "--task", "classification", "--model", str(folder), "--cache-dir", str(tmp_path),
                 "--precision", "fp32", "--source", str(tmp_path / "frame.png"), "--no-display"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("livevision: error: cannot load ONNX model") and len(err[-1]) < 400


def test_two_processes_exporting_at_once_share_one_entry(tiny_model, tmp_path):
    folder = tiny_model("resnet")
    cmd = [sys.executable, "-m", "livevision", "export", str(folder), "--task", "classification",
           "--cache-dir", str(tmp_path), "--precision", "fp32"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert outs[0][0].strip() == outs[1][0].strip()  # the same entry
    entries = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1
    onnxruntime = pytest.importorskip("onnxruntime")
    onnxruntime.InferenceSession(os.path.join(outs[0][0].strip(), "model.onnx"))  # and it is a valid model


def test_export_can_build_the_precision_variant_ahead_of_a_run(tiny_model, tmp_path):
    # a live demo should not spend its first minute building and timing variants
    folder, cache = tiny_model("vit"), tmp_path / "cache"
    built = run_cli("export", str(folder), "--task", "classification", "--cache-dir", str(cache),
                     "--precision", "int8", "--device", "cpu")
    assert built.returncode == 0, built.stderr
    assert "building, checking and timing variants" in built.stderr
    # stdout names the folder to copy, as stderr does (issue 18: it named the variant, stderr the export)
    to_copy = built.stdout.strip()
    assert to_copy.splitlines() == [to_copy] and f"copy the folder {to_copy} there" in built.stderr
    assert "precision" not in json.load(open(os.path.join(to_copy, "livevision.json")))["key"]["options"]
    variants = [p for p in cache.iterdir() if (p / "livevision.json").is_file() and str(p) != to_copy]
    assert len(variants) == 1
    assert json.load(open(variants[0] / "livevision.json"))["notes"]["precision"]["chosen"] == "int8-dynamic"
    clip = tmp_path / "frame.png"
    cv2.imwrite(str(clip), np.full((48, 64, 3), 127, np.uint8))
    run = run_cli("run", "--task", "classification", "--model", str(folder), "--source", str(clip), "--no-display",
                   "--precision", "int8", "--device", "cpu", "--cache-dir", str(cache))
    assert run.returncode == 0, run.stderr
    assert "building, checking and timing" not in run.stderr and "exporting" not in run.stderr


def test_export_and_run_share_their_default_precision(tiny_model, tmp_path):
    """An export made ahead with default options is the one a run with default options uses: the run
    builds nothing (issue 12: export defaulted to fp32 while run defaulted to auto)."""
    folder, cache = tiny_model("vit"), tmp_path / "cache"
    built = run_cli("export", str(folder), "--task", "classification", "--cache-dir", str(cache), "--device", "cpu")
    assert built.returncode == 0, built.stderr
    assert "building, checking and timing variants" in built.stderr
    clip = tmp_path / "frame.png"
    cv2.imwrite(str(clip), np.full((48, 64, 3), 127, np.uint8))
    run = run_cli("run", "--task", "classification", "--model", str(folder), "--source", str(clip), "--no-display",
                  "--device", "cpu", "--cache-dir", str(cache))
    assert run.returncode == 0, run.stderr
    assert "building, checking and timing" not in run.stderr and "exporting" not in run.stderr


def test_models_lists_the_cache_and_clears_only_its_entries(tiny_model, tmp_path):
    cache = tmp_path / "cache"
    folder = tiny_model("vit")
    assert run_cli("export", str(folder), "--task", "classification", "--cache-dir", str(cache),
                   "--precision", "fp32").returncode == 0
    (cache / "my-notes.txt").write_text("not livevision's")
    listed = run_cli("models", "--cache-dir", str(cache))
    assert listed.returncode == 0, listed.stderr
    out = listed.stdout
    assert "segformer" in out and "default: nvidia/segformer-b0-finetuned-ade-512-512" in out
    assert f"cache: {cache} (--cache-dir)" in out and "1 cached" in out
    row = next(line for line in out.splitlines() if str(folder) in line)
    assert "classification" in row and "vit" in row and "export" in row and " MB" in row
    cleared = run_cli("models", "--cache-dir", str(cache), "--clear")
    assert cleared.returncode == 0 and "removed 1 cached model" in cleared.stdout
    assert sorted(p.name for p in cache.iterdir()) == ["my-notes.txt"]
    assert "nothing cached yet" in run_cli("models", "--cache-dir", str(cache)).stdout


def test_models_counts_hard_linked_files_once(tiny_model, tmp_path):
    """Issue 18: a variant that chose fp32 hard-links the export's model.onnx, and `models` counted it twice
    (668.6 MB shown, 527 MB on disk)."""
    import shutil

    from livevision.models.cache import ModelCache
    from livevision.models.inventory import cached_models, disk_bytes

    cache = tmp_path / "cache"
    exported = run_cli("export", str(tiny_model("vit")), "--task", "classification", "--cache-dir", str(cache),
                       "--precision", "fp32")
    assert exported.returncode == 0, exported.stderr
    export = Path(exported.stdout.strip())
    linked = cache / "vit-linked"  # a variant entry as precision.py makes one when it keeps fp32
    linked.mkdir()
    for name in ("config.json", "preprocessor_config.json"):
        shutil.copy2(export / name, linked / name)
    os.link(export / "model.onnx", linked / "model.onnx")
    meta = json.loads((export / "livevision.json").read_text())
    meta["key"]["options"]["precision"] = "auto"
    (linked / "livevision.json").write_text(json.dumps(meta))
    on_disk = {(st.st_ino, st.st_size) for st in (p.stat() for p in cache.rglob("*")
                                                  if p.is_file() and p.parent != cache and ".locks" not in p.parts)}
    on_disk_bytes = sum(size for _, size in on_disk)
    entries = cached_models(ModelCache(cache))
    assert len(entries) == 2 and disk_bytes(entries) == on_disk_bytes < sum(m.size_bytes for m in entries)
    out = run_cli("models", "--cache-dir", str(cache)).stdout
    assert f"2 cached, {on_disk_bytes / 1e6:.1f} MB on disk" in out, out
    onnx_mb = (export / "model.onnx").stat().st_size / 1e6
    row = next(line for line in out.splitlines() if "[vit-linked]" in line)
    assert f"{onnx_mb:.1f} MB of it hard links" in row, out


def test_models_says_which_cache_a_run_uses():
    from livevision.models.cache import default_cache_dir

    listed = run_cli("models")
    assert listed.returncode == 0 and f"cache: {default_cache_dir()} (" in listed.stdout


def test_the_precision_table_and_its_warning_are_printed_once(tiny_model, tmp_path):
    """Issue 12: the gate's warning came twice (logged, then again under the table) and the table's heading
    repeated "precision ..." twice."""
    built = run_cli("export", str(tiny_model("resnet")), "--task", "classification", "--cache-dir",
                    str(tmp_path / "cache"), "--precision", "int8", "--device", "cpu")
    assert built.returncode == 0, built.stderr
    err = built.stderr
    assert err.count("FAILED the accuracy gate") == 1, err  # tiny ResNet's INT8 fails the gate on held-out frames
    assert err.count(": precision int8: chose int8-static") == 1, err  # one heading, naming the model
    assert not [line for line in err.splitlines() if line.startswith("livevision: precision int8 for")
                and line.endswith(":")], err
    assert len([line for line in err.splitlines() if line.startswith("  int8-static")]) == 1


def test_an_export_folder_copied_elsewhere_runs_as_the_model(tiny_model, tmp_path):
    """The round trip to a machine without torch: `export` names the folder to copy; the copy,
    anywhere, is a model for `run` and load_model (no export, no Hub, no original folder)."""
    import re
    import shutil

    from livevision.predictor import load_model

    folder, cache = tiny_model("vit"), tmp_path / "cache"
    exported = run_cli("export", str(folder), "--task", "classification", "--cache-dir", str(cache),
                       "--precision", "fp32")
    assert exported.returncode == 0, exported.stderr
    named = re.search(r"copy the folder (\S+) there", exported.stderr)
    assert named and exported.stdout.strip() == named.group(1)
    copy = tmp_path / "elsewhere" / "vit"
    shutil.copytree(named.group(1), copy)
    frame = np.full((48, 64, 3), 127, np.uint8)
    result = load_model(str(copy), "classification", cache_dir=tmp_path / "runtime-cache", precision="fp32")(frame)
    assert len(result.labels) == 5
    assert not (tmp_path / "runtime-cache").exists() or not any((tmp_path / "runtime-cache").iterdir())

    with pytest.raises(Exception, match="export for classification, not depth"):
        load_model(str(copy), "depth", cache_dir=tmp_path / "runtime-cache")
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), frame)
    # the runtime machine's messages name the folder passed, not the one on the export machine (issue 18)
    ran = run_cli("run", "--task", "classification", "--model", str(copy), "--source", str(image), "--no-display",
                  "--cache-dir", str(tmp_path / "runtime-cache"), "--device", "cpu")
    assert ran.returncode == 0, ran.stderr
    assert f"precision auto for {copy}: building" in ran.stderr and f"{copy} runs on" in ran.stderr, ran.stderr
    assert str(folder) not in ran.stderr, ran.stderr
    (copy / "model.onnx").write_bytes(b"cut short")
    cut = run_cli("run", "--task", "classification", "--model", str(copy), "--source", str(image), "--no-display",
                  "--cache-dir", str(tmp_path / "runtime-cache"))
    assert cut.returncode != 0 and "incomplete export" in cut.stderr and "Traceback" not in cut.stderr
