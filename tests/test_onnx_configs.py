"""Our Optimum ONNX export configs (livevision.models.onnx_configs), checked against PyTorch.

Each architecture is exported once (module fixture) with ``main_export`` and our custom config, then run
with ONNX Runtime at input sizes and batch sizes *other than the traced ones*, and compared with the
PyTorch model loaded fresh from the same folder. Tracing bakes Python-level decisions into the graph;
those bugs only show at other sizes, batch sizes or inputs -- which is what these tests feed.
"""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("optimum.exporters.onnx")
ort = pytest.importorskip("onnxruntime")

from livevision.testing.tiny_models import (  # noqa: E402
    ARCHITECTURES,
    ZERO_SHOT,
    auto_model_class,
    build_tiny_model,
    reference_images,
)

from livevision.models import onnx_configs, onnx_patches  # noqa: E402

OPTIMUM_TASK = {"depth": "depth-estimation", "classification": "image-classification"}


def optimum_task(name: str) -> str:
    task, model_type = ARCHITECTURES[name]
    if task == "segmentation":
        return "image-segmentation" if model_type in ("maskformer", "mask2former") else "semantic-segmentation"
    return OPTIMUM_TASK[task]


def export(folder, out, task, onnx_config):
    from optimum.exporters.onnx import main_export

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        main_export(
            str(folder),
            out,
            task=task,
            library_name="transformers",
            custom_onnx_configs={"model": onnx_config},
            do_validation=True,
            local_files_only=True,
        )
    return out / "model.onnx"


@pytest.fixture(scope="module")
def onnx_export(tmp_path_factory):
    """onnx_export(name) -> (model folder, path of model.onnx); each tiny model built and exported once."""
    from transformers import AutoConfig

    root = tmp_path_factory.mktemp("onnx-configs")
    done = {}

    def get(name):
        if name not in done:
            folder = build_tiny_model(name, root / name)
            task = optimum_task(name)
            config = onnx_configs.custom_onnx_config(AutoConfig.from_pretrained(folder), task)
            assert config is not None, name
            done[name] = folder, export(folder, root / f"{name}-onnx", task, config)
        return done[name]

    return get


def torch_outputs(folder, name, pixel_values, output_names):
    model = auto_model_class(name).from_pretrained(folder).eval()
    with torch.no_grad():
        out = model(pixel_values=torch.from_numpy(pixel_values))
    return {key: getattr(out, key).numpy() for key in output_names}


def assert_close(name, actual, expected):
    assert actual.shape == expected.shape, f"{name}: ONNX shape {actual.shape} != PyTorch {expected.shape}"
    scale = max(1.0, float(np.abs(expected).max()))
    diff = float(np.abs(actual - expected).max())
    corr = float(np.corrcoef(actual.ravel(), expected.ravel())[0, 1])
    assert diff <= 1e-4 * scale and corr >= 0.9999, f"{name}: max |diff| {diff:.3g} (scale {scale:.3g}), corr {corr}"


# Input sizes (height, width) other than the traced dummy size (dummy_input_size: DA 56x70, ZoeDepth
# 64x96, Swin models 96x128), in the multiples the processors produce; batch sizes other than the dummy 2.
CASES = {
    "depth_anything": [(1, 70, 98), (3, 98, 42)],
    "depth_anything_v2": [(1, 70, 98), (3, 98, 42)],
    "depth_anything_metric": [(1, 70, 98), (3, 98, 42)],
    "zoedepth": [(1, 64, 128), (3, 96, 64)],
    "zoedepth_nyu_kitti": [(1, 64, 128), (3, 96, 64)],
    "mask2former": [(1, 128, 96), (3, 160, 128)],
    "maskformer": [(1, 128, 96), (3, 160, 128)],
    # UperNet's pyramid pooling (onnx_patches.AdaptivePoolModelPatcher) at sizes whose bins do not divide
    "upernet_convnext": [(1, 96, 128), (3, 160, 96)],
    "upernet_swin": [(1, 128, 96), (3, 160, 128)],
    # fixed-size exports (their processors make one size): other batch sizes only
    "beit_semantic": [(1, 64, 64), (3, 64, 64)],
    "data2vec_vision_semantic": [(1, 64, 64), (3, 64, 64)],
    "mobilevit_deeplabv3": [(1, 128, 128), (3, 128, 128)],
    "mobilevitv2_deeplabv3": [(1, 128, 128), (3, 128, 128)],
}


def random_pixels(batch, height, width, seed):
    generator = np.random.default_rng(seed)
    return generator.standard_normal((batch, 3, height, width)).astype(np.float32)


@pytest.mark.parametrize("name", list(CASES))
def test_export_matches_pytorch_at_other_sizes(name, onnx_export):
    folder, onnx_path = onnx_export(name)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    output_names = [o.name for o in session.get_outputs()]
    for seed, (batch, height, width) in enumerate(CASES[name]):
        pixels = random_pixels(batch, height, width, seed)
        actual = dict(zip(output_names, session.run(None, {"pixel_values": pixels})))
        expected = torch_outputs(folder, name, pixels, output_names)
        for key in output_names:
            assert_close(f"{name} {key} at {batch}x{height}x{width}", actual[key], expected[key])


@pytest.mark.parametrize("name", list(CASES))
def test_export_io_names_and_dynamic_axes(name, onnx_export):
    _, onnx_path = onnx_export(name)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (pixel_input,) = session.get_inputs()
    assert pixel_input.name == "pixel_values"
    assert [isinstance(d, str) for d in pixel_input.shape] == [True, True, True, True]  # batch, C, H, W dynamic
    outputs = {o.name: o.shape for o in session.get_outputs()}
    if ARCHITECTURES[name][0] == "depth":
        assert list(outputs) == ["predicted_depth"]
        assert all(isinstance(d, str) for d in outputs["predicted_depth"])
    elif optimum_task(name) == "semantic-segmentation":
        assert list(outputs) == ["logits"]
        assert isinstance(outputs["logits"][0], str) and isinstance(outputs["logits"][2], str)
    else:
        assert list(outputs) == ["class_queries_logits", "masks_queries_logits"]
        assert isinstance(outputs["masks_queries_logits"][2], str)


def test_depth_anything_non_multiple_input_matches_pytorch(onnx_export):
    # The processor always gives multiples of 14; other sizes are floored to the patch grid, like PyTorch.
    folder, onnx_path = onnx_export("depth_anything_v2")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    pixels = random_pixels(1, 60, 80, seed=7)
    (actual,) = session.run(None, {"pixel_values": pixels})
    expected = torch_outputs(folder, "depth_anything_v2", pixels, ["predicted_depth"])["predicted_depth"]
    assert actual.shape == (1, 56, 70)
    assert_close("depth_anything_v2 60x80", actual, expected)


# --- ZoeDepth: the metric head chosen by argmax(...).item() ---------------------------------------


def _inputs_voting_for_each_head(folder):
    """Processed images for which PyTorch picks head 0 and head 1 (searched among random images)."""
    from transformers import AutoImageProcessor

    model = auto_model_class("zoedepth_nyu_kitti").from_pretrained(folder).eval()
    processor = AutoImageProcessor.from_pretrained(folder)
    found = {}
    generator = torch.Generator().manual_seed(1234)
    for image in reference_images(24, generator, size=(128, 96)):
        pixels = processor(image, return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            out = model(pixel_values=pixels)
        vote = int(out.domain_logits.sum(dim=0).argmax())
        found.setdefault(vote, (pixels.numpy(), out.predicted_depth.numpy()))
        if len(found) == 2:
            break
    assert set(found) == {0, 1}, f"no input found for heads {({0, 1} - set(found))}"
    return found


def test_zoedepth_onnx_keeps_the_head_choice(onnx_export):
    folder, onnx_path = onnx_export("zoedepth_nyu_kitti")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    found = _inputs_voting_for_each_head(folder)
    (nyu_pixels, nyu_depth), (kitti_pixels, kitti_depth) = found[0], found[1]
    # The heads are told apart by their depth ranges (tiny model: NYU bins 1-9 m, KITTI 8-72 m).
    assert nyu_depth.max() < 10.0 < kitti_depth.max()
    for label, pixels, depth in (("nyu", nyu_pixels, nyu_depth), ("kitti", kitti_pixels, kitti_depth)):
        (actual,) = session.run(None, {"pixel_values": pixels})
        assert_close(f"zoedepth head {label}", actual, depth)
    # One vote per batch, as in PyTorch: a batch of both images gets a single head for both.
    batch = np.concatenate([nyu_pixels, kitti_pixels])
    (actual,) = session.run(None, {"pixel_values": batch})
    expected = torch_outputs(folder, "zoedepth_nyu_kitti", batch, ["predicted_depth"])["predicted_depth"]
    assert_close("zoedepth mixed batch", actual, expected)


def test_zoedepth_plain_trace_freezes_one_head(onnx_export, tmp_path):
    """Why the head patch exists: without it, the graph holds the dummy input's head only."""
    from transformers import AutoConfig

    folder, _ = onnx_export("zoedepth_nyu_kitti")

    class NeckOnlyPatcher(onnx_configs.ZoeDepthModelPatcher):
        def patch_instances(self, model):
            stage = model.neck.reassemble_stage
            self._patch(stage, "forward", types.MethodType(onnx_patches._zoedepth_reassemble_forward, stage))

    class PlainHeadConfig(onnx_configs.ZoeDepthOnnxConfig):
        _MODEL_PATCHER = NeckOnlyPatcher

    config = PlainHeadConfig(AutoConfig.from_pretrained(folder), task="depth-estimation")
    session = ort.InferenceSession(str(export(folder, tmp_path, "depth-estimation", config)))
    matches = {}
    for vote, (pixels, depth) in _inputs_voting_for_each_head(folder).items():
        (actual,) = session.run(None, {"pixel_values": pixels})
        matches[vote] = bool(np.abs(actual - depth).max() <= 1e-4 * max(1.0, float(np.abs(depth).max())))
    assert sorted(matches.values()) == [False, True], matches  # right for one head, wrong for the other


# --- custom_onnx_config -------------------------------------------------------------------------


def test_custom_onnx_config_selection(tiny_model):
    from transformers import AutoConfig

    assert onnx_configs.CUSTOM_MODEL_TYPES == {"depth_anything", "zoedepth", "mask2former", "mobilevitv2", "upernet",
                                               "focalnet", "swiftformer", "ijepa", "pvt_v2",
                                               "conditional_detr", "deformable_detr"}
    for name in ("dpt", "glpn", "segformer", "vit", "beit", "mobilevit", "dpt_semantic"):
        config = AutoConfig.from_pretrained(tiny_model(name))
        assert onnx_configs.custom_onnx_config(config, optimum_task(name)) is None
    depth = onnx_configs.custom_onnx_config(AutoConfig.from_pretrained(tiny_model("depth_anything")),
                                            "depth-estimation")
    assert list(depth.outputs) == ["predicted_depth"]
    with pytest.raises(ValueError, match="depth-estimation"):
        onnx_configs.custom_onnx_config(AutoConfig.from_pretrained(tiny_model("zoedepth")), "image-segmentation")
    # BEiT: Optimum's classifier config, ours for the semantic head (Optimum lists that task too, now)
    beit = AutoConfig.from_pretrained(tiny_model("beit_semantic"))
    assert list(onnx_configs.custom_onnx_config(beit, "semantic-segmentation").outputs) == ["logits"]
    focalnet = AutoConfig.from_pretrained(tiny_model("focalnet"))
    assert list(onnx_configs.custom_onnx_config(focalnet, "image-classification").outputs) == ["logits"]
    from optimum.exporters.tasks import TasksManager

    assert {"image-classification", "semantic-segmentation"} <= set(
        TasksManager.get_supported_tasks_for_model_type("beit", "onnx", library_name="transformers"))


def test_dummy_input_size_for_real_configs():
    from transformers import BeitConfig, Dinov2Config, SwinConfig, ZoeDepthConfig
    from transformers import DepthAnythingConfig, Mask2FormerConfig

    da = DepthAnythingConfig(backbone_config=Dinov2Config(image_size=518, out_indices=[9, 10, 11, 12]))
    assert onnx_configs.dummy_input_size(da) == (518, 532)
    zoe = ZoeDepthConfig(backbone_config=BeitConfig(image_size=384, out_features=["stage6", "stage12"]))
    assert onnx_configs.dummy_input_size(zoe) == (384, 416)
    swin_large = SwinConfig(image_size=384, window_size=12, out_features=["stage1", "stage2", "stage3", "stage4"])
    assert onnx_configs.dummy_input_size(Mask2FormerConfig(backbone_config=swin_large)) == (416, 448)
    assert onnx_configs.dummy_input_size(Mask2FormerConfig()) == (256, 288)  # Swin-T, window 7: 224 is too small
    from transformers import ConvNextConfig, MobileViTConfig, UperNetConfig

    swin_tiny = SwinConfig(window_size=7, out_features=["stage1", "stage2", "stage3", "stage4"])
    assert onnx_configs.dummy_input_size(UperNetConfig(backbone_config=swin_tiny)) == (256, 288)
    convnext = ConvNextConfig(out_features=["stage1", "stage2", "stage3", "stage4"])
    assert onnx_configs.dummy_input_size(UperNetConfig(backbone_config=convnext)) == (64, 96)
    assert onnx_configs.dummy_input_size(BeitConfig(image_size=640)) == (640, 640)  # beit-base-finetuned-ade-640
    assert onnx_configs.dummy_input_size(MobileViTConfig(image_size=512)) == (512, 512)  # deeplabv3-mobilevit


# --- tiny models ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_tiny_model_builds_and_loads_with_auto_classes(name, tiny_model):
    from transformers import AutoConfig, AutoImageProcessor

    folder = tiny_model(name)
    assert {"config.json", "preprocessor_config.json", "model.safetensors"} <= {p.name for p in folder.iterdir()}
    task, model_type = ARCHITECTURES[name]
    config = AutoConfig.from_pretrained(folder)
    assert config.model_type == model_type
    processor = AutoImageProcessor.from_pretrained(folder, use_fast=False)
    model = auto_model_class(name).from_pretrained(folder).eval()
    assert type(model).__name__ == config.architectures[0]

    images = reference_images(2, torch.Generator().manual_seed(99))
    inputs = {"pixel_values": processor(images, return_tensors="pt")["pixel_values"]}
    if name in ZERO_SHOT:  # text queries too, tokenized by the tokenizer saved beside the processor
        from transformers import AutoProcessor

        inputs = AutoProcessor.from_pretrained(folder)(text=[["a cup", "a car"]] * 2, images=images,
                                                      return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs)
    if task == "depth":
        depth = out.predicted_depth
        assert torch.isfinite(depth).all() and (depth > 0).float().mean() > 0.95
        assert float(depth.std()) > 0.05 * float(depth.abs().mean())  # not a constant map
    elif task == "detection":  # test_detection_models checks the detections themselves
        assert torch.isfinite(out.logits).all() and float(out.pred_boxes.std(dim=1).mean()) > 0.05
    elif task == "classification":
        assert config.num_labels >= 5 and not config.id2label[0].startswith("LABEL_")
        logits = out.logits
        assert float(logits.std(dim=-1).min()) > 1.0  # a clear top-5, not a uniform softmax
        assert float(logits.softmax(-1).max(dim=-1).values.min()) > 0.2
    else:
        maps = processor.post_process_semantic_segmentation(out, target_sizes=[(120, 160)] * 2)
        classes = set(torch.cat([m.flatten() for m in maps]).tolist())
        assert len(classes) >= 3, classes


def test_tiny_model_build_is_deterministic(tmp_path):
    first = build_tiny_model("resnet", tmp_path / "a")
    second = build_tiny_model("resnet", tmp_path / "b")
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
