"""Multi-object tracking scores against a ground truth: MOTA with its ID switches (CLEAR MOT) and IDF1.

Both take, per evaluated frame, {ground-truth id: box} and {track id: box} (boxes (xmin, ymin, xmax,
ymax)); a ground-truth object and a track match in a frame where their boxes' IoU is at least 0.5.
Objects the tracker left without an id are not in its output: leave them out of `tracks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

Boxes = Mapping[int, Sequence[float]]
MATCH_IOU = 0.5


@dataclass(frozen=True)
class TrackingScores:
    """idf1: 2 IDTP / (ground-truth boxes + track boxes), with one global ground-truth-to-track matching;
    mota: 1 - (misses + false_positives + id_switches) / ground-truth boxes; id_switches: times a
    ground-truth object was matched to another track than the one it last matched."""

    idf1: float
    mota: float
    id_switches: int
    misses: int
    false_positives: int
    ground_truth: int

    def row(self) -> dict:
        return {"IDF1": round(self.idf1, 3), "MOTA": round(self.mota, 3), "ID switches": self.id_switches,
                "misses": self.misses, "false positives": self.false_positives}


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of two (N, 4) xyxy box arrays."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _frame_ious(truth: Boxes, tracks: Boxes) -> tuple[list[int], list[int], np.ndarray]:
    gt_ids, track_ids = list(truth), list(tracks)
    ious = iou_matrix(np.array([truth[g] for g in gt_ids]), np.array([tracks[t] for t in track_ids]))
    return gt_ids, track_ids, ious


def _clear_matches(truth: Boxes, tracks: Boxes, last: dict[int, int]) -> dict[int, int]:
    """One frame's ground truth -> track matches, CLEAR MOT style: last frame's pairs that still overlap
    are kept, the rest matched by maximum total IoU."""
    gt_ids, track_ids, ious = _frame_ious(truth, tracks)
    matches = {}
    for gi, g in enumerate(gt_ids):
        t = last.get(g)
        if t in tracks and ious[gi, track_ids.index(t)] >= MATCH_IOU and t not in matches.values():
            matches[g] = t
    free_g = [gi for gi, g in enumerate(gt_ids) if g not in matches]
    free_t = [ti for ti, t in enumerate(track_ids) if t not in matches.values()]
    if free_g and free_t:
        sub = ious[np.ix_(free_g, free_t)]
        for r, c in zip(*linear_sum_assignment(sub, maximize=True)):
            if sub[r, c] >= MATCH_IOU:
                matches[gt_ids[free_g[r]]] = track_ids[free_t[c]]
    return matches


def _idtp(truth: Sequence[Boxes], tracks: Sequence[Boxes]) -> int:
    """The identity true positives of the best global ground-truth-to-track matching."""
    all_gt = sorted({g for frame in truth for g in frame})
    all_tracks = sorted({t for frame in tracks for t in frame})
    if not all_gt or not all_tracks:
        return 0
    gt_row, track_col = {g: i for i, g in enumerate(all_gt)}, {t: i for i, t in enumerate(all_tracks)}
    overlap = np.zeros((len(all_gt), len(all_tracks)), int)  # frames each pair matches in
    for frame_truth, frame_tracks in zip(truth, tracks):
        gt_ids, track_ids, ious = _frame_ious(frame_truth, frame_tracks)
        for gi, ti in zip(*np.nonzero(ious >= MATCH_IOU)):
            overlap[gt_row[gt_ids[gi]], track_col[track_ids[ti]]] += 1
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    return int(overlap[rows, cols].sum())


def score(truth: Sequence[Boxes], tracks: Sequence[Boxes]) -> TrackingScores:
    """The scores of `tracks` against `truth`, two sequences over the same evaluated frames."""
    if len(truth) != len(tracks):
        raise ValueError(f"truth has {len(truth)} frames, tracks {len(tracks)}")
    n_truth = sum(len(f) for f in truth)
    n_tracks = sum(len(f) for f in tracks)
    misses = false_positives = switches = 0
    last: dict[int, int] = {}  # ground-truth id -> the track it last matched
    for frame_truth, frame_tracks in zip(truth, tracks):
        matches = _clear_matches(frame_truth, frame_tracks, last)
        misses += len(frame_truth) - len(matches)
        false_positives += len(frame_tracks) - len(matches)
        switches += sum(1 for g, t in matches.items() if g in last and last[g] != t)
        last.update(matches)
    idf1 = 2 * _idtp(truth, tracks) / (n_truth + n_tracks) if n_truth + n_tracks else 1.0
    mota = 1 - (misses + false_positives + switches) / n_truth if n_truth else 1.0
    return TrackingScores(idf1, mota, switches, misses, false_positives, n_truth)
