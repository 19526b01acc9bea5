"""`livevision.pipeline("zero-shot-object-detection", model=...)(image, candidate_labels=[...])`: transformers'
zero-shot detection pipeline on an OWL-ViT / OWLv2 export.

The labels come with each call (transformers' `candidate_labels`, or its older `text_queries`; a string is
split at commas, unstripped, as transformers splits it), and `top_k` cuts the objects, best first. The model
is loaded once; a call with other labels gets a Predictor over the same session with those labels tokenized
(loader.with_labels), kept for the next calls with the same labels.
"""

from __future__ import annotations

from .errors import OptionError
from .loader import with_labels

TASK = "zero-shot-object-detection"

#: The labels the model is loaded with before a call gives its own (its session needs no labels to open;
#: the loader wants some, and every call replaces them).
LOAD_LABELS = ("object",)

_KEEP = 8  # label sets whose Predictors a pipeline keeps


def call_labels(options: dict) -> tuple[tuple[str, ...], int | None]:
    """Take a call's candidate_labels (or text_queries) and top_k out of `options`: (labels, top_k)."""
    labels = options.pop("candidate_labels", None)
    queries = options.pop("text_queries", None)
    labels = queries if labels is None else labels
    top_k = options.pop("top_k", None)
    if labels is None:
        raise OptionError(f"the {TASK} pipeline needs candidate_labels: pipe(image, candidate_labels=[\"cat\", ...])")
    if isinstance(labels, str):
        labels = labels.split(",")
    if not labels or not all(isinstance(label, str) and label.strip() for label in labels):
        raise OptionError(f"candidate_labels must be non-empty strings, got {labels!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise OptionError(f"top_k must be a positive integer or None, got {top_k!r}")
    return tuple(labels), top_k


class LabelledPredictors:
    """The pipeline's Predictor for each label set: one session, the labels' text inputs and head each."""

    def __init__(self, predictor) -> None:
        self.current = predictor.loaded.options.labels  # the labels of the Predictor get gave last
        self._by_labels = {self.current: predictor}

    def get(self, labels: tuple[str, ...]):
        from .predictor import Predictor

        self.current = labels
        found = self._by_labels.get(labels)
        if found is None:
            base = next(iter(self._by_labels.values()))
            found = Predictor(with_labels(base.loaded, labels), options=base.options)
            while len(self._by_labels) >= _KEEP:
                self._by_labels.pop(next(iter(self._by_labels)))
            self._by_labels[labels] = found
        return found
