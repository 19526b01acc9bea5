"""`livevision batch`: many files, models loaded once, a manifest, resume, failures that do not stop the
batch, Ctrl-C, fsspec paths, and a local Ray whose worker dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest
from cli_runner import run_cli
from fakes import unused_port
from media import make_source

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def clips(tmp_path):
    """Three good clips (one in a subfolder) and a file that is no video."""
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    for name, frames in (("a.mp4", 6), ("sub/b.mp4", 9), ("c.mp4", 4)):
        make_source(root / name, frames, Fraction(10), None, size_wh=(64, 48))
    (root / "broken.mp4").write_bytes(b"not a video" * 300)
    return root


def _batch(*args, model, cache, **kwargs):
    return run_cli("batch", *args, "--task", "segmentation", "--model", str(model), "--cache-dir", str(cache),
                   "--precision", "fp32", **kwargs)


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_batch_here_mirrors_names_survives_a_bad_file_resumes_and_forces(clips, tmp_path, tiny_model, model_cache):
    out = tmp_path / "out"
    model = tiny_model("segformer")
    first = _batch(str(clips), "--output-dir", str(out), "--ray", "off", "--workers", "1", model=model,
                   cache=model_cache)
    assert first.returncode == 1, first.stderr  # one file failed
    assert "3 done, 1 failed, 0 skipped" in first.stderr and "Traceback" not in first.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "a.jsonl", "c.jsonl", "manifest.jsonl", "sub/b.jsonl"]
    for name, frames in (("a", 6), ("sub/b", 9), ("c", 4)):
        assert len((out / f"{name}.jsonl").read_text().splitlines()) == frames
    lines = {Path(line["source"]).name: line for line in _manifest(out)}
    assert lines["broken.mp4"]["status"] == "failed" and "could not be opened" in lines["broken.mp4"]["error"]
    assert "\n" not in lines["broken.mp4"]["error"]
    assert {lines[n]["frames"] for n in ("a.mp4", "b.mp4", "c.mp4")} == {6, 9, 4}
    assert all(lines[n]["status"] == "ok" and lines[n]["fps"] > 0 for n in ("a.mp4", "b.mp4", "c.mp4"))
    sizes = {Path(line["source"]).name: Path(line["source"]).stat().st_size for line in _manifest(out)}
    assert [Path(line["source"]).name for line in _manifest(out)] == sorted(sizes, key=lambda n: -sizes[n])
    written = (out / "a.jsonl").stat().st_mtime_ns

    again = _batch(str(clips), "--output-dir", str(out), "--ray", "off", model=model, cache=model_cache)
    assert "0 done, 1 failed, 3 skipped" in again.stderr and again.returncode == 1
    assert (out / "a.jsonl").stat().st_mtime_ns == written

    other_options = _batch(str(clips / "a.mp4"), "--output-dir", str(out), "--ray", "off", "--top-k", "3",
                           model=model, cache=model_cache)
    assert "1 done, 0 failed, 0 skipped" in other_options.stderr and other_options.returncode == 0

    forced = _batch(str(clips / "c.mp4"), "--output-dir", str(out), "--ray", "off", "--force", model=model,
                    cache=model_cache)
    assert forced.returncode == 0 and "1 done, 0 failed, 0 skipped" in forced.stderr


def test_workers_side_by_side_write_what_one_worker_writes(clips, tmp_path, tiny_model, model_cache):
    model = tiny_model("segformer")
    (clips / "broken.mp4").unlink()
    for i in range(3):
        make_source(clips / f"more{i}.mp4", 5, Fraction(10), None, size_wh=(64, 48))
    runs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"out-{workers}"
        done = _batch(str(clips), "--output-dir", str(out), "--ray", "off", "--workers", workers, model=model,
                      cache=model_cache)
        assert done.returncode == 0 and "6 done, 0 failed" in done.stderr, done.stderr
        # every worker loads the model: said once (--device auto: ORT's CPU provider, or OpenVINO's CPU)
        assert done.stderr.count(" runs on CPUExecutionProvider") + done.stderr.count(" runs on OpenVINO:CPU") == 1
        runs[workers] = out
    assert len({line["worker"] for line in _manifest(runs["1"])}) == 1
    assert len({line["worker"] for line in _manifest(runs["2"])}) == 2  # both workers took files

    def results(out: Path) -> dict:
        return {p.relative_to(out).as_posix(): [{k: v for k, v in json.loads(line).items() if k != "latency_ms"}
                                                for line in p.read_text().splitlines()]
                for p in out.rglob("*.jsonl") if p.name != "manifest.jsonl"}

    assert results(runs["2"]) == results(runs["1"]) and len(results(runs["1"])) == 6


def test_auto_workers_are_as_many_as_memory_allows(clips, tmp_path, tiny_model, model_cache, monkeypatch):
    """Each worker holds its own models: on a machine short of memory, --workers auto runs fewer of them."""
    from livevision import batch_runner
    from livevision.models import session

    monkeypatch.setattr(session, "physical_cores", lambda: 4)
    monkeypatch.setattr(batch_runner, "_available_bytes", lambda: 1)  # and no memory to spare
    (clips / "broken.mp4").unlink()
    out = tmp_path / "out"
    done = _batch(str(clips), "--output-dir", str(out), "--ray", "off", model=tiny_model("segformer"),
                  cache=model_cache)
    assert done.returncode == 0 and "memory allows 1 of 3 workers side by side" in done.stderr, done.stderr
    assert len({line["worker"] for line in _manifest(out)}) == 1 and len(_manifest(out)) == 3


def test_sources_lists_globs_and_remote_paths(clips, tmp_path, tiny_model, model_cache):
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    for name in ("a.mp4", "sub/b.mp4"):
        memory.pipe_file(f"/clips/{name}", (clips / name).read_bytes())
    listing = tmp_path / "list.txt"
    listing.write_text(f"# one per line\nmemory://clips/a.mp4\n\n{clips / 'c.mp4'}\n")
    result = _batch(f"@{listing}", "memory://clips/sub/*.mp4", "--output-dir", "memory://results", "--ray", "off",
                    "--video", model=tiny_model("segformer"), cache=model_cache)
    assert result.returncode == 0, result.stderr
    names = {p.split("/results/", 1)[1] for p in memory.find("/results")}
    # mirrored below the inputs' common folder (here the root: memory://clips and a local folder)
    assert {"clips/a.jsonl", "clips/a.mp4", "clips/sub/b.jsonl", "clips/sub/b.mp4", "manifest.jsonl"} <= names
    assert {n for n in names if n.endswith("in/c.jsonl") or n.endswith("in/c.mp4")} and len(names) == 7
    assert len(memory.cat_file("/results/clips/sub/b.jsonl").decode().splitlines()) == 9


@pytest.mark.parametrize("options, message", [
    (["--ray", "off", "--workers", "0"], "--workers '0': give a positive number of workers, or auto"),
    (["--ray", "local", "--workers", "2"], "--workers is for workers in this process (--ray off)"),
    (["--ray", "head:6379", "--workers", "2"], "--workers is for workers in this process (--ray off)"),
])
def test_bad_workers_is_one_line(options, message, clips, tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    result = run_cli("batch", str(clips), "--output-dir", str(tmp_path / "out"), *options)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_no_sources_is_one_line(tmp_path):
    result = run_cli("batch", str(tmp_path / "nothing-*.mp4"), "--output-dir", str(tmp_path / "out"), "--ray", "off")
    assert result.returncode == 2 and "no such file, folder or glob" in result.stderr
    assert "Traceback" not in result.stderr


# The tests' Ray: started by ray.init in a process of its own, which stops it when its stdin closes
# (at the end of the tests, or when their process is gone).
_RAY_HEAD = """
import sys, ray
ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()
ray.shutdown()
"""


@pytest.fixture(scope="module")
def ray_cluster():
    """The address of a Ray of two CPUs shared by this module's Ray tests: started once, not once a
    test (seconds each, many more on a loaded machine). Each test joins it as a job of its own
    (local_ray), with its own environment for its workers."""
    pytest.importorskip("ray")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "LIVEVISION_BATCH_CRASH_ONCE")}
    head = subprocess.Popen([sys.executable, "-c", _RAY_HEAD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**env, "RAY_AUTH_MODE": "disabled"})
    address = head.stdout.readline().strip()
    if not address:
        pytest.fail(f"the tests' Ray did not start (exit code {head.wait()})")
    yield address
    head.stdin.close()
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        head.kill()
        head.wait()


@pytest.fixture
def local_ray(ray_cluster, monkeypatch, tmp_path):
    """This process joined to the tests' Ray of two CPUs, all of them free (so --ray auto uses it, with a
    worker per CPU), as a job whose workers crash once on sub/b and keep their temporary files in a
    folder of their own (tmp_path / "ray-tmp")."""
    ray = pytest.importorskip("ray")
    marker = tmp_path / "crashed-once"
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    (tmp_path / "ray-tmp").mkdir()
    ray.init(address=ray_cluster, log_to_driver=False, configure_logging=False, runtime_env={"env_vars": {
        "TMPDIR": str(tmp_path / "ray-tmp"), "LIVEVISION_BATCH_CRASH_ONCE": f"{marker}:sub/b"}})
    deadline = time.monotonic() + 60  # the last test's workers, ended with its job, may still hold CPUs
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    yield marker
    ray.shutdown()  # this job's end: its workers are ended, the tests' Ray goes on


@pytest.fixture
def progress_seen(monkeypatch):
    """The batch's progress bar's count after each update, as (frames, total)."""
    from livevision import batch_runner

    seen = []

    class Recording(batch_runner.ProgressBar):
        def update(self, n=1):
            super().update(n)
            seen.append((self.n, self.total))

    monkeypatch.setattr(batch_runner, "ProgressBar", Recording)
    return seen


@pytest.mark.parametrize("runner", ["here", "ray"])
def test_progress_counts_frames_as_they_are_done(runner, tmp_path, tiny_model, model_cache, progress_seen, request,
                                                 monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    if runner == "ray":
        request.getfixturevalue("local_ray")
    make_source(tmp_path / "a.mp4", 12, Fraction(10), None, size_wh=(64, 48))
    done = _batch(str(tmp_path / "a.mp4"), "--output-dir", str(tmp_path / "out"), model=tiny_model("segformer"),
                  cache=model_cache)
    assert done.returncode == 0, done.stderr
    assert "1 file on 1 " + ("worker in this process" if runner == "here" else "Ray worker") in done.stderr
    assert progress_seen[-1] == (12, 12)
    assert any(0 < n < 12 for n, _ in progress_seen), progress_seen  # before the file ended


def test_ray_local_starts_a_ray_says_so_and_stops_it(tmp_path, tiny_model, model_cache, monkeypatch, ray_cluster):
    """A Ray of its own, even where RAY_ADDRESS names a cluster (the tests' Ray: not the one to use)."""
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster)
    ran_on = []
    shutdown = ray.shutdown

    def note_which_ray_then_shutdown(*args, **kwargs):
        ran_on.append(ray.get_runtime_context().gcs_address)
        shutdown(*args, **kwargs)

    monkeypatch.setattr(ray, "shutdown", note_which_ray_then_shutdown)
    make_source(tmp_path / "a.mp4", 3, Fraction(10), None, size_wh=(64, 48))
    done = _batch(str(tmp_path / "a.mp4"), "--output-dir", str(tmp_path / "out"), "--ray", "local",
                  model=tiny_model("segformer"), cache=model_cache)
    assert done.returncode == 0, done.stderr
    assert "starting a local Ray on this machine's cores and GPUs...\n" in done.stderr
    assert "1 file on 1 Ray worker\n" in done.stderr and not ray.is_initialized()
    assert len(ran_on) == 1 and ran_on[0] != ray_cluster
    assert _manifest(tmp_path / "out")[0]["frames"] == 3


def test_ray_auto_is_ray_only_with_a_cluster_address(monkeypatch):
    from livevision.batch_ray import ray_address

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert ray_address("auto") is None and ray_address("off") is None and ray_address("local") == "local"
    assert ray_address("ray://head:10001") == "ray://head:10001"
    monkeypatch.setenv("RAY_ADDRESS", "head:6379")
    assert ray_address("auto") == "head:6379" and ray_address("off") is None


@pytest.mark.parametrize("how", ["--ray", "RAY_ADDRESS"])
def test_a_ray_address_where_nothing_listens_is_one_line_before_anything_runs(how, clips, tmp_path, monkeypatch):
    """ray.init retries such an address for minutes without a word: the batch says so at once instead."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    address = f"127.0.0.1:{unused_port()}"
    options, env = (["--ray", address], None) if how == "--ray" else ([], {"RAY_ADDRESS": address})
    result = run_cli("batch", str(clips), "--output-dir", str(tmp_path / "out"), *options, env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"--ray {address}: nothing answers at {address}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out").exists()


def test_a_ray_address_that_is_no_address_is_one_line(clips, tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    result = run_cli("batch", str(clips), "--output-dir", str(tmp_path / "out"), "--ray", "head-node")
    assert result.returncode == 2 and "a Ray cluster address is HOST:PORT" in result.stderr
    assert "Traceback" not in result.stderr


def _interrupt_when(monkeypatch, at: str, signum=signal.SIGINT) -> None:
    """Ctrl-C (SIGINT to this process; its handler runs in the main thread, where the batch records
    frames and files) at the batch's first frame, or once two files are recorded done."""
    from livevision import batch_runner
    from livevision.batch_manifest import Manifest

    fired = []

    def interrupt():
        if not fired:
            fired.append(True)
            os.kill(os.getpid(), signum)

    if at == "first frame":
        count = batch_runner._FrameTally.count

        def count_then_interrupt(self, source, frames):
            count(self, source, frames)
            if frames > 0:
                interrupt()

        monkeypatch.setattr(batch_runner._FrameTally, "count", count_then_interrupt)
    else:
        add = Manifest.add

        def add_then_interrupt(self, outcome, key):
            add(self, outcome, key)
            if sum(line["status"] == "ok" for line in self.lines) == 2:
                interrupt()

        monkeypatch.setattr(Manifest, "add", add_then_interrupt)


@pytest.mark.parametrize("at", ["first frame", "two files done"])  # a file being processed; none (the last done)
def test_sigterm_ends_the_batch_as_terminated(at, tmp_path, tiny_model, model_cache, monkeypatch):
    import tempfile

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    for i in range(2):
        make_source(tmp_path / f"clip{i}.mp4", 20, Fraction(10), None, size_wh=(64, 48))
    _interrupt_when(monkeypatch, at, signal.SIGTERM)
    result = _batch(str(tmp_path / "clip*.mp4"), "--output-dir", str(tmp_path / "out"), "--ray", "off",
                    "--workers", "1", model=tiny_model("segformer"), cache=model_cache)
    assert result.returncode == 143 and "livevision: terminated" in result.stderr, result.stderr
    assert not list((tmp_path / "tmp").iterdir())


@pytest.mark.parametrize("runner, at", [("here", "first frame"), ("here", "two files done"),
                                        ("ray", "two files done")])  # on Ray, files are being processed then too
def test_ctrl_c_stops_the_batch_names_real_files_and_leaves_nothing_behind(runner, at, tmp_path, tiny_model,
                                                                            model_cache, monkeypatch, request):
    import tempfile

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    private_tmp = tmp_path / "tmp"  # the workers' temporary folder
    private_tmp.mkdir()
    if runner == "ray":
        request.getfixturevalue("local_ray")
        private_tmp = tmp_path / "ray-tmp"
    root = tmp_path / "many"
    root.mkdir()
    for i in range(8):
        make_source(root / f"clip{i:02d}.mp4", 40, Fraction(10), None, size_wh=(64, 48))
    out = tmp_path / "out"
    model = tiny_model("segformer")
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    _interrupt_when(monkeypatch, at)
    result = _batch(str(root), "--output-dir", str(out), "--video", model=model, cache=model_cache)
    assert result.returncode == 130, result.stderr
    assert "stopping:" in result.stderr and "not run (interrupted)" in result.stderr
    assert "Traceback" not in result.stderr and "livevision-batch-" not in result.stderr
    assert not [p for p in private_tmp.iterdir() if p.name.startswith("livevision-batch-")]
    if at == "first frame":
        assert "no manifest written (no file finished)" in result.stderr and not out.exists()
        return
    assert f"manifest: {out / 'manifest.jsonl'}" in result.stderr
    done = {Path(line["source"]).stem for line in _manifest(out) if line["status"] == "ok"}
    assert 2 <= len(done) < 8
    # only finished files' outputs, under their names; nothing partial
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{n}.mp4" for n in done] + [f"{n}.jsonl" for n in done]
                                                          + ["manifest.jsonl"])


def test_on_a_local_ray_a_file_whose_worker_dies_is_tried_again(clips, tmp_path, tiny_model, model_cache, local_ray):
    import ray

    out = tmp_path / "out"
    result = _batch(str(clips), "--output-dir", str(out), "--ray", "auto", model=tiny_model("segformer"),
                    cache=model_cache)
    assert local_ray.exists(), "the worker did not crash: the retry went untested"
    assert ray.is_initialized(), "the batch left the Ray this process had joined"  # not its own to stop
    assert "trying once more" in result.stderr
    assert result.returncode == 1 and "3 done, 1 failed" in result.stderr, result.stderr  # broken.mp4 fails
    lines = {Path(line["source"]).name: line for line in _manifest(out)}
    assert lines["b.mp4"]["status"] == "ok" and lines["b.mp4"]["frames"] == 9
    assert len((out / "sub" / "b.jsonl").read_text().splitlines()) == 9


def test_a_manifest_cut_short_by_a_crash_keeps_its_good_lines_and_the_next_ones(tmp_path):
    from livevision.batch_manifest import Manifest, Outcome

    (tmp_path / "manifest.jsonl").write_text('{"source": "a", "status": "ok", "key": "k"}\n{"source": "b", "sta')
    Manifest(str(tmp_path)).add(Outcome("c", "ok", frames=3, seconds=1.0), "k")
    assert Manifest(str(tmp_path)).done_with("k") == {"a", "c"}


def test_a_remote_file_is_named_by_its_url_in_its_results(clips, tmp_path, tiny_model, model_cache):
    """The results' `source` is the URL as given, not the temporary local copy (deleted by then)."""
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    memory.pipe_file("/named/a.mp4", (clips / "a.mp4").read_bytes())
    memory.pipe_file("/named/still.png", _png_bytes())
    memory.pipe_file("/named/broken.mp4", (clips / "broken.mp4").read_bytes())
    out = tmp_path / "out"
    result = _batch("memory://named/", "--output-dir", str(out), "--ray", "off", model=tiny_model("segformer"),
                    cache=model_cache)
    assert result.returncode == 1 and "2 done, 1 failed" in result.stderr, result.stderr
    for name, url in (("a.jsonl", "memory://named/a.mp4"), ("still.jsonl", "memory://named/still.png")):
        lines = [json.loads(line) for line in (out / name).read_text().splitlines()]
        assert lines and {line["source"] for line in lines} == {url}
    lines = {line["source"]: line for line in _manifest(out)}
    assert set(lines) == {"memory://named/a.mp4", "memory://named/still.png", "memory://named/broken.mp4"}
    error = lines["memory://named/broken.mp4"]["error"]
    assert "memory://named/broken.mp4" in error and "livevision-batch-" not in error + result.stderr


def _png_bytes() -> bytes:
    import cv2

    from media import index_frame

    return cv2.imencode(".png", index_frame(3, 64, 48))[1].tobytes()


def test_the_latest_manifest_line_of_a_file_says_whether_it_is_done(tmp_path):
    from livevision.batch_manifest import Manifest, Outcome

    manifest = Manifest(str(tmp_path))
    for source, status, key in (("failed-then-ok", "failed", "k"), ("failed-then-ok", "ok", "k"),
                                ("ok-then-failed", "ok", "k"), ("ok-then-failed", "failed", "k"),
                                ("ok-then-skipped", "ok", "k"), ("ok-then-skipped", "skipped", "k"),
                                ("other-key-last", "ok", "k"), ("other-key-last", "ok", "k2")):
        manifest.add(Outcome(source, status), key)
    assert Manifest(str(tmp_path)).done_with("k") == {"failed-then-ok", "ok-then-skipped"}
    assert Manifest(str(tmp_path)).done_with("k2") == {"other-key-last"}


def test_a_file_that_failed_and_then_succeeded_is_not_redone(tmp_path, tiny_model, model_cache):
    root = tmp_path / "in"
    root.mkdir()
    make_source(root / "a.mp4", 3, Fraction(10), None, size_wh=(64, 48))
    (root / "late.mp4").write_bytes(b"not yet a video")
    out, model = tmp_path / "out", tiny_model("segformer")

    def batch(*more):
        return _batch(str(root), "--output-dir", str(out), "--ray", "off", "--workers", "1", *more, model=model,
                      cache=model_cache)

    assert "1 done, 1 failed, 0 skipped" in batch().stderr
    make_source(root / "late.mp4", 4, Fraction(10), None, size_wh=(64, 48))
    fixed = batch()
    assert fixed.returncode == 0 and "1 done, 0 failed, 1 skipped" in fixed.stderr, fixed.stderr
    for _ in range(2):  # and on every rerun after
        again = batch()
        assert again.returncode == 0 and "0 done, 0 failed, 2 skipped" in again.stderr, again.stderr
    other = batch("--top-k", "2")  # other options: a new key, not done
    assert other.returncode == 0 and "2 done, 0 failed, 0 skipped" in other.stderr, other.stderr


def test_a_file_whose_outputs_were_deleted_is_made_again(clips, tmp_path, tiny_model, model_cache):
    (clips / "broken.mp4").unlink()
    out, model = tmp_path / "out", tiny_model("segformer")

    def batch():
        return _batch(str(clips), "--output-dir", str(out), "--ray", "off", "--video", model=model,
                      cache=model_cache)

    assert batch().returncode == 0
    (out / "a.mp4").unlink()  # one of a's two outputs
    (out / "sub" / "b.jsonl").unlink()
    again = batch()
    assert again.returncode == 0 and "2 done, 0 failed, 1 skipped" in again.stderr, again.stderr
    assert (out / "a.mp4").stat().st_size > 0 and len((out / "sub" / "b.jsonl").read_text().splitlines()) == 9
    latest = {Path(line["source"]).name: line["status"] for line in _manifest(out)}
    assert latest == {"a.mp4": "ok", "b.mp4": "ok", "c.mp4": "skipped"}


def test_a_ray_worker_whose_progress_cannot_be_reported_goes_on(local_ray):
    import ray

    from livevision.batch_ray import _FrameReports, _ReportToDriver

    reports = ray.remote(num_cpus=0)(_FrameReports).remote()
    report = _ReportToDriver(reports)
    report("a.mp4", 1)
    assert ray.get(reports.take.remote()) == [("a.mp4", 1)]
    ray.kill(reports)
    report("b.mp4", 1)  # no error: the file goes on


def test_arrays_in_each_depth_format_and_a_new_format_redoes_the_file(tmp_path, tiny_model, model_cache):
    import cv2
    import numpy as np

    make_source(tmp_path / "a.mp4", 3, Fraction(10), None, size_wh=(64, 48))
    out = tmp_path / "out"
    for depth_format, ext in (("png", "png"), ("npz", "npz"), ("npy", "npy")):
        result = run_cli("batch", tmp_path / "a.mp4", "--task", "depth", "--model", tiny_model("depth_anything"),
                         "--cache-dir", model_cache, "--precision", "fp32", "--output-dir", out, "--ray", "off",
                         "--arrays", "--depth-format", depth_format)
        assert result.returncode == 0 and "1 done, 0 failed, 0 skipped" in result.stderr, result.stderr
        sidecars = ("json",) if ext == "png" else ()  # a 16-bit PNG's scale
        assert sorted(p.name for p in (out / "a").iterdir()) == sorted(
            f"frame_{i:06d}_depth.{e}" for i in range(3) for e in (ext, *sidecars))
        first = out / "a" / f"frame_000000_depth.{ext}"
        if ext == "png":
            depth = cv2.imread(str(first), cv2.IMREAD_UNCHANGED)
            assert depth.dtype == np.uint16
        else:
            depth = np.load(first)
            depth = depth[depth.files[0]] if ext == "npz" else depth
            assert depth.dtype.kind == "f"
        assert depth.ndim == 2 and depth.size > 0
    assert sorted(p.name for p in out.iterdir()) == ["a", "a.jsonl", "manifest.jsonl"]


def test_arrays_of_segmentation(clips, tmp_path, tiny_model, model_cache):
    import cv2

    out = tmp_path / "out"
    result = _batch(str(clips / "c.mp4"), "--output-dir", str(out), "--ray", "off", "--arrays",
                    model=tiny_model("segformer"), cache=model_cache)
    assert result.returncode == 0, result.stderr
    labels = sorted((out / "c").iterdir())
    assert [p.name for p in labels] == [f"frame_{i:06d}_labels.png" for i in range(4)]
    assert cv2.imread(str(labels[0]), cv2.IMREAD_UNCHANGED).shape[:2] == (48, 64)


def test_an_image_with_video_gets_an_annotated_image(tmp_path, tiny_model, model_cache):
    import cv2

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "still.png").write_bytes(_png_bytes())
    out = tmp_path / "out"
    result = _batch(str(tmp_path / "in"), "--output-dir", str(out), "--ray", "off", "--video",
                    model=tiny_model("segformer"), cache=model_cache)
    assert result.returncode == 0 and "1 done" in result.stderr, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["manifest.jsonl", "still.jsonl", "still.png"]
    view = cv2.imread(str(out / "still.png"))
    assert view is not None and view.shape[:2] == (48, 64)
    assert len((out / "still.jsonl").read_text().splitlines()) == 1 and _manifest(out)[0]["frames"] == 1


def test_a_worker_that_raises_an_unexpected_error_fails_that_file_only(clips, tmp_path, tiny_model, model_cache,
                                                                       monkeypatch):
    from livevision import run_loop

    (clips / "broken.mp4").unlink()
    play = run_loop.play

    def play_with_a_bug(frames, stream, *args):  # the sinks open, the file half done
        if stream.info.name.endswith("c.mp4"):
            next(frames)
            raise RuntimeError("boom\nsecond line")
        return play(frames, stream, *args)

    monkeypatch.setattr(run_loop, "play", play_with_a_bug)
    out = tmp_path / "out"
    result = _batch(str(clips), "--output-dir", str(out), "--ray", "off", model=tiny_model("segformer"),
                    cache=model_cache)
    assert result.returncode == 1 and "2 done, 1 failed" in result.stderr, result.stderr
    assert "c.mp4 failed: RuntimeError: boom\n" in result.stderr and "Traceback" not in result.stderr
    lines = {Path(line["source"]).name: line for line in _manifest(out)}
    assert lines["c.mp4"]["status"] == "failed" and lines["c.mp4"]["error"] == "RuntimeError: boom"
    assert lines["a.mp4"]["status"] == lines["b.mp4"]["status"] == "ok"
    assert not (out / "c.jsonl").exists() and (out / "a.jsonl").exists()


def test_workers_count_the_frames_they_process_and_write_no_stats_file(clips, tmp_path, tiny_model, model_cache,
                                                                       monkeypatch):
    """A worker drives the stream and the sinks itself: its frames are those it played, not a count read back
    from a stats file (`livevision run --stats`), which a batch does not write at all."""
    from livevision import app, outputs, run_loop

    (clips / "broken.mp4").unlink()
    stats_written = []
    for module in (outputs, app, run_loop):
        monkeypatch.setattr(module, "write_stats", lambda path, *args: stats_written.append(path))
    out = tmp_path / "out"
    result = _batch(str(clips), "--output-dir", str(out), "--ray", "off", "--workers", "1", "--video",
                    model=tiny_model("segformer"), cache=model_cache)
    assert result.returncode == 0 and "3 done, 0 failed" in result.stderr, result.stderr
    lines = {Path(line["source"]).name: line for line in _manifest(out)}
    assert {name: line["frames"] for name, line in lines.items()} == {"a.mp4": 6, "b.mp4": 9, "c.mp4": 4}
    assert stats_written == [] and not list(out.rglob("*.json"))
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "a.jsonl", "a.mp4", "c.jsonl", "c.mp4", "manifest.jsonl", "sub/b.jsonl", "sub/b.mp4"]
