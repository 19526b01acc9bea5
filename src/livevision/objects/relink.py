"""Our ids over a tracker's: a track the tracker starts anew takes the id of one it lost recently when
the new one appears where the lost one's motion leads.

Why: a motion-only tracker (ByteTrack) loses an object that passes behind something. While the object
goes behind, the detector's box shrinks to its visible part: the Kalman filter learns that shrinking as
motion (the hidden edge stops, the other goes on) and predicts a box that no longer meets the object
when it comes out on the other side, so the tracker starts a new track (measured on the synthetic clip:
almost every ID switch was at the occluder's edges).

Here each id keeps the centre of its whole box, its velocity and its whole size (per axis the largest
extent seen, forgotten by 2% an observation). A box cut by an occluder or the frame's border still has
one free edge: per axis, the whole box's centre is the box's own centre, or half the whole size from
its low or from its high edge, whichever lies nearest the id's predicted centre. A new track whose
centre so read lies within half a whole size of a lost id's predicted centre (lost at most
`max_lost_frames` source frames ago) continues that id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FORGET = 0.98  # the whole size shrinks by this factor an observation unless seen again (receding objects)
GATE = 0.5  # a new track continues a lost id within this share of its whole size


@dataclass
class _Seen:
    last_frame: int  # the id's last observation
    centre: np.ndarray  # its whole box's centre there
    velocity: np.ndarray | None  # centre pixels per source frame; None after one observation
    size: np.ndarray  # (width, height) of the whole box

    def predicted_centre(self, frame_index: int) -> np.ndarray:
        if self.velocity is None:
            return self.centre
        return self.centre + self.velocity * (frame_index - self.last_frame)

    def whole_centre(self, box, frame_index: int) -> np.ndarray:
        """The centre of the whole object of which `box` may show a part (see the module)."""
        low, high = np.asarray(box[:2], float), np.asarray(box[2:], float)
        options = np.stack([(low + high) / 2, low + self.size / 2, high - self.size / 2])
        nearest = np.abs(options - self.predicted_centre(frame_index)).argmin(axis=0)
        return options[nearest, [0, 1]]


class Relinker:
    """Maps a tracker's ids (from 0; -1 or None: no id) to ours (from 1, never given twice); relink False:
    one of ours per tracker id, nothing continued."""

    def __init__(self, max_lost_frames: int, relink: bool = True):
        self.max_lost_frames, self.relink = max_lost_frames, relink
        self._next = 1
        self.relinked = 0  # new tracks that continued a lost one's id
        self.restart()

    @property
    def ids_given(self) -> int:
        return self._next - 1

    def restart(self) -> None:
        """A tracker made anew (its ids start over): forget every mapping, ids go on from the last one."""
        self._ours: dict[int, int] = {}  # tracker id -> our id
        self._retired: set[int] = set()  # tracker ids whose our id went to a newer track
        self._seen: dict[int, _Seen] = {}  # our id -> where and how it moved

    def __call__(self, tracker_ids, boxes, frame_index: int) -> list[int | None]:
        """Our ids for the tracker's ids of one frame's `boxes` (xyxy)."""
        ours: list[int | None] = [None] * len(boxes)
        new = []
        for i, raw in enumerate(tracker_ids):
            if raw is None or raw < 0:
                continue
            if raw in self._ours:
                ours[i] = self._ours[raw]
            else:
                new.append(i)
        present = {o for o in ours if o is not None}
        for i in new:
            raw = int(tracker_ids[i])
            relinks = self.relink and raw not in self._retired
            ours[i] = self._relinked(boxes[i], frame_index, present) if relinks else None
            if ours[i] is None:
                ours[i], self._next = self._next, self._next + 1
            else:  # the lost track's tracker id, should it come back, gets an id of its own
                self.relinked += 1
                self._retired.update(r for r, o in self._ours.items() if o == ours[i])
                self._ours = {r: o for r, o in self._ours.items() if o != ours[i]}
            self._retired.discard(raw)
            self._ours[raw] = ours[i]
            present.add(ours[i])
        for our_id, box in zip(ours, boxes):
            if our_id is not None:
                self._observe(our_id, box, frame_index)
        self._forget(frame_index)
        return ours

    def _forget(self, frame_index: int) -> None:
        """Drops the ids lost too long to continue, and the tracker ids that map to them."""
        gone = [o for o, seen in self._seen.items() if frame_index - seen.last_frame > self.max_lost_frames]
        if gone:
            for our_id in gone:
                del self._seen[our_id]
            self._ours = {r: o for r, o in self._ours.items() if o in self._seen}

    def _relinked(self, box, frame_index: int, present: set[int]) -> int | None:
        """The lost id whose motion leads nearest to `box`, within GATE of its size; None if none."""
        best, best_distance = None, np.inf
        for our_id, seen in self._seen.items():
            lost_for = frame_index - seen.last_frame
            if our_id in present or not 0 < lost_for <= self.max_lost_frames:
                continue
            distance = float(np.linalg.norm(seen.whole_centre(box, frame_index) - seen.predicted_centre(frame_index)))
            if distance <= GATE * seen.size.max() and distance < best_distance:
                best, best_distance = our_id, distance
        return best

    def _observe(self, our_id: int, box, frame_index: int) -> None:
        size = np.array([box[2] - box[0], box[3] - box[1]], float)
        seen = self._seen.get(our_id)
        if seen is None:
            self._seen[our_id] = _Seen(frame_index, np.array([box[0] + box[2], box[1] + box[3]]) / 2, None, size)
            return
        gap = frame_index - seen.last_frame
        if gap <= 0:
            return
        centre = seen.whole_centre(box, frame_index)
        step = (centre - seen.centre) / gap
        seen.velocity = step if seen.velocity is None else 0.5 * (seen.velocity + step)
        seen.last_frame, seen.centre = frame_index, centre
        seen.size = np.maximum(size, seen.size * FORGET)
