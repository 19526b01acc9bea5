"""--rerun, --mcap and --foxglove: every output read back with its own tools (rerun's RrdReader,
mcap + mcap_ros2's decoder, a Foxglove WebSocket client) and checked against the run's raw arrays."""

from __future__ import annotations

import base64
import json
import os
import select
import socket
import struct
import time
import warnings
from fractions import Fraction

import cv2
import numpy as np
import pytest
from cli_runner import run_cli
from fakes import unused_port
from media import make_source

from livevision.engine.running import TaskOutput
from livevision.errors import MissingDependencyError
from livevision.types import DepthKind, DepthResult, Task

FRAMES = 5
INTRINSICS = (50.0, 52.0, 31.5, 23.5)  # fx, fy, cx, cy for the 64x48 clip
DEPTH_TOPICS = ("image/compressed", "camera_info", "depth/compressed", "depth/camera_info", "points")  # metric


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, tiny_model, model_cache):
    """One run with every output: metric depth, segmentation and classification on a 5-frame clip."""
    folder = tmp_path_factory.mktemp("robotics")
    clip = make_source(folder / "clip.mp4", FRAMES, Fraction(10), None, size_wh=(64, 48))
    result = run_cli(
        "run", "--task", "depth,segmentation,classification",
        "--model", f"depth={tiny_model('depth_anything_metric')}", "--model", f"segmentation={tiny_model('segformer')}",
        "--model", f"classification={tiny_model('vit')}", "--source", str(clip), "--pacing", "every",
        "--no-display", "--cache-dir", str(model_cache), "--precision", "fp32",
        "--mcap", str(folder / "out.mcap"), "--rerun", str(folder / "out.rrd"), "--arrays", str(folder / "arrays"),
        "--intrinsics", ",".join(map(str, INTRINSICS)), "--point-stride", "2",
        env={"RERUN_FLUSH_NUM_ROWS": "2"})  # rerun splits each entity over chunks, as it does on a busy machine
    assert result.returncode == 0, result.stderr
    return folder


def _decoded(path):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    messages: dict[str, list] = {}
    with open(path, "rb") as f:
        for _schema, channel, message, decoded in make_reader(f, decoder_factories=[DecoderFactory()]) \
                .iter_decoded_messages():
            messages.setdefault(channel.topic, []).append((message.log_time, decoded))
    return messages


def test_mcap_holds_every_topic_once_per_frame(recorded):
    pytest.importorskip("mcap_ros2")
    messages = _decoded(recorded / "out.mcap")
    topics = {"image/compressed", "camera_info", "depth/compressed", "depth/camera_info", "points",
              "segmentation/compressed", "classification"}
    assert set(messages) == {f"/livevision/{t}" for t in topics}
    for topic, items in messages.items():
        assert len(items) == FRAMES, topic
        stamps = [stamp for stamp, _ in items]
        assert stamps == [round(i * 0.1 * 1e9) for i in range(FRAMES)], topic  # source time, 10 fps
        for stamp, decoded in items:  # each message's header carries its frame's source time
            header = getattr(decoded, "header", None)
            if header is not None:
                assert header.frame_id == "camera", topic
                assert (header.stamp.sec, header.stamp.nanosec) == divmod(stamp, 10**9), topic


def _png(data) -> np.ndarray:
    """A CompressedImage's PNG, decoded as is (16-bit stays 16-bit)."""
    return cv2.imdecode(np.frombuffer(bytes(data), np.uint8), cv2.IMREAD_UNCHANGED)


def test_header_stamps_are_the_source_time_in_sec_and_nanosec():
    """Stamps past a second, with nanoseconds that a wrong split (ms, µs, a float) would lose."""
    pytest.importorskip("mcap_ros2")
    from mcap_ros2.decoder import DecoderFactory

    from livevision.pointcloud import CameraIntrinsics
    from livevision.sinks.ros2_messages import frame_messages, result_messages
    from livevision.types import SegmentationResult

    image = np.zeros((6, 8, 3), np.uint8)
    camera = CameraIntrinsics(8.0, 8.0, 3.5, 2.5)
    depth = DepthResult(depth=np.full((6, 8), 2.0, np.float32), kind=DepthKind.METRIC)
    labels = SegmentationResult(kind="semantic", label_map=np.zeros((6, 8), np.int32), id2label={0: "a"})
    for stamp in (3_250_000_001, 59_999_999_999, 1_700_000_000_123_456_789):
        messages = frame_messages(stamp, image, camera) + result_messages(stamp, depth, camera, image=image) + \
            result_messages(stamp, labels, camera)
        assert {m.topic.removeprefix("/livevision/") for m in messages} >= {
            "image/compressed", "camera_info", "depth/compressed", "depth/camera_info", "points",
            "segmentation/compressed"}
        for message in messages:
            decode = DecoderFactory().decoder_for("cdr", _Schema.of(message.schema))
            header = decode(message.data).header
            assert (header.stamp.sec, header.stamp.nanosec) == divmod(stamp, 10**9), message.topic
            assert message.stamp_ns == stamp


def test_mcap_messages_carry_the_frame_and_the_results(recorded):
    pytest.importorskip("mcap_ros2")
    messages = _decoded(recorded / "out.mcap")
    frames = []
    cap = cv2.VideoCapture(str(recorded / "clip.mp4"))
    while (read := cap.read())[0]:
        frames.append(read[1])
    fx, fy, cx, cy = INTRINSICS
    for i in range(FRAMES):
        image = messages["/livevision/image/compressed"][i][1]
        assert image.format == "jpeg" and len(image.data) < 48 * 64 * 3 / 2
        decoded = cv2.imdecode(np.frombuffer(bytes(image.data), np.uint8), cv2.IMREAD_COLOR)
        assert decoded.shape == (48, 64, 3) and np.abs(decoded.astype(int) - frames[i]).mean() < 4

        info = messages["/livevision/camera_info"][i][1]
        assert (info.height, info.width) == (48, 64)
        np.testing.assert_allclose(info.k, [fx, 0, cx, 0, fy, cy, 0, 0, 1])
        np.testing.assert_allclose(info.p, [fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0])

        labels_msg = messages["/livevision/segmentation/compressed"][i][1]
        assert labels_msg.format == "png"  # ROS reads a one-channel PNG as mono8; Foxglove documents "png"
        labels = _png(labels_msg.data)
        assert labels.dtype == np.uint8 and labels.shape == (48, 64)
        saved = cv2.imread(str(recorded / "arrays" / f"frame_{i:06d}_segmentation.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(labels, saved)
        assert len(np.unique(labels)) >= 2

        top_k = json.loads(messages["/livevision/classification"][i][1].data)
        assert len(top_k["labels"]) == len(top_k["scores"]) == len(top_k["class_ids"]) == 5
        assert top_k["scores"] == sorted(top_k["scores"], reverse=True)


def test_mcap_depth_its_camera_info_and_the_points_agree(recorded):
    """The depth map to the millimetre at every 2nd pixel, a camera_info of its size whose intrinsics
    back-project it onto the point cloud, and the cloud itself (every 2nd pixel, from --point-stride)."""
    pytest.importorskip("mcap_ros2")
    messages = _decoded(recorded / "out.mcap")
    frames = []
    cap = cv2.VideoCapture(str(recorded / "clip.mp4"))
    while (read := cap.read())[0]:
        frames.append(read[1])
    fx, fy, cx, cy = INTRINSICS
    for i in range(FRAMES):
        depth_msg = messages["/livevision/depth/compressed"][i][1]
        assert depth_msg.format == "16UC1; png compressed"  # compressed_image_transport's 16-bit PNG
        published = _png(depth_msg.data)
        assert published.dtype == np.uint16 and published.shape == (24, 32)  # every 2nd pixel by default
        depth = np.load(recorded / "arrays" / f"frame_{i:06d}_depth.npy")
        assert 0.001 < depth.min() and depth.max() < 65
        np.testing.assert_allclose(published, depth[::2, ::2] * 1000, atol=0.5 + 1e-3)  # to the millimetre

        depth_info = messages["/livevision/depth/camera_info"][i][1]  # the depth map's own camera
        assert (depth_info.height, depth_info.width) == published.shape
        np.testing.assert_allclose(depth_info.k, [fx / 2, 0, cx / 2, 0, fy / 2, cy / 2, 0, 0, 1])
        np.testing.assert_allclose(depth_info.p, [fx / 2, 0, cx / 2, 0, 0, fy / 2, cy / 2, 0, 0, 0, 1, 0])

        cloud = messages["/livevision/points"][i][1]
        assert (cloud.height, cloud.width) == (24, 32)  # every 2nd pixel, organized
        assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [
            ("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1), ("rgb", 12, 7, 1)]
        assert cloud.point_step == 16 and cloud.row_step == 16 * 32 and cloud.is_dense
        points = np.frombuffer(bytes(cloud.data), "<f4").reshape(24, 32, 4)
        z = depth[::2, ::2]
        np.testing.assert_array_equal(points[..., 2], z)
        u, v = np.meshgrid(np.arange(0, 64, 2), np.arange(0, 48, 2))
        np.testing.assert_allclose(points[..., 0], (u - cx) / fx * z, rtol=1e-5)
        np.testing.assert_allclose(points[..., 1], (v - cy) / fy * z, rtol=1e-5)
        k = np.asarray(depth_info.k).reshape(3, 3)  # the depth map's pixel (u', v') is the frame's (2u', 2v')
        u2, v2 = np.meshgrid(np.arange(32), np.arange(24))
        np.testing.assert_allclose(points[..., 0], (u2 - k[0, 2]) / k[0, 0] * z, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(points[..., 1], (v2 - k[1, 2]) / k[1, 1] * z, rtol=1e-5, atol=1e-6)
        bgr0 = points.view(np.uint8).reshape(24, 32, 16)[..., 12:16]
        np.testing.assert_array_equal(bgr0[..., :3], frames[i][::2, ::2])  # 0x00RRGGBB, little endian
        assert not bgr0[..., 3].any()



def test_rerun_recording_loads_with_every_entity_per_frame(recorded):
    rerun_chunk = pytest.importorskip("rerun.chunk")
    reader = rerun_chunk.RrdReader(str(recorded / "out.rrd"))
    assert [r.application_id for r in reader.recordings()] == ["livevision"]
    rows: dict[str, int] = {}
    timelines: dict[str, set] = {}
    for chunk in reader.stream().to_chunks():
        if chunk.is_static:
            continue
        rows[chunk.entity_path] = rows.get(chunk.entity_path, 0) + chunk.num_rows
        timelines.setdefault(chunk.entity_path, set()).update(chunk.timeline_names)
    for entity in ("/camera", "/camera/image", "/depth_camera", "/depth_camera/depth", "/camera/segmentation",
                   "/classification",
                   "/classification/top1_score", "/telemetry/depth/latency_ms"):
        assert rows.get(entity) == FRAMES, (entity, rows)
        assert {"frame", "source_time"} <= timelines[entity]
    assert "/relative_depth" not in rows  # the metric model's depth goes under the camera, in metres
    assert not list(recorded.glob("*.partial*"))


def test_rerun_depth_and_pinhole_values(recorded):
    pytest.importorskip("rerun")
    chunks = _rerun_chunks(recorded / "out.rrd")
    assert len(chunks["/depth_camera/depth"]) > 1  # the fixture has rerun split the rows: read every chunk
    matrices = _column(chunks["/camera"], "image_from_camera")
    assert len(matrices) == FRAMES
    fx, fy, cx, cy = INTRINSICS
    for matrix in matrices:
        np.testing.assert_allclose(np.asarray(matrix).reshape(-1), [fx, 0, 0, 0, fy, 0, cx, cy, 1])  # column-major
    meters = _column(chunks["/depth_camera/depth"], "meter")
    assert [np.asarray(m).reshape(-1)[0] for m in meters] == [1000.0] * FRAMES  # uint16 millimetres
    assert _column(chunks["/depth_camera/depth"], "media_type") == [["image/png"]] * FRAMES
    blobs = _column(chunks["/depth_camera/depth"], "blob")
    depth_matrices = _column(chunks["/depth_camera"], "image_from_camera")
    resolutions = _column(chunks["/depth_camera"], "resolution")
    for i, (blob, matrix, resolution) in enumerate(zip(blobs, depth_matrices, resolutions, strict=True)):
        published = _png(np.asarray(blob[0], np.uint8))
        depth = np.load(recorded / "arrays" / f"frame_{i:06d}_depth.npy")
        np.testing.assert_allclose(published, depth[::2, ::2] * 1000, atol=0.5 + 1e-3)  # to the millimetre
        np.testing.assert_allclose(np.asarray(matrix).reshape(-1), [fx / 2, 0, 0, 0, fy / 2, 0, cx / 2, cy / 2, 1])
        np.testing.assert_allclose(np.asarray(resolution).reshape(-1), [32, 24])  # width, height of the map
    images = _column(chunks["/camera/image"], "media_type")
    assert [np.asarray(m).reshape(-1)[0] for m in images] == ["image/jpeg"] * FRAMES


def _rerun_chunks(path) -> dict[str, list]:
    """The temporal chunks of a recording by entity, in the order they were written. Rerun batches an
    entity's rows into chunks as time and load decide, so a test must read all of them."""
    rerun_chunk = pytest.importorskip("rerun.chunk")
    chunks: dict[str, list] = {}
    for chunk in rerun_chunk.RrdReader(str(path)).stream().to_chunks():
        if not chunk.is_static:
            chunks.setdefault(chunk.entity_path, []).append(chunk)
    return chunks


def test_raw_images_keep_exact_values(tmp_path):
    """--raw-images: the frame as bgr8 and metric depth as float32 metres, at full size, exactly, in MCAP
    and rerun."""
    pytest.importorskip("mcap_ros2")
    pytest.importorskip("rerun")
    from livevision.sinks.mcap_sink import McapSink
    from livevision.sinks.rerun_sink import RerunSink

    image = np.random.default_rng(0).integers(0, 256, (8, 10, 3), dtype=np.uint8)
    depth = DepthResult(depth=np.linspace(0.5, 70.123456, 80, dtype=np.float32).reshape(8, 10), kind=DepthKind.METRIC)
    with McapSink(tmp_path / "raw.mcap", raw_images=True) as mcap, \
            RerunSink(str(tmp_path / "raw.rrd"), raw_images=True) as rerun:
        for sink in (mcap, rerun):
            _write(sink, 0, depth, image)
    messages = _decoded(tmp_path / "raw.mcap")
    frame, depth_msg = messages["/livevision/image"][0][1], messages["/livevision/depth"][0][1]
    assert (frame.encoding, depth_msg.encoding) == ("bgr8", "32FC1")
    np.testing.assert_array_equal(np.frombuffer(bytes(frame.data), np.uint8).reshape(8, 10, 3), image)
    np.testing.assert_array_equal(np.frombuffer(bytes(depth_msg.data), "<f4").reshape(8, 10), depth.depth)
    chunks = _rerun_chunks(tmp_path / "raw.rrd")
    np.testing.assert_array_equal(np.asarray(_column(chunks["/camera/image"], "buffer")[0], np.uint8).reshape(8, 10, 3),
                                  image)
    np.testing.assert_array_equal(np.asarray(_column(chunks["/depth_camera/depth"], "buffer")[0], np.uint8).view("<f4")
                                  .reshape(8, 10), depth.depth)


def test_depth_millimetres_marks_what_it_cannot_hold_as_zero():
    from livevision.sinks.depth_maps import depth_millimetres

    depth = np.array([[np.nan, -1.0, 0.0, 0.0004], [0.0006, 1.2344, 65.535, 65.6]], np.float32)
    np.testing.assert_array_equal(depth_millimetres(depth), [[0, 0, 0, 0], [1, 1234, 65535, 0]])


def _column(chunks, component: str) -> list:
    """The values, over all the entity's chunks in `frame` order, of the column whose name mentions
    `component` (not its time columns)."""
    rows = []
    for chunk in chunks:
        batch = chunk.to_record_batch()
        name = next(n for n in batch.schema.names if component in n.lower())
        rows += zip(batch.column("frame").to_pylist(), batch.column(name).to_pylist())
    return [value for _, value in sorted(rows, key=lambda row: row[0])]


def _write(sink, index, result, image):
    sink.write_result(Task.DEPTH, TaskOutput(result, index, index / 25, 0.0, 0.01, image, "test"))


def test_mcap_is_finalized_when_the_run_is_interrupted(tmp_path):
    pytest.importorskip("mcap_ros2")
    from livevision.sinks.mcap_sink import McapSink

    image = np.zeros((8, 10, 3), np.uint8)
    depth = DepthResult(depth=np.full((8, 10), 2.0, np.float32), kind=DepthKind.METRIC)
    with pytest.raises(KeyboardInterrupt):
        with McapSink(tmp_path / "cut.mcap") as sink:
            for i in range(3):
                _write(sink, i, depth, image)
            assert not (tmp_path / "cut.mcap").exists()  # only complete files carry the name
            raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["cut.mcap"]
    messages = _decoded(tmp_path / "cut.mcap")
    assert {topic: len(items) for topic, items in messages.items()} == {
        f"/livevision/{t}": 3 for t in DEPTH_TOPICS}


def test_missing_extras_and_bad_targets_are_one_line(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_rerun(name, *args, **kwargs):
        if name == "rerun" or name.startswith("rerun."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_rerun)
    import importlib

    monkeypatch.setattr(importlib, "import_module", lambda name, *a: no_rerun(name))
    from livevision.sinks.rerun_sink import RerunSink

    with pytest.raises(MissingDependencyError, match=r"pip install 'livevision\[rerun\]'"):
        RerunSink(str(tmp_path / "x.rrd"))
    monkeypatch.undo()
    bad = run_cli("run", "--task", "depth", "--source", str(tmp_path / "none.mp4"), "--rerun", "somewhere.txt",
                  "--no-display")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    wrong = run_cli("run", "--task", "depth", "--fov", "70", "--no-display")
    assert wrong.returncode == 2 and "--rerun, --mcap or --foxglove" in wrong.stderr
    clip = make_source(tmp_path / "clip.mp4", 2, Fraction(10), None, size_wh=(64, 48))
    for stride in ("0", "-2"):  # a stride is checked when given, whatever the default
        zero = run_cli("run", "--task", "depth", "--source", str(clip), "--no-display",
                       "--mcap", str(tmp_path / "x.mcap"), "--point-stride", stride)
        assert zero.returncode == 2 and "the point stride must be at least 1" in zero.stderr, zero.stderr
    raw = run_cli("run", "--task", "depth", "--raw-images", "--no-display")
    assert raw.returncode == 2 and "--raw-images applies to --rerun, --mcap and --foxglove" in raw.stderr
    for stride in ("0", "-1"):
        zero = run_cli("run", "--task", "depth", "--source", str(clip), "--no-display",
                       "--mcap", str(tmp_path / "x.mcap"), "--depth-stride", stride)
        assert zero.returncode == 2 and zero.stderr.strip().endswith(f"--depth-stride must be at least 1, got {stride}")
        assert len(zero.stderr.strip().splitlines()) == 1
    alone = run_cli("run", "--task", "depth", "--depth-stride", "2", "--no-display")
    assert alone.returncode == 2 and "--depth-stride applies to --rerun, --mcap and --foxglove" in alone.stderr


# ---- Foxglove: a minimal WebSocket client --------------------------------------------------------


def _ws_connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Protocol: foxglove.sdk.v1\r\n\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert b" 101 " in response.split(b"\r\n", 1)[0], response
    return sock


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        part = sock.recv(n - len(data))
        assert part, "connection closed"
        data += part
    return data


def _ws_read(sock: socket.socket) -> tuple[int, bytes]:
    first, second = _recv_exact(sock, 2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack(">H", _recv_exact(sock, 2))[0]
    elif length == 127:
        length = struct.unpack(">Q", _recv_exact(sock, 8))[0]
    return first & 0x0F, _recv_exact(sock, length)


def _ws_send_text(sock: socket.socket, text: str) -> None:
    payload, mask = text.encode(), os.urandom(4)
    header = bytes([0x81]) + (bytes([0x80 | len(payload)]) if len(payload) < 126
                              else bytes([0x80 | 126]) + struct.pack(">H", len(payload)))
    sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def test_foxglove_serves_the_same_channels_live():
    pytest.importorskip("foxglove")
    from mcap_ros2.decoder import DecoderFactory

    from livevision.sinks.foxglove_sink import FoxgloveSink

    image = np.arange(8 * 10 * 3, dtype=np.uint8).reshape(8, 10, 3)
    depth = DepthResult(depth=np.linspace(1, 3, 80, dtype=np.float32).reshape(8, 10), kind=DepthKind.METRIC)
    with FoxgloveSink(port=0) as sink:
        assert sink.url.startswith("ws://localhost:")
        _write(sink, 0, depth, image)  # the channels exist once something was logged
        client = _ws_connect(sink.port)
        channels = {}
        wanted = {f"/livevision/{t}" for t in DEPTH_TOPICS}
        deadline = time.monotonic() + 60
        # The sink's thread logs a result's messages one by one: their channels may be advertised in several
        # messages, each as soon as it exists (on a busy machine, far apart)
        while not wanted <= set(channels) and time.monotonic() < deadline:
            opcode, payload = _ws_read(client)
            if opcode == 1:
                message = json.loads(payload)
                if message.get("op") == "advertise":
                    channels.update({c["topic"]: c for c in message["channels"]})
        assert wanted <= set(channels)
        depth_channel = channels["/livevision/depth/compressed"]
        assert depth_channel["encoding"] == "cdr" and depth_channel["schemaEncoding"] == "ros2msg"
        _ws_send_text(client, json.dumps({"op": "subscribe",
                                          "subscriptions": [{"id": 7, "channelId": depth_channel["id"]}]}))
        decode = DecoderFactory().decoder_for("cdr", _Schema(depth_channel))
        deadline = time.monotonic() + 60
        index = 1
        while time.monotonic() < deadline:  # publish until the subscription is in place and a message arrives
            _write(sink, index, depth, image)
            index += 1
            if not select.select([client], [], [], 0.05)[0]:
                continue
            opcode, payload = _ws_read(client)  # a whole frame, however slowly it comes (the socket's timeout)
            if opcode == 2 and payload[0] == 1:  # MessageData
                subscription, _log_time = struct.unpack("<IQ", payload[1:13])
                assert subscription == 7
                decoded = decode(payload[13:])
                assert decoded.format == "16UC1; png compressed"
                np.testing.assert_allclose(_png(decoded.data), depth.depth[::2, ::2] * 1000, atol=0.5 + 1e-3)
                break
        else:
            raise AssertionError("no depth message reached the subscriber")
        client.close()


class _Schema:
    """What mcap_ros2's DecoderFactory reads of a schema."""

    def __init__(self, channel: dict):
        self.name = channel["schemaName"]
        self.encoding = channel["schemaEncoding"]
        self.data = channel["schema"].encode()
        self.id = channel["id"]

    @classmethod
    def of(cls, name: str) -> _Schema:
        """The schema livevision writes for the message type `name`."""
        from livevision.sinks.ros2_messages import DEFINITIONS

        return cls({"schemaName": name, "schemaEncoding": "ros2msg", "schema": DEFINITIONS[name], "id": name})


def test_a_failing_mcap_writer_is_reported_and_leaves_no_complete_looking_file(tmp_path):
    pytest.importorskip("mcap")
    from livevision.sinks.errors import SinkError
    from livevision.sinks.mcap_sink import McapSink

    image = np.zeros((8, 10, 3), np.uint8)
    depth = DepthResult(depth=np.full((8, 10), 2.0, np.float32), kind=DepthKind.RELATIVE)
    sink = McapSink(tmp_path / "full.mcap")

    def disk_full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    sink._writer.add_message = disk_full
    _write(sink, 0, depth, image)
    with pytest.raises(SinkError, match="No space left"):
        for i in range(1, 50):  # the writer thread fails on the first frame; a later write says so
            _write(sink, i, depth, image)
    with pytest.raises(SinkError, match="No space left"):
        sink.close()
    assert not (tmp_path / "full.mcap").exists()


# ---- instance and panoptic label maps: -1 is "no segment" -----------------------------------------


def _instance_frames():
    """Two frames of a 255-class instance model: one covered everywhere (no -1), one with -1; the
    ids every output must show for both: class + 1, and 0 for no segment."""
    from livevision.types import SegmentationResult

    id2label = {k: f"class {k}" for k in range(255)}
    covered = np.array([[0, 1], [254, 0]], np.int32)
    holed = np.array([[-1, 0], [1, 254]], np.int32)
    return [SegmentationResult(kind="instance", label_map=m, id2label=id2label) for m in (covered, holed)], \
        [m + 1 for m in (covered, holed)]


def test_instance_label_maps_keep_their_ids_in_mcap_and_foxglove(tmp_path):
    pytest.importorskip("mcap_ros2")
    from livevision.sinks.mcap_sink import McapSink

    results, expected = _instance_frames()
    image = np.zeros((2, 2, 3), np.uint8)
    with McapSink(tmp_path / "labels.mcap", fov_deg=60) as sink:
        for i, result in enumerate(results):
            sink.write_result(Task.SEGMENTATION, TaskOutput(result, i, i / 25, 0.0, 0.01, image, "test"))
        foxglove = [m for i, r in enumerate(results)  # what --foxglove serves: the same messages
                    for m in sink.ros2_messages(TaskOutput(r, i, i / 25, 0.0, 0.01, image, "test"), False)]
    decoded = [d for _, d in _decoded(tmp_path / "labels.mcap")["/livevision/segmentation/compressed"]]
    decode = _decoder("sensor_msgs/msg/CompressedImage")
    decoded_live = [decode(m.data) for m in foxglove]
    for messages in (decoded, decoded_live):
        assert [m.format for m in messages] == ["png"] * 2
        for message, want in zip(messages, expected):
            np.testing.assert_array_equal(_png(message.data), want)


def _decoder(name: str):
    """mcap_ros2's CDR decoder for livevision's message type `name`."""
    from mcap_ros2.decoder import DecoderFactory

    return DecoderFactory().decoder_for("cdr", _Schema.of(name))


def test_instance_label_maps_keep_their_ids_in_rerun(tmp_path):
    pytest.importorskip("rerun")
    from livevision.sinks.rerun_sink import RerunSink

    results, expected = _instance_frames()
    image = np.zeros((2, 2, 3), np.uint8)
    with RerunSink(str(tmp_path / "labels.rrd"), fov_deg=60) as sink:
        for i, result in enumerate(results):
            sink.write_result(Task.SEGMENTATION, TaskOutput(result, i, i / 25, 0.0, 0.01, image, "test"))
    chunks = _rerun_chunks(tmp_path / "labels.rrd")
    buffers = _column(chunks["/camera/segmentation"], "buffer")
    assert len(buffers) == 2
    for buffer, want in zip(buffers, expected):
        np.testing.assert_array_equal(np.asarray(buffer, np.uint8).reshape(2, 2), want)
    context = _static_annotation_ids(tmp_path / "labels.rrd")
    assert context[0] == "no segment" and context[1] == "class 0" and context[255] == "class 254"


def _static_annotation_ids(path) -> dict[int, str]:
    """The AnnotationContext logged (static) on /camera/segmentation: id -> label."""
    rerun_chunk = pytest.importorskip("rerun.chunk")
    for chunk in rerun_chunk.RrdReader(str(path)).stream().to_chunks():
        if chunk.is_static and chunk.entity_path == "/camera/segmentation":
            batch = chunk.to_record_batch()
            name = next(n for n in batch.schema.names if "context" in n.lower())
            classes = batch.column(name).to_pylist()[-1][0]  # the last row's one context
            return {c["class_id"]: c["class_description"]["info"]["label"] for c in classes}
    raise AssertionError("no annotation context")


def test_mask2former_panoptic_run_through_every_output(tmp_path, tiny_model, model_cache):
    """The tiny Mask2Former, panoptic at threshold 0.5, covers some frames of the clip everywhere and
    leaves others with pixels of no segment: both kinds must give the same ids in MCAP and rerun."""
    pytest.importorskip("mcap_ros2")
    pytest.importorskip("rerun")
    clip = make_source(tmp_path / "clip.mp4", FRAMES, Fraction(10), None, size_wh=(64, 48))
    result = run_cli(
        "run", "--task", "segmentation", "--model", f"segmentation={tiny_model('mask2former')}",
        "--segmentation-mode", "panoptic", "--threshold", "0.5", "--source", str(clip), "--pacing", "every",
        "--no-display", "--cache-dir", str(model_cache), "--precision", "fp32", "--mcap", str(tmp_path / "p.mcap"),
        "--rerun", str(tmp_path / "p.rrd"), "--arrays", str(tmp_path / "arrays"))
    assert result.returncode == 0, result.stderr
    maps = []
    for i in range(FRAMES):  # the run's own label maps: 255 is -1 in a PNG of a model with under 255 classes
        png = cv2.imread(str(tmp_path / "arrays" / f"frame_{i:06d}_labels.png"), cv2.IMREAD_UNCHANGED)
        maps.append(np.where(png == 255, -1, png.astype(np.int32)))
    holes = [bool((m == -1).any()) for m in maps]
    assert any(holes) and not all(holes), f"the clip no longer gives both kinds of frame: {holes}"
    assert any((m == 0).any() for m in maps)  # class 0, which must not read as "no segment"
    mcap_maps = [_png(d.data) for _, d in _decoded(tmp_path / "p.mcap")["/livevision/segmentation/compressed"]]
    rerun_maps = [np.asarray(b, np.uint8).reshape(48, 64)
                  for b in _column(_rerun_chunks(tmp_path / "p.rrd")["/camera/segmentation"], "buffer")]
    for outputs in (mcap_maps, rerun_maps):
        assert len(outputs) == FRAMES
        for got, want in zip(outputs, maps):
            np.testing.assert_array_equal(got, want + 1)


# ---- --mcap-compression, invalid depth in PointCloud2 -----------------------------------------------


@pytest.mark.parametrize("codec", ["lz4", "zstd", "none"])
def test_mcap_compression_is_the_codec_asked_for(tmp_path, codec):
    pytest.importorskip("mcap_ros2")
    from mcap.reader import make_reader

    from livevision.sinks.mcap_sink import McapSink

    image = np.zeros((48, 64, 3), np.uint8)  # flat pictures: any codec shrinks them a lot
    depth = DepthResult(depth=np.full((48, 64), 2.0, np.float32), kind=DepthKind.METRIC)
    with McapSink(tmp_path / "c.mcap", compression=codec, fov_deg=60) as sink:
        for i in range(FRAMES):
            _write(sink, i, depth, image)
    with open(tmp_path / "c.mcap", "rb") as f:
        chunks = make_reader(f).get_summary().chunk_indexes
    assert chunks and {c.compression for c in chunks} == {"" if codec == "none" else codec}
    compressed, raw = sum(c.compressed_size for c in chunks), sum(c.uncompressed_size for c in chunks)
    assert compressed < raw / 2 if codec != "none" else compressed == raw
    messages = _decoded(tmp_path / "c.mcap")  # and it reads back
    assert {topic: len(items) for topic, items in messages.items()} == {
        f"/livevision/{t}": FRAMES for t in DEPTH_TOPICS}


def test_point_cloud_has_nan_points_where_the_depth_is_invalid():
    pytest.importorskip("mcap_ros2")
    from livevision.pointcloud import CameraIntrinsics
    from livevision.sinks.ros2_messages import point_cloud

    depth = np.full((4, 6), 2.0, np.float32)
    invalid = [(0, 0, np.nan), (1, 2, 0.0), (2, 3, -1.0), (3, 5, np.inf)]
    for v, u, z in invalid:
        depth[v, u] = z
    image = np.full((4, 6, 3), 7, np.uint8)
    camera = CameraIntrinsics(5.0, 5.0, 2.5, 1.5)
    cloud = _decoder("sensor_msgs/msg/PointCloud2")(point_cloud(0, depth, camera, image))
    assert (cloud.height, cloud.width) == (4, 6) and not cloud.is_dense  # organized: the holes keep their place
    points = np.frombuffer(bytes(cloud.data), "<f4").reshape(4, 6, 4)
    bad = np.zeros((4, 6), bool)
    for v, u, _ in invalid:
        bad[v, u] = True
    assert np.isnan(points[bad][:, :3]).all()
    good = points[~bad]
    assert np.isfinite(good[:, :3]).all() and (good[:, 2] == 2.0).all()
    assert (points.view(np.uint8).reshape(4, 6, 16)[..., 12:15] == 7).all()  # colours even where no point is
    valid = _decoder("sensor_msgs/msg/PointCloud2")(point_cloud(0, np.full((4, 6), 2.0, np.float32), camera, image))
    assert valid.is_dense


# ---- --rerun spawn / connect without a viewer: one line, before any frame --------------------------


def test_rerun_connect_without_a_viewer_fails_at_once_in_one_line(tmp_path, tiny_model, model_cache):
    pytest.importorskip("rerun")
    from cli_runner import run_cli_process

    clip = make_source(tmp_path / "clip.mp4", FRAMES, Fraction(10), None, size_wh=(64, 48))
    url = f"rerun+http://127.0.0.1:{unused_port()}/proxy"
    result = run_cli_process("run", "--task", "depth", "--model", tiny_model("depth_anything"),
                             "--source", clip, "--no-display", "--rerun", f"connect={url}", "--cache-dir", model_cache,
                             "--results", tmp_path / "out.jsonl")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"livevision: error: --rerun connect: no rerun viewer at {url}: start one "
                                          "(`rerun`), or record to a file with --rerun out.rrd"], result.stderr
    results = tmp_path / "out.jsonl"
    assert not results.exists() or results.read_text() == ""  # no frame was processed


def test_rerun_spawn_without_a_display_fails_at_once(monkeypatch):
    pytest.importorskip("rerun")
    from livevision.sinks import rerun_sink
    from livevision.sinks.errors import OutputPathError

    monkeypatch.setattr(rerun_sink, "SPAWN_PORT", unused_port())  # no viewer already there to reuse
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(rerun_sink.sys, "platform", "linux")
    with pytest.raises(OutputPathError, match=r"^--rerun spawn: no display here"):
        rerun_sink.RerunSink("spawn")


# ---- an MCAP cut at any moment is readable (a second Ctrl-C ends the process at once) ---------------


def test_mcap_file_is_readable_after_every_write():
    """What the disk holds after each of the mcap writer's writes (a process killed there leaves just
    that) reads with mcap's reader: every complete chunk's messages, none made up."""
    pytest.importorskip("mcap")
    import tempfile
    from pathlib import Path

    from mcap.reader import make_reader
    from mcap.writer import CompressionType, Writer

    from livevision.sinks.mcap_sink import _ReadableMcap

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cut.mcap"
        file = _ReadableMcap(path, b"\x89MCAP0\r\n")
        writer = Writer(file, chunk_size=200, compression=CompressionType.ZSTD, enable_crcs=False)
        writer.start(profile="", library="test")
        channel = writer.register_channel("/t", "raw", writer.register_schema("s", "raw", b""))
        seen = []
        for i in range(12):
            writer.add_message(channel, log_time=i, data=bytes([i]) * 100, publish_time=i)
            with open(path, "rb") as f:
                seen.append([m.log_time for _, _, m in make_reader(f).iter_messages()])
        assert seen[-1] and all(s == list(range(len(s))) for s in seen)  # complete chunks, in order
        assert len(set(map(len, seen))) > 2  # the chunks reached the disk one by one
        writer.finish()
        file.land_ending()
        file.close()
        with open(path, "rb") as f:
            reader = make_reader(f)
            assert reader.get_summary().statistics.message_count == 12  # indexed once finished
            assert [m.log_time for _, _, m in reader.iter_messages()] == list(range(12))


def test_an_mcap_whose_finish_fails_stays_readable(tmp_path):
    """A summary that cannot be written (a full disk at close) leaves the file as it was: readable."""
    pytest.importorskip("mcap_ros2")
    from livevision.sinks.errors import SinkError
    from livevision.sinks.mcap_sink import McapSink

    image = np.zeros((8, 10, 3), np.uint8)
    depth = DepthResult(depth=np.full((8, 10), 2.0, np.float32), kind=DepthKind.METRIC)
    sink = McapSink(tmp_path / "full.mcap", fov_deg=60)
    for i in range(3):
        _write(sink, i, depth, image)
    assert sink.publish_partial()  # as at a first Ctrl-C

    def disk_full():
        raise OSError(28, "No space left on device")

    real_write = sink._file.write

    def write_until_the_summary(data):  # the last chunk lands, then the disk is full
        if real_write(data) and sink._file._ending is not None and len(sink._file._ending) > 1:
            disk_full()
        return len(data)

    sink._file.write = write_until_the_summary
    with pytest.raises(SinkError, match="No space left"):
        sink.close()
    messages = _decoded(tmp_path / "full.mcap")
    assert {topic: len(items) for topic, items in messages.items()} == {
        f"/livevision/{t}": 3 for t in DEPTH_TOPICS}


def test_two_ctrl_c_leave_a_readable_mcap_and_rrd(tmp_path, tiny_model, exported, model_cache):
    """Two SIGINTs 50 ms apart: out.mcap and out.rrd are there (put under their names at the first),
    mcap's reader reads the frames in order, rerun's reads the recording."""
    pytest.importorskip("mcap_ros2")
    pytest.importorskip("rerun")
    import signal
    import subprocess
    import sys

    exported("depth_anything")  # the export happens outside the run
    clip = make_source(tmp_path / "long.mp4", 1500, Fraction(25), None, size_wh=(160, 96))
    out = tmp_path / "out.mcap"
    proc = subprocess.Popen(
        [sys.executable, "-m", "livevision", "run", "--task", "depth", "--model", str(tiny_model("depth_anything")),
         "--source", str(clip), "--cache-dir", str(model_cache), "--pacing", "every", "--no-display",
         "--mcap", str(out), "--rerun", str(tmp_path / "out.rrd")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        partial = tmp_path / "out.mcap.partial.mcap"
        deadline = time.monotonic() + 120
        while not (partial.exists() and partial.stat().st_size > 300_000):  # a few chunks written
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode in (130, -signal.SIGINT), err
    assert "Traceback" not in err
    assert out.exists() and not partial.exists()
    messages = _decoded(out)
    images = [stamp for stamp, _ in messages["/livevision/image/compressed"]]
    assert len(images) >= 5 and images == [round(i * 0.04 * 1e9) for i in range(len(images))]
    assert not list(tmp_path.glob("*.partial*"))
    with warnings.catch_warnings():  # a recording cut short has no footer: rerun reads it whole, and says so
        warnings.simplefilter("ignore")
        frames = _column(_rerun_chunks(tmp_path / "out.rrd")["/camera/image"], "blob")
    assert len(frames) >= 5


def test_relative_depth_goes_as_16_bit_levels_of_the_frames_range(tmp_path):
    pytest.importorskip("mcap_ros2")
    from livevision.sinks.mcap_sink import McapSink

    values = np.array([[0.25, 0.5, np.nan], [np.inf, 1.0, 0.75]], np.float32)
    with McapSink(tmp_path / "rel.mcap", fov_deg=60, depth_stride=1) as sink:
        _write(sink, 0, DepthResult(depth=values, kind=DepthKind.RELATIVE), np.zeros((2, 3, 3), np.uint8))
        _write(sink, 1, DepthResult(depth=np.full((2, 3), 3.0, np.float32), kind=DepthKind.RELATIVE),
               np.zeros((2, 3, 3), np.uint8))
    messages = _decoded(tmp_path / "rel.mcap")
    assert "/livevision/points" not in messages  # no cloud from values without a unit
    frames = [d for _, d in messages["/livevision/depth/compressed"]]
    assert [f.format for f in frames] == ["16UC1; png compressed"] * 2
    first, flat = (_png(f.data) for f in frames)
    np.testing.assert_array_equal(first, [[1, 21846, 0], [0, 65535, 43690]])  # 1 + (v - min) / range * 65534
    np.testing.assert_array_equal(flat, np.ones((2, 3)))  # one value everywhere: the bottom level
    scales = [json.loads(d.data) for _, d in messages["/livevision/depth/levels"]]
    assert scales == [{"offset": 0.25, "step": 0.75 / 65534}, {"offset": 3.0, "step": 0.0}]


def _relative_depth(seed: int = 0) -> np.ndarray:
    """A relative model's map (inverse depth, no unit) of a 48x64 frame, with a hole."""
    values = np.random.default_rng(seed).uniform(0.01, 37.5, (48, 64)).astype(np.float32)
    values[5, 7] = np.nan
    return values


def test_relative_depth_reads_back_to_half_a_level_with_its_published_scale(tmp_path):
    """At the default stride, in MCAP and rerun: offset + (level - 1) * step is within step / 2 of the
    model's value at every published pixel, and 0 where it had none."""
    pytest.importorskip("mcap_ros2")
    pytest.importorskip("rerun")
    from livevision.sinks.depth_maps import LevelScale
    from livevision.sinks.mcap_sink import McapSink
    from livevision.sinks.rerun_sink import RerunSink

    values = _relative_depth()
    with McapSink(tmp_path / "rel.mcap", fov_deg=60) as mcap, RerunSink(str(tmp_path / "rel.rrd"), fov_deg=60) as rerun:
        for sink in (mcap, rerun):
            _write(sink, 0, DepthResult(depth=values, kind=DepthKind.RELATIVE), np.zeros((48, 64, 3), np.uint8))
    messages = _decoded(tmp_path / "rel.mcap")
    scale = json.loads(messages["/livevision/depth/levels"][0][1].data)
    chunks = _rerun_chunks(tmp_path / "rel.rrd")
    rerun_scale = {name: _column(chunks["/relative_depth"], name)[0][0] for name in ("level_offset", "level_step")}
    published = [(_png(messages["/livevision/depth/compressed"][0][1].data), LevelScale(**scale)),
                 (_png(np.asarray(_column(chunks["/relative_depth"], "blob")[0][0], np.uint8)),
                  LevelScale(rerun_scale["level_offset"], rerun_scale["level_step"]))]
    want = values[::2, ::2]  # every 2nd pixel by default
    for levels, levels_scale in published:
        assert levels.dtype == np.uint16 and levels.shape == (24, 32)
        assert levels_scale.step == pytest.approx((np.nanmax(want) - np.nanmin(want)) / 65534)
        read = levels_scale.values(levels)
        assert np.isnan(read[np.isnan(want)]).all() and (levels[np.isnan(want)] == 0).all()
        finite = np.isfinite(want)
        assert np.abs(read[finite] - want[finite]).max() <= levels_scale.step / 2 * (1 + 1e-6)


def test_the_defaults_are_what_help_says(tmp_path):
    """--help's numbers for 1280x720: points every 16th pixel (80x45), depth every 2nd (640x360) with a
    camera info of the depth map's size; and the points and the depth map agree on the camera."""
    pytest.importorskip("mcap_ros2")
    from livevision.cli import build_parser
    from livevision.sinks.mcap_sink import McapSink

    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["run"].format_help().split())
    assert "at most 80 columns for --mcap and --foxglove, 16 at 1280x720: 80x45 points" in help_text
    assert "default 2: 640x360 for 1280x720" in help_text
    depth = np.linspace(1.0, 9.0, 720 * 1280, dtype=np.float32).reshape(720, 1280)
    image = np.zeros((720, 1280, 3), np.uint8)
    with McapSink(tmp_path / "hd.mcap") as sink:
        _write(sink, 0, DepthResult(depth=depth, kind=DepthKind.METRIC), image)
    messages = {topic: items[0][1] for topic, items in _decoded(tmp_path / "hd.mcap").items()}
    cloud, info = messages["/livevision/points"], messages["/livevision/camera_info"]
    assert (cloud.height, cloud.width) == (45, 80)
    published = _png(messages["/livevision/depth/compressed"].data)
    depth_info = messages["/livevision/depth/camera_info"]
    assert published.shape == (360, 640) == (depth_info.height, depth_info.width)
    assert (info.height, info.width) == (720, 1280)
    np.testing.assert_allclose(depth_info.k, np.asarray(info.k) * [0.5, 1, 0.5, 1, 0.5, 0.5, 1, 1, 1])
    np.testing.assert_allclose(published, depth[::2, ::2] * 1000, atol=0.5 + 1e-3)
