"""The detection head against transformers' image processors (no model needed): random logits and boxes
through each processor's post_process_object_detection, as the object-detection pipeline calls it, and
through DetectionHead (numpy) and its device graph (ONNX Runtime's CPU provider)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from livevision.graphs.chain import DeviceInput
from livevision.graphs.device_stages import device_postprocessor
from livevision.models.registry import Architecture
from livevision.tasks.detection.head import DetectionHead, DetectionOptions
from livevision.types import PreparedInput, Task

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

# (processor class, a model_type it serves, queries, columns of logits, logits' mean and spread)
CASES = [
    ("DetrImageProcessor", "detr", 30, 7, 0.0, 3.0),
    ("DetrImageProcessor", "table-transformer", 15, 3, 0.0, 3.0),
    ("YolosImageProcessor", "yolos", 20, 5, 0.0, 3.0),
    ("ConditionalDetrImageProcessor", "conditional_detr", 30, 5, -1.0, 2.5),  # top 100 of 150
    ("ConditionalDetrImageProcessor", "conditional_detr", 10, 4, -1.0, 2.5),  # all 40 (fewer than 100)
    ("DeformableDetrImageProcessor", "deformable_detr", 30, 5, -1.0, 2.5),
    ("RTDetrImageProcessor", "rt_detr", 30, 5, -3.0, 2.5),  # RT-DETR, RT-DETRv2, D-FINE: top Q
    ("RTDetrImageProcessor", "d_fine", 12, 6, -3.0, 2.5),
]
THRESHOLDS = (0.3, 0.5, 0.9)
FRAMES = ((480, 640), (300, 1000))
MARGIN = 1e-4  # no score this close to a threshold: float32 rounding cannot flip which side it is on


def _processor(name: str):
    import transformers

    return getattr(transformers, name)()


def _outputs(processor, queries: int, columns: int, mean: float, spread: float):
    """Seeded logits (1, Q, C) and pred_boxes (1, Q, 4), float32, with several scores above 0.5 and none
    within MARGIN of a threshold (by transformers' own scores)."""
    for seed in range(100):
        rng = np.random.default_rng(seed)
        logits = (mean + spread * rng.standard_normal((1, queries, columns))).astype(np.float32)
        boxes = (1.0 / (1.0 + np.exp(-rng.standard_normal((1, queries, 4))))).astype(np.float32)
        scores = _reference(processor, logits, boxes, 0.0, (100, 100))[0]
        distance = np.abs(scores[:, None] - np.array(THRESHOLDS)[None, :])
        if distance.min() > MARGIN and 3 <= np.sum(scores > 0.5) < len(scores):
            return logits, boxes
    raise AssertionError("no seed gives well-separated scores")


def _reference(processor, logits, boxes, threshold, frame_hw):
    """transformers' (scores, labels, boxes), as the pipeline calls it (target_size an IntTensor)."""
    outputs = SimpleNamespace(logits=torch.from_numpy(logits), pred_boxes=torch.from_numpy(boxes))
    found = processor.post_process_object_detection(outputs, threshold, torch.IntTensor([list(frame_hw)]))[0]
    return found["scores"].numpy(), found["labels"].numpy(), found["boxes"].numpy()


def _head(model_type: str, columns: int, threshold: float | None = None) -> DetectionHead:
    architecture = Architecture(model_type, Task.DETECTION, "object-detection", ("logits", "pred_boxes"))
    config = {"id2label": {str(i): f"class {i}" for i in range(columns - 1)}}  # the last has no name
    options = DetectionOptions() if threshold is None else DetectionOptions(threshold=threshold)
    return DetectionHead(architecture, config, options)


def _prepared(frame_hw) -> PreparedInput:
    return PreparedInput(np.zeros((1, 3, 8, 8), np.float32), tuple(frame_hw), (8, 8))


def _assert_same(result, reference, worst: dict) -> None:
    scores, labels, boxes = reference
    got = result.detections
    assert [d.label_id for d in got] == labels.tolist()
    assert [d.label for d in got] == [f"class {i}" if i < len(result.id2label) else f"LABEL_{i}" for i in labels]
    if len(got):
        score_diff = np.max(np.abs(np.array([d.score for d in got]) - scores))
        box_diff = np.max(np.abs(np.array([d.box for d in got]) - boxes))
        assert score_diff <= 1e-6 and box_diff <= 1e-3, (score_diff, box_diff)
        worst["score"], worst["box"] = max(worst["score"], score_diff), max(worst["box"], box_diff)


@pytest.mark.parametrize("case", CASES, ids=[f"{c[1]}-{c[2]}x{c[3]}" for c in CASES])
def test_the_head_gives_the_processors_detections(case, record_property):
    name, model_type, queries, columns, mean, spread = case
    processor = _processor(name)
    logits, boxes = _outputs(processor, queries, columns, mean, spread)
    worst = {"score": 0.0, "box": 0.0}
    for frame_hw in FRAMES:
        default = _head(model_type, columns).postprocess([logits, boxes], _prepared(frame_hw))
        _assert_same(default, _reference(processor, logits, boxes, 0.5, frame_hw), worst)
        assert 3 <= len(default.detections)
        for threshold in THRESHOLDS:
            result = _head(model_type, columns, threshold).postprocess([logits, boxes], _prepared(frame_hw))
            _assert_same(result, _reference(processor, logits, boxes, threshold, frame_hw), worst)
    record_property("max_differences", worst)


@pytest.mark.parametrize("case", CASES, ids=[f"{c[1]}-{c[2]}x{c[3]}" for c in CASES])
def test_the_device_graph_gives_the_heads_detections(case, cpu_session, record_property):
    name, model_type, queries, columns, mean, spread = case
    logits, boxes = _outputs(_processor(name), queries, columns, mean, spread)
    worst = {"score": 0.0, "box": 0.0}
    for threshold in THRESHOLDS:
        head = _head(model_type, columns, threshold)
        post = device_postprocessor(head, [(1, queries, columns), (1, queries, 4)], cpu_session)
        for frame_hw in FRAMES:
            host = head.postprocess([logits, boxes], _prepared(frame_hw))
            device = post([logits, boxes], DeviceInput(None, frame_hw, (8, 8)))
            reference = (np.array([d.score for d in host.detections], np.float32),
                         np.array([d.label_id for d in host.detections], np.int64),
                         np.array([d.box for d in host.detections], np.float32).reshape(-1, 4))
            _assert_same(device, reference, worst)
    record_property("max_differences", worst)


def test_device_post_takes_symbolic_queries_and_classes(cpu_session):
    head = _head("rt_detr", 5)
    logits, boxes = _outputs(_processor("RTDetrImageProcessor"), 30, 5, -3.0, 2.5)
    post = device_postprocessor(head, [(1, "num_queries", "num_labels"), (1, "num_queries", 4)], cpu_session)
    device = post([logits, boxes], DeviceInput(None, (480, 640), (8, 8)))
    host = head.postprocess([logits, boxes], _prepared((480, 640)))
    assert [d.label_id for d in device.detections] == [d.label_id for d in host.detections]
    assert device_postprocessor(head, [(1, 30, 5)], cpu_session) is None  # no pred_boxes output
    assert device_postprocessor(head, [(30, 5), (30, 4)], cpu_session) is None  # not (1, Q, C)


def test_a_model_type_without_detection_post_processing_is_refused():
    from livevision.errors import UnsupportedModelError

    with pytest.raises(UnsupportedModelError, match="model type 'owlvit'"):
        _head("owlvit", 5)


def test_bad_output_shapes_are_one_line_errors():
    head = _head("detr", 4)
    with pytest.raises(ValueError, match=r"pred_boxes must have shape \(1, 10, 4\)"):
        head.postprocess([np.zeros((1, 10, 4), np.float32), np.zeros((1, 9, 4), np.float32)], _prepared((4, 4)))


def _device_result(head, logits, boxes, frame_hw, cpu_session):
    post = device_postprocessor(head, [logits.shape, boxes.shape], cpu_session)
    return post([logits, boxes], DeviceInput(None, frame_hw, (8, 8)))


def test_a_score_equal_to_the_threshold_is_dropped_as_transformers_drops_it(cpu_session):
    """`>` on float32: sigmoid(0) is exactly 0.5, and softmax over 5 equal logits float32(0.2), which a
    float64 comparison would keep (0.2000000030 > 0.2)."""
    boxes = np.full((1, 6, 4), 0.25, np.float32)
    focal = np.zeros((1, 6, 3), np.float32)
    focal[0, [1, 4], [2, 0]] = [2.0, 3.0]  # two clear objects; the other 16 pairs score exactly 0.5
    softmax = np.zeros((1, 6, 5), np.float32)
    softmax[0, 2, 1] = 4.0  # one clear object; the other queries score float32(0.2)
    # (the last: every query shown, the tied ones with the first of their equal classes, as torch.max)
    for name, model_type, logits, threshold, shown in (("RTDetrImageProcessor", "rt_detr", focal, 0.5, 2),
                                                       ("DetrImageProcessor", "detr", softmax, 0.2, 1),
                                                       ("DetrImageProcessor", "detr", softmax, 0.1, 6)):
        reference = _reference(_processor(name), logits, boxes, threshold, (48, 64))
        head = _head(model_type, logits.shape[2], threshold)
        for result in (head.postprocess([logits, boxes], _prepared((48, 64))),
                       _device_result(head, logits, boxes, (48, 64), cpu_session)):
            _assert_same(result, reference, {"score": 0.0, "box": 0.0})
        assert len(reference[0]) == shown


def test_equal_top_k_scores_come_lower_index_first_on_both_paths(cpu_session):
    """torch.topk orders equal scores as it happens to (sigmoid saturates at 1.0 above ~17): both of our
    paths take the lower (query, class) index first, ONNX TopK's rule."""
    rng = np.random.default_rng(1)
    logits = np.full((1, 40, 5), -9.0, np.float32)
    flat = np.sort(rng.choice(200, 8, replace=False))
    logits.reshape(-1)[flat] = rng.uniform(20.0, 40.0, 8)  # all eight score 1.0 in float32
    boxes = np.zeros((1, 40, 4), np.float32)
    boxes[0, :, 0] = np.arange(40) / 40  # cx tells the query
    head = _head("deformable_detr", 5)
    for result in (head.postprocess([logits, boxes], _prepared((100, 200))),
                   _device_result(head, logits, boxes, (100, 200), cpu_session)):
        got = [round(d.box[0] / 200 * 40) * 5 + d.label_id for d in result.detections]
        assert got == flat.tolist()


def _gate_frame(seed: int = 0, queries: int = 20, columns: int = 6):
    rng = np.random.default_rng(seed)
    logits = (3.0 * rng.standard_normal((1, queries, columns))).astype(np.float32)
    logits[0, ::2, -1] = 9.0  # half the queries are background ("no object" wins)
    logits[0, 1:8:2, 0] = 8.0  # four clear objects of class 0
    boxes = rng.uniform(0.2, 0.6, (1, queries, 4)).astype(np.float32)
    return {"logits": logits, "pred_boxes": boxes}


def test_the_gate_passes_a_faithful_variant_and_fails_a_damaged_one():
    from livevision.models.accuracy import check_agreement

    ref = _gate_frame()
    faithful = {k: v + np.float32(1e-3) for k, v in ref.items()}
    report = check_agreement(Task.DETECTION, [ref], [faithful])
    assert report.passed and report.metrics["objects"] >= 4, report.to_dict()
    relabelled = {**ref, "logits": ref["logits"].copy()}
    relabelled["logits"][0, 1, 1] = 20.0  # an object of class 0 becomes class 1
    assert check_agreement(Task.DETECTION, [ref], [relabelled]).failed == ("detection_agreement",)
    doubtful = {**ref, "logits": ref["logits"].copy()}
    doubtful["logits"][0, 3, 0] = 1.2  # an object's score drops from 0.99 to about 0.77
    assert "score_diff" in check_agreement(Task.DETECTION, [ref], [doubtful]).failed
    moved = {**ref, "pred_boxes": ref["pred_boxes"].copy()}
    moved["pred_boxes"][0, 3, :2] += 0.02  # an object's box moves by 0.02 of the frame
    assert check_agreement(Task.DETECTION, [ref], [moved]).failed == ("box_iou",)
    lost = {**ref, "logits": ref["logits"].copy()}
    lost["logits"][0, 5, -1] = 30.0  # an object becomes background
    assert "detection_agreement" in check_agreement(Task.DETECTION, [ref], [lost]).failed
    assert check_agreement(Task.DETECTION, [ref], [[ref["logits"], ref["pred_boxes"]]]).passed  # a list, in order


# ---- livevision.pipeline("object-detection"): keywords and transformers' output format ------------------


def test_the_output_is_the_pipelines_own_postprocess_output():
    """transformers' ObjectDetectionPipeline.postprocess (its label names, `box.int()`) on the same outputs:
    the boxes' corners cut toward zero (some are negative here), scores as floats."""
    from transformers.pipelines.object_detection import ObjectDetectionPipeline

    from livevision.tasks.detection.hf_output import transformers_output

    logits, boxes = _outputs(_processor("DetrImageProcessor"), 30, 7, 0.0, 3.0)
    boxes[0, :, :3] = [[0.02, 0.5, 0.0401], [0.1, 0.5, 0.2999]] * 15  # xmin -0.05 and -49.95 px: cut to 0, -49
    theirs = object.__new__(ObjectDetectionPipeline)
    theirs.framework, theirs.tokenizer, theirs.image_processor = "pt", None, _processor("DetrImageProcessor")
    id2label = {i: f"class {i}" for i in range(6)}
    theirs.model = SimpleNamespace(config=SimpleNamespace(id2label=id2label))
    outputs = _DictOutputs(logits=torch.from_numpy(logits), pred_boxes=torch.from_numpy(boxes),
                           target_size=torch.IntTensor([[300, 1000]]))
    head = _head("detr", 7, 0.3)
    ours = transformers_output(head.postprocess([logits, boxes], _prepared((300, 1000))))
    want = theirs.postprocess(outputs, threshold=0.3)
    assert [o["label"] for o in ours] == [w["label"] for w in want] and len(want) >= 5
    assert [o["box"] for o in ours] == [w["box"] for w in want]
    assert {w["box"]["xmin"] for w in want} == {0, -49}
    assert np.allclose([o["score"] for o in ours], [w["score"] for w in want], rtol=0, atol=1e-6)
    assert all(type(o["score"]) is float and all(type(v) is int for v in o["box"].values()) for o in ours)


class _DictOutputs(dict):
    """transformers' ModelOutput as the pipeline hands it over: keys and attributes."""

    __getattr__ = dict.__getitem__


def test_threshold_is_taken_and_other_keywords_ignored_as_transformers_does():
    from transformers.pipelines.object_detection import ObjectDetectionPipeline

    from livevision import hf_pipeline_args as args

    # transformers' own rule: _sanitize_parameters(**kwargs) keeps threshold (and timeout), ignores the rest
    assert ObjectDetectionPipeline._sanitize_parameters(None, threshold=0.3, top_k=2) == ({}, {}, {"threshold": 0.3})
    assert args.construction(Task.DETECTION, {"threshold": 0.3, "top_k": 2}).options == {"threshold": 0.3}
    assert args.call_options(Task.DETECTION, {"threshold": 0.9, "foo": 1, "timeout": 3}) == {"threshold": 0.9,
                                                                                               "timeout": 3}
    with pytest.raises(TypeError, match="construction option"):
        args.call_options(Task.DETECTION, {"precision": "int8"})


def test_the_threshold_option_is_each_tasks_own_default_when_not_given():
    from livevision.errors import OptionError
    from livevision.hf_pipeline import LivePipeline
    from livevision.options import PostprocessOptions

    assert PostprocessOptions().detection().threshold == 0.5  # transformers' object-detection default
    assert PostprocessOptions().segmentation().threshold == 0.9  # its image-segmentation default
    given = PostprocessOptions.parse({"threshold": "0.25"})
    assert given.detection().threshold == given.segmentation().threshold == 0.25
    assert LivePipeline._postprocess_options({"threshold": 0.7, "timeout": 3}).detection().threshold == 0.7
    with pytest.raises(OptionError, match="^threshold must be between 0 and 1, got 1.5"):
        LivePipeline._postprocess_options({"threshold": 1.5})


class _FakePredictor:
    """What LivePipeline asks of its predictor, with fixed DETR outputs for every image."""

    def __init__(self, logits, boxes):
        from livevision.options import PostprocessOptions

        self.task, self.batchable, self.options = Task.DETECTION, False, PostprocessOptions()
        self.architecture = Architecture("detr", Task.DETECTION, "object-detection", ("logits", "pred_boxes"))
        self.config = {"id2label": {str(i): f"class {i}" for i in range(6)}}
        self.head = DetectionHead(self.architecture, self.config)
        self.outputs = [logits, boxes]

    def preprocess(self, frame):
        return PreparedInput(np.zeros((1, 3, 8, 8), np.float32), frame.shape[:2], (8, 8))

    def infer(self, prepared):
        return self.outputs

    def postprocess(self, outputs, prepared):
        return self.head.postprocess(outputs, prepared)


def test_one_image_gives_a_list_and_a_list_of_images_a_list_of_lists():
    from livevision.hf_pipeline import LivePipeline

    logits, boxes = _outputs(_processor("DetrImageProcessor"), 30, 7, 0.0, 3.0)
    pipe = object.__new__(LivePipeline)
    pipe._task, pipe.task, pipe.options, pipe.batch_size, pipe._heads = Task.DETECTION, "object-detection", {}, 1, {}
    pipe.predictor = _FakePredictor(logits, boxes)
    image = np.zeros((300, 1000, 3), np.uint8)  # RGB, as PIL gives it
    one = pipe(image)
    assert isinstance(one, list) and all(set(d) == {"score", "label", "box"} for d in one) and len(one) >= 3
    assert pipe([image, image]) == [one, one]
    fewer = pipe(image, threshold=0.9)
    assert 0 < len(fewer) < len(one) and all(d["score"] > 0.9 for d in fewer)
    assert pipe(image, foo=1) == one  # ignored, as transformers ignores it


def test_the_cli_threshold_defaults_to_each_tasks_own(monkeypatch, capsys):
    from livevision import cli
    from livevision.models import registry

    monkeypatch.setitem(registry.DEFAULT_MODELS, Task.DETECTION, registry.DEFAULT_MODELS.get(Task.DETECTION, "x"))
    parser = cli.build_parser()
    assert parser.parse_args(["run"]).threshold is None
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--help"])
    assert "segments (default 0.9) and detected objects (default 0.5)" in " ".join(capsys.readouterr().out.split())


def test_extreme_logits_score_without_warnings(recwarn):
    logits = np.array([[[-200.0, 0.0, 200.0], [-90.0, 95.0, 3.0]]], np.float32)
    result = _head("deformable_detr", 3).postprocess([logits, np.full((1, 2, 4), 0.5, np.float32)], _prepared((10, 10)))
    assert [d.score for d in result.detections] == [1.0, 1.0, pytest.approx(0.9526, abs=1e-4)]
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
