"""livevision.pipeline takes what transformers users pass it (issue 27): construction keywords (device and
device_map as transformers users write them, num_workers, tokenizer), per-call keywords handled as transformers'
pipeline for the task handles them, datasets, model and image processor objects; and gives the attributes they
read (task, model.config, image_processor, device, save_pretrained). Where transformers is the reference, the
same call goes to both."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

import livevision  # noqa: E402
from livevision.errors import UsageError  # noqa: E402
from livevision.testing.tiny_models import reference_images  # noqa: E402

# A tiny model per transformers task.
MODELS = {"depth-estimation": "dpt", "image-classification": "vit", "image-segmentation": "segformer"}


@pytest.fixture(scope="module")
def image():
    return reference_images(1, torch.Generator().manual_seed(5), size=(96, 72))[0]


def _ours(tiny_model, model_cache, task="image-classification", **kwargs):
    return livevision.pipeline(task, model=str(tiny_model(MODELS[task])), cache_dir=model_cache, device="cpu",
                               **kwargs)


def _theirs(tiny_model, task="image-classification", **kwargs):
    folder = tiny_model(MODELS[task])
    processor = transformers.AutoImageProcessor.from_pretrained(folder, use_fast=False)
    return transformers.pipeline(task, model=str(folder), image_processor=processor, device="cpu", **kwargs)


def _outcome(call):
    """What a call gives: ("ok", result) or ("raises", the exception's type family)."""
    try:
        return "ok", call()
    except TypeError:
        return "raises", TypeError
    except ValueError:
        return "raises", ValueError


def _same(got, want) -> bool:
    """livevision's output against transformers': labels and scores (1e-4), depth maps (1e-3), masks."""
    if isinstance(want, dict):
        return np.allclose(got["predicted_depth"], want["predicted_depth"].numpy(), rtol=1e-3, atol=1e-3)
    return [g["label"] for g in got] == [w["label"] for w in want] and all(
        (g["score"] is None and w["score"] is None) or abs(g["score"] - w["score"]) < 1e-4 for g, w in zip(got, want))


# ---- construction --------------------------------------------------------------------------------------


def test_num_workers_device_map_and_a_none_tokenizer_are_taken(tiny_model, model_cache, image):
    exact = _ours(tiny_model, model_cache)(image)
    for kwargs in ({"num_workers": 4}, {"num_workers": 0}, {"tokenizer": None}, {"feature_extractor": None},
                   {"device_map": "cpu"}):
        assert _ours(tiny_model, model_cache, **kwargs)(image) == exact, kwargs
    tokenizer = object()  # transformers' test_custom_tokenizer: a tokenizer given is kept, unused
    with_tokenizer = _ours(tiny_model, model_cache, tokenizer=tokenizer)
    assert with_tokenizer.tokenizer is tokenizer and with_tokenizer(image) == exact
    folder = str(tiny_model("vit"))
    auto = livevision.pipeline("image-classification", model=folder, cache_dir=model_cache, device_map="auto")
    assert auto(image) == exact and auto(image, num_workers=2, batch_size=None) == exact


@pytest.mark.parametrize("kwargs, named", [
    ({"tokenizer": "bert-base-uncased"}, "tokenizer"), ({"processor": object()}, "processor"),
    ({"device_map": {"": 0}}, "device_map"), ({"device_map": "balanced"}, "device_map"),
    ({"num_workers": -1}, "num_workers"), ({"num_workers": 1.5}, "num_workers")])
def test_what_cannot_be_taken_is_a_one_line_value_error(kwargs, named, tiny_model, model_cache):
    with pytest.raises(ValueError) as raised:
        _ours(tiny_model, model_cache, **kwargs)
    assert "\n" not in str(raised.value) and named in str(raised.value)


# ---- device= and device_map=, as transformers users write them ---------------------------------------

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


@pytest.fixture
def vit(tiny_model, exported) -> str:
    """The tiny ViT's folder, exported beforehand (an export makes sessions of its own)."""
    exported("vit")
    return str(tiny_model("vit"))


class _Sessions:
    """The providers each new ONNX Runtime session is asked for, with onnxruntime's available providers
    set by `available(names)`. Each session runs on the CPU and, while `accelerator_starts`, reports the
    provider it was asked for (a machine with the GPU), else the CPU (a GPU build on a machine without one)."""

    def __init__(self, monkeypatch):
        import onnxruntime

        self.monkeypatch, self.requested, self.accelerator_starts = monkeypatch, [], True
        real = onnxruntime.InferenceSession

        def session(path, sess_options=None, providers=None, **kwargs):
            self.requested.append(providers)
            names = [p if isinstance(p, str) else p[0] for p in providers]
            return _Reporting(real(path, sess_options=sess_options, providers=[CPU]),
                              names if self.accelerator_starts else [CPU])

        monkeypatch.setattr(onnxruntime, "InferenceSession", session)

    def available(self, names):
        import onnxruntime

        self.monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: names)


class _Reporting:
    """A session that says it runs on `providers`."""

    def __init__(self, session, providers):
        self._session, self._providers = session, providers

    def get_providers(self):
        return self._providers

    def __getattr__(self, name):
        return getattr(self._session, name)


@pytest.fixture
def sessions(monkeypatch):
    return _Sessions(monkeypatch)


def _load(vit, model_cache, device):
    return livevision.pipeline("image-classification", model=vit, cache_dir=model_cache, precision="fp32",
                               pre_post="host", device=device)


@pytest.mark.parametrize("device, device_id", [(0, 0), (1, 1), ("cuda:0", 0), ("cuda", 0), (np.int64(0), 0),
                                               ("torch:cuda:1", 1)])
def test_a_device_index_selects_that_cuda_device(device, device_id, sessions, vit, model_cache):
    sessions.available([CUDA, CPU])
    if device == "torch:cuda:1":
        device = torch.device("cuda", 1)
    pipe = _load(vit, model_cache, device)
    (providers,) = sessions.requested
    assert [p if isinstance(p, str) else p[0] for p in providers] == [CUDA, CPU]
    assert providers[0][1]["device_id"] == device_id
    assert pipe.predictor.provider == CUDA
    assert pipe.device == torch.device("cuda", device_id)  # transformers' pipe.device


@pytest.mark.parametrize("device_map, device_id", [("cuda", 0), ("cuda:1", 1), (1, 1), ("torch:cuda:1", 1),
                                                   ("auto", 0)])
def test_a_cuda_device_map_selects_that_device_as_device_does(device_map, device_id, sessions, vit, model_cache):
    sessions.available([CUDA, CPU])
    if device_map == "torch:cuda:1":
        device_map = torch.device("cuda", 1)
    pipe = livevision.pipeline("image-classification", model=vit, cache_dir=model_cache, precision="fp32",
                               pre_post="host", device_map=device_map)
    (providers,) = sessions.requested
    assert providers[0][0] == CUDA and providers[0][1]["device_id"] == device_id
    assert pipe.device == torch.device("cuda", device_id)


@pytest.mark.parametrize("device", ["cpu", -1, torch.device("cpu")])
def test_the_cpu_is_asked_for_as_transformers_asks(device, sessions, vit, model_cache):
    sessions.available([CUDA, CPU])  # even with CUDA there
    _load(vit, model_cache, device)
    assert sessions.requested == [[CPU]]


@pytest.mark.parametrize("device", [0, "cuda:0", "cuda"])
def test_a_cuda_device_without_cuda_is_a_one_line_error_not_the_cpu(device, sessions, vit, model_cache):
    from livevision.models.providers import ProviderUnavailableError

    sessions.available([CPU])  # the CPU wheel of onnxruntime
    with pytest.raises(ProviderUnavailableError) as info:
        _load(vit, model_cache, device)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"pipeline(device={device!r}): ") and CUDA in message
    assert sessions.requested == []  # no session was made, on the CPU or elsewhere

    sessions.available([CUDA, CPU])  # the GPU wheel, on a machine whose GPU does not start
    sessions.accelerator_starts = False
    with pytest.raises(ProviderUnavailableError) as info:
        _load(vit, model_cache, device)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"pipeline(device={device!r}): ") and "CPU" in message


def test_a_bool_is_no_device(tiny_model, model_cache):
    with pytest.raises(UsageError, match="device"):
        livevision.pipeline("image-classification", model=str(tiny_model("vit")), cache_dir=model_cache,
                            precision="fp32", device=True)


# ---- keywords, as transformers' pipeline for each task takes them ------------------------------------


CALLS = [{"foo": 1}, {"parameters": {"timeout": 5}}, {"parameters": {"foo": 1}}, {"timeout": 3, "bar": None},
         {"top_k": 2}, {"threshold": 0.5}, {"subtask": "semantic"}, {"num_workers": 2}, {"batch_size": 2}]


@pytest.mark.parametrize("task", list(MODELS))
def test_call_keywords_behave_as_in_transformers(task, tiny_model, model_cache, image):
    """Each call goes to both pipelines: both raise (the same family of error) or both answer the same."""
    ours, theirs = _ours(tiny_model, model_cache, task), _theirs(tiny_model, task)
    same = 0
    for options in CALLS:
        got, want = _outcome(lambda: ours(image, **options)), _outcome(lambda: theirs(image, **options))
        assert got[0] == want[0], (options, got, want)
        assert got[1] is want[1] if got[0] == "raises" else _same(got[1], want[1]), options
        same += 1
    assert same == len(CALLS)


@pytest.mark.parametrize("task", list(MODELS))
def test_construction_keywords_behave_as_in_transformers(task, tiny_model, model_cache, image):
    for options in ({"foo": 1}, {"parameters": {"timeout": 5}}, {"top_k": 2}, {"threshold": 0.5}):
        got = _outcome(lambda: _ours(tiny_model, model_cache, task, **options)(image))
        want = _outcome(lambda: _theirs(tiny_model, task, **options)(image))
        assert got[0] == want[0], (options, got, want)
        assert got[1] is want[1] if got[0] == "raises" else _same(got[1], want[1]), options


def test_livevision_load_options_per_call_are_a_type_error(tiny_model, model_cache, image):
    pipe = _ours(tiny_model, model_cache, "depth-estimation")  # depth ignores unknown keywords, not these
    with pytest.raises(TypeError, match="construction option"):
        pipe(image, precision="int8")
    assert set(pipe(images=image)) == {"predicted_depth", "depth"}  # transformers' other name for the inputs
    with pytest.raises(ValueError, match="needs inputs"):
        pipe()


# ---- datasets -----------------------------------------------------------------------------------------


class _Images(torch.utils.data.Dataset):
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


def test_key_datasets_and_torch_datasets_give_an_iterator_as_in_transformers(tiny_model, model_cache, image):
    from transformers.pipelines.pt_utils import KeyDataset

    other = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    ours, theirs = _ours(tiny_model, model_cache), _theirs(tiny_model)
    listed = ours([image, other])
    for dataset in (KeyDataset([{"image": image}, {"image": other}], "image"), _Images([image, other])):
        for batch_size in (1, 2):
            got, want = ours(dataset, batch_size=batch_size), theirs(dataset, batch_size=batch_size)
            assert not isinstance(got, list) and not isinstance(want, list) and len(got) == 2
            got, want = list(got), list(want)
            assert got == listed and all(_same(g, w) for g, w in zip(got, want))
    with pytest.raises(Exception, match="must be an image") as raised:  # a Dataset of dicts: which item it was
        list(ours(_Images([{"image": image}])))
    assert "\n" not in str(raised.value)


# ---- transformers objects ------------------------------------------------------------------------------


def test_a_model_object_is_exported_once_and_answers_as_its_folder(tiny_model, model_cache, image, tmp_path):
    folder = tiny_model("vit")
    model = transformers.AutoModelForImageClassification.from_pretrained(folder)
    processor = transformers.AutoImageProcessor.from_pretrained(folder, use_fast=False)
    cache = tmp_path / "cache"
    pipe = livevision.pipeline("image-classification", model=model, image_processor=processor, cache_dir=cache)
    assert pipe(image) == _ours(tiny_model, model_cache)(image)
    assert _same(pipe(image), transformers.pipeline("image-classification", model=model, image_processor=processor,
                                                    device="cpu")(image))
    exports = sorted(p.name for p in cache.iterdir() if not p.name.startswith("."))
    assert len(exports) == 1
    again = livevision.pipeline("image-classification", model=model, image_processor=str(folder), cache_dir=cache)
    assert again(image) == pipe(image)  # the processor's folder, as transformers takes it
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == exports  # no second export
    with pytest.raises(ValueError, match="needs image_processor") as raised:  # as transformers: it cannot guess
        livevision.pipeline("image-classification", model=model, cache_dir=cache)
    assert "\n" not in str(raised.value)


def test_an_image_processor_is_taken_when_it_is_the_models_and_refused_when_not(tiny_model, model_cache, image):
    folder = tiny_model("vit")
    exact = _ours(tiny_model, model_cache)(image)
    for processor in (transformers.AutoImageProcessor.from_pretrained(folder, use_fast=False),
                      transformers.AutoImageProcessor.from_pretrained(folder), str(folder)):
        assert _ours(tiny_model, model_cache, image_processor=processor)(image) == exact
    smaller = transformers.AutoImageProcessor.from_pretrained(folder, size={"height": 32, "width": 32})
    dpt = transformers.AutoImageProcessor.from_pretrained(tiny_model("dpt"))
    for processor, named in ((smaller, "size"), (dpt, "DPTImageProcessor"), (object(), "image processor")):
        for key in ("image_processor", "feature_extractor"):
            with pytest.raises(ValueError, match=named) as raised:
                _ours(tiny_model, model_cache, **{key: processor})
            assert "\n" not in str(raised.value)


# ---- attributes ----------------------------------------------------------------------------------------


CONFIG_KEYS = ("id2label", "label2id", "num_labels", "problem_type", "model_type", "architectures", "name_or_path")


def _saved_keys(tiny_model, task) -> list[str]:
    """The keys of the model's config.json: each an attribute of transformers' config."""
    import json

    return sorted(json.loads((tiny_model(MODELS[task]) / "config.json").read_text()))


@pytest.mark.parametrize("task", list(MODELS))
def test_attributes_are_transformers(task, tiny_model, model_cache):
    ours, theirs = _ours(tiny_model, model_cache, task), _theirs(tiny_model, task)
    assert ours.task == theirs.task == task
    assert ours.device == theirs.device == torch.device("cpu")
    assert isinstance(ours.model.config, transformers.PretrainedConfig)
    for key in (*CONFIG_KEYS, *_saved_keys(tiny_model, task)):
        assert getattr(ours.model.config, key) == getattr(theirs.model.config, key), key
    assert ours.model.name_or_path == theirs.model.name_or_path
    assert type(ours.image_processor) is type(theirs.image_processor)
    assert ours.image_processor.to_dict() == theirs.image_processor.to_dict()
    assert ours.tokenizer is theirs.tokenizer is None


@pytest.mark.parametrize("task", list(MODELS))
def test_without_transformers_the_config_and_processor_read_the_same(task, tiny_model, model_cache, monkeypatch):
    import livevision.hf_pipeline_attributes as attributes

    theirs = _theirs(tiny_model, task)
    monkeypatch.setattr(attributes, "importable", lambda name: False)
    ours = _ours(tiny_model, model_cache, task)
    config = ours.model.config
    assert not isinstance(config, transformers.PretrainedConfig)
    for key in (*CONFIG_KEYS, *_saved_keys(tiny_model, task)):
        want = getattr(theirs.model.config, key)
        assert getattr(config, key) == (str(want).removeprefix("torch.") if key == "dtype" else want), key
    assert all(isinstance(k, int) for k in config.id2label)
    with pytest.raises(AttributeError):
        config.no_such_key  # noqa: B018
    with pytest.raises(AttributeError, match="read-only"):
        config.num_labels = 3
    for key, value in theirs.image_processor.to_dict().items():
        if key in ours.image_processor:
            assert getattr(ours.image_processor, key) == value, key
    assert ours.image_processor.size == theirs.image_processor.size
    assert ours.device == "cpu"  # no torch: the device's name


def test_save_pretrained_writes_a_folder_pipeline_loads_again(tiny_model, model_cache, image, tmp_path):
    for precision in ("fp32", "int8"):  # a variant saves its export: the precision is chosen where it runs
        pipe = _ours(tiny_model, model_cache, "image-segmentation", precision=precision)
        pipe.save_pretrained(tmp_path / precision)
        again = livevision.pipeline("image-segmentation", model=str(tmp_path / precision), cache_dir=model_cache,
                                    precision=precision, device="cpu")
        got, want = again(image), pipe(image)
        assert [g["label"] for g in got] == [w["label"] for w in want]
        assert all(np.array_equal(np.asarray(g["mask"]), np.asarray(w["mask"])) for g, w in zip(got, want))
        assert again.model.config.id2label == pipe.model.config.id2label
        again.save_pretrained(tmp_path / precision)  # where it was loaded from: nothing to copy
    assert sorted(p.name for p in (tmp_path / "fp32").iterdir()) == [
        "config.json", "livevision.json", "model.onnx", "preprocessor_config.json"]
    fp32 = livevision.pipeline("image-segmentation", model=str(tmp_path / "int8"), cache_dir=model_cache)
    assert fp32(image) == _ours(tiny_model, model_cache, "image-segmentation")(image)
