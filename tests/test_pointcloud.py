"""Point clouds from metric depth: back-projection, PLY files, the arrays sink and `livevision run`."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from cli_runner import run_cli
from media import H, W, make_source, read_index

from livevision.errors import UsageError
from livevision.pointcloud import CameraIntrinsics, depth_to_points, ply_bytes, read_ply, write_ply
from livevision.sinks import RawArraySink
from livevision.sinks.errors import SinkError
from livevision.types import DepthKind, DepthResult

pytestmark = pytest.mark.timeout(300)


def test_points_project_back_onto_their_pixels():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 8.0, (48, 64)).astype(np.float32)
    camera = CameraIntrinsics(fx=70.0, fy=65.0, cx=31.0, cy=24.5)
    points, colors = depth_to_points(depth, camera)
    assert points.shape == (48 * 64, 3) and colors is None
    u = camera.fx * points[:, 0] / points[:, 2] + camera.cx
    v = camera.fy * points[:, 1] / points[:, 2] + camera.cy
    vv, uu = np.mgrid[0:48, 0:64]
    np.testing.assert_allclose(u, uu.ravel(), atol=1e-3)
    np.testing.assert_allclose(v, vv.ravel(), atol=1e-3)
    np.testing.assert_array_equal(points[:, 2], depth.ravel())


def test_a_flat_wall_at_the_fov_edges():
    # A wall 2 m away seen with a 90 degree horizontal field of view spans x = -2..2 m (to pixel centres)
    w, h = 101, 51
    camera = CameraIntrinsics.from_fov(w, h, 90.0)
    points, _ = depth_to_points(np.full((h, w), 2.0, np.float32), camera)
    assert camera.fx == pytest.approx((w / 2) / math.tan(math.radians(45)))
    assert points[:, 0].min() == pytest.approx(-2.0 * (w - 1) / w, rel=1e-5)
    assert points[:, 0].max() == pytest.approx(2.0 * (w - 1) / w, rel=1e-5)
    assert points[:, 1].min() == pytest.approx(-points[:, 1].max())  # principal point in the middle
    np.testing.assert_array_equal(points[:, 2], 2.0)


def test_invalid_depth_is_dropped_and_colours_follow_their_pixels():
    depth = np.array([[1.0, np.nan, 2.0], [0.0, -1.0, np.inf], [3.0, 4.0, 5.0]], np.float32)
    image = np.arange(27, dtype=np.uint8).reshape(3, 3, 3)  # BGR
    points, colors = depth_to_points(depth, CameraIntrinsics(1, 1, 1, 1), image=image)
    assert points[:, 2].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    kept = [(0, 0), (0, 2), (2, 0), (2, 1), (2, 2)]
    assert colors.tolist() == [image[r, c, ::-1].tolist() for r, c in kept]  # RGB


def test_stride_keeps_every_nth_pixel():
    depth = np.ones((10, 12), np.float32)
    points, _ = depth_to_points(depth, CameraIntrinsics(1, 1, 0, 0), stride=4)
    assert len(points) == 3 * 3
    assert sorted(set(points[:, 0].tolist())) == [0.0, 4.0, 8.0]


# PLY scalar types (the spec's names and their sized aliases) as numpy kinds, without byte order
_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
              "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
              "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}


def parse_ply(data: bytes) -> np.ndarray:
    """The vertices of a binary PLY as a structured array, from its own header alone: an
    independent reader, so a writer and its reader cannot agree on a format the header denies."""
    end = data.index(b"end_header\n") + len(b"end_header\n")
    lines = data[:end].decode("ascii").splitlines()
    assert lines[0] == "ply" and lines[-1] == "end_header"
    order, fields, count, element = None, [], None, None
    for line in lines[1:-1]:
        words = line.split()
        if words[0] == "format":
            order = {"binary_little_endian": "<", "binary_big_endian": ">"}[words[1]]
            assert words[2] == "1.0"
        elif words[0] == "element":
            assert element is None, "one element (vertex) expected"
            element, count = words[1], int(words[2])
        elif words[0] == "property":
            assert words[1] != "list" and element == "vertex"
            fields.append((words[2], order + _PLY_TYPES[words[1]]))
        else:
            assert words[0] in ("comment", "obj_info"), line
    dtype = np.dtype(fields)
    assert element == "vertex" and len(data) == end + count * dtype.itemsize  # no bytes missing or left over
    return np.frombuffer(data, dtype=dtype, count=count, offset=end)


def test_ply_round_trip_and_header(tmp_path):
    rng = np.random.default_rng(1)
    points = rng.normal(size=(100, 3)).astype(np.float32)
    colors = rng.integers(0, 256, (100, 3), dtype=np.uint8)
    write_ply(tmp_path / "c.ply", points, colors)
    back, back_colors = read_ply(tmp_path / "c.ply")
    np.testing.assert_array_equal(back, points)
    np.testing.assert_array_equal(back_colors, colors)
    # the same file read by its header's word alone, and one without colours
    vertices = parse_ply((tmp_path / "c.ply").read_bytes())
    assert vertices.dtype.names == ("x", "y", "z", "red", "green", "blue")
    assert [vertices.dtype[k] for k in vertices.dtype.names] == [np.dtype("<f4")] * 3 + [np.dtype("u1")] * 3
    np.testing.assert_array_equal(np.stack([vertices[k] for k in "xyz"], axis=1), points)
    np.testing.assert_array_equal(np.stack([vertices[k] for k in ("red", "green", "blue")], axis=1), colors)
    write_ply(tmp_path / "p.ply", points)
    vertices = parse_ply((tmp_path / "p.ply").read_bytes())
    assert vertices.dtype.names == ("x", "y", "z")
    np.testing.assert_array_equal(np.stack([vertices[k] for k in "xyz"], axis=1), points)
    header = ply_bytes(points[:2]).split(b"end_header\n")[0].decode()
    assert header.splitlines()[:2] == ["ply", "format binary_little_endian 1.0"]
    assert "element vertex 2" in header and "red" not in header
    assert len(ply_bytes(points, colors)) == len(ply_bytes(points[:0], colors[:0])) + 100 * 15 + 2  # "100" vs "0"


@pytest.mark.parametrize("make", [
    lambda: CameraIntrinsics(0, 1, 0, 0),
    lambda: CameraIntrinsics(1, float("nan"), 0, 0),
    lambda: CameraIntrinsics.from_fov(640, 480, 180),
    lambda: CameraIntrinsics.parse("1,2,3"),
    lambda: CameraIntrinsics.parse("a,b,c,d"),
])
def test_bad_cameras_are_usage_errors(make):
    with pytest.raises(UsageError):
        make()


def test_sink_writes_coloured_point_clouds_and_refuses_relative_depth(tmp_path, caplog):
    depth = np.full((6, 8), 1.5, np.float32)
    image = np.full((6, 8, 3), (10, 20, 30), np.uint8)
    with caplog.at_level("INFO", logger="livevision.sinks.raw"), \
            RawArraySink(tmp_path / "pc", depth_format="ply") as sink:
        [path] = sink.write_arrays(3, DepthResult(depth, DepthKind.METRIC), image=image)
        sink.write_arrays(4, DepthResult(depth, DepthKind.METRIC), image=image[:3])  # another frame's size: no colours
        with pytest.raises(SinkError, match="metric depth"):
            sink.write_arrays(5, DepthResult(depth, DepthKind.RELATIVE))
    assert path.name == "frame_000003_depth.ply"
    points, colors = read_ply(path)
    assert len(points) == 48 and colors.tolist() == [[30, 20, 10]] * 48
    assert read_ply(tmp_path / "pc" / "frame_000004_depth.ply")[1] is None
    assert caplog.text.count("assuming a 60 degree horizontal field of view") == 1
    with pytest.raises(UsageError, match="not both"):
        RawArraySink(tmp_path / "x", depth_format="ply", intrinsics=CameraIntrinsics(1, 1, 0, 0), fov_deg=60)
    assert not (tmp_path / "x").exists()  # checked before the folder is made


def test_run_writes_a_point_cloud_per_frame(tiny_model, model_cache, tmp_path):
    clip = make_source(tmp_path / "clip.mp4", 4, Fraction(25), None, size_wh=(64, 48))
    done = run_cli("run", "--task", "depth", "--model", str(tiny_model("depth_anything_metric")), "--source", str(clip),
                "--no-display", "--arrays", str(tmp_path / "pc"), "--depth-format", "ply",
                "--intrinsics", "60,60,31.5,23.5", "--point-stride", "2", "--cache-dir", str(model_cache))
    assert done.returncode == 0, done.stderr
    files = sorted(p.name for p in (tmp_path / "pc").iterdir())
    assert files == [f"frame_{i:06d}_depth.ply" for i in range(4)]
    points, colors = read_ply(tmp_path / "pc" / files[0])
    assert len(points) == 24 * 32 and colors is not None and (points[:, 2] > 0).all()
    vertices = parse_ply((tmp_path / "pc" / files[0]).read_bytes())
    np.testing.assert_array_equal(np.stack([vertices[k] for k in "xyz"], axis=1), points)
    np.testing.assert_array_equal(np.stack([vertices[k] for k in ("red", "green", "blue")], axis=1), colors)


def test_run_refuses_point_clouds_from_relative_depth(tiny_model, model_cache, tmp_path):
    clip = make_source(tmp_path / "clip.mp4", 2, Fraction(25), None, size_wh=(64, 48))
    done = run_cli("run", "--task", "depth", "--model", str(tiny_model("depth_anything")), "--source", str(clip),
                "--no-display", "--arrays", str(tmp_path / "pc"), "--depth-format", "ply",
                "--cache-dir", str(model_cache))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "needs a metric depth model" in done.stderr.strip().splitlines()[-1]
    assert not list((tmp_path / "pc").glob("*.ply"))


@pytest.mark.parametrize("pacing", ["every", "simulate-live"])
def test_point_cloud_colours_come_from_the_frame_that_was_inferred(pacing, tiny_model, model_cache, tmp_path):
    # In simulate-live a result is written with a newer frame on screen; its colours must still be its own
    # frame's. The frames carry their index in their pixels: rebuild each cloud's image and read it back.
    clip = make_source(tmp_path / "clip.mp4", 40, Fraction(25), None)
    done = run_cli("run", "--task", "depth", "--model", str(tiny_model("depth_anything_metric")), "--source", str(clip),
                "--no-display", "--pacing", pacing, "--arrays", str(tmp_path / "pc"), "--depth-format", "ply",
                "--cache-dir", str(model_cache))
    assert done.returncode == 0, done.stderr
    clouds = sorted((tmp_path / "pc").glob("*.ply"))
    assert clouds and (len(clouds) == 40 if pacing == "every" else len(clouds) >= 2)
    for path in clouds:
        points, colors = read_ply(path)
        assert colors is not None and len(points) == W * H
        image = np.ascontiguousarray(colors.reshape(H, W, 3)[..., ::-1])
        assert read_index(image) == int(path.name.split("_")[1]), path.name
