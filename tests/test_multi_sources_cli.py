"""`livevision run` with several sources, up to the models: --source given several times and @LIST files,
--require-all, the sources' labels, and each output path resolved per source (outputs_multi). Nothing here
loads a model or opens a source; one source runs exactly as before."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from cli_runner import run_cli

from livevision.errors import OptionError, UsageError
from livevision.options import OutputOptions, RunOptions, SourceOptions
from livevision.outputs_multi import check_multi_outputs, plan_outputs, source_label, source_labels
from livevision.sinks.errors import OutputIsInputError, OutputPathError
from livevision.sources.base import SourceInfo
from livevision.types import Task


@pytest.fixture
def captured(monkeypatch):
    """The RunOptions `livevision run` hands to app.run (which is not run)."""
    seen = []
    monkeypatch.setattr("livevision.app.run", lambda options: seen.append(options) or 0)
    return seen


def _run_options(captured, *args, cwd=None) -> RunOptions:
    done = run_cli("run", "--no-display", *args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return captured[-1]


def _one_error_line(*args, cwd=None) -> str:
    done = run_cli("run", "--no-display", *args, cwd=cwd)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    return lines[0]


# ---- the sources given ----------------------------------------------------------------------------------

def test_one_source_is_as_before(captured):
    default = _run_options(captured).source
    assert (default.source, default.sources, default.require_all) == ("0", ("0",), False)
    one = _run_options(captured, "--source", "clip.mp4").source
    assert (one.source, one.sources) == ("clip.mp4", ("clip.mp4",))


def test_source_given_several_times_keeps_the_order(captured):
    source = _run_options(captured, "--source", "b.mp4", "--source", "rtsp://h/cam", "--source", "1",
                          "--require-all").source
    assert source.sources == ("b.mp4", "rtsp://h/cam", "1") and source.source == "b.mp4"
    assert source.require_all is True


def test_a_list_file_is_read_in_place_skipping_blanks_and_comments(captured, tmp_path):
    (tmp_path / "cameras.txt").write_text("# the yard\n  rtsp://10.0.0.5/cam1  \n\nclips/front.mp4\n"
                                          "   # off: rtsp://10.0.0.6/cam2\n2\n")
    source = _run_options(captured, "--source", "0", "--source", "@cameras.txt", "--source", "last.mp4",
                          cwd=tmp_path).source
    # relative paths stay as written: the run opens them from the current folder, as --source's own
    assert source.sources == ("0", "rtsp://10.0.0.5/cam1", "clips/front.mp4", "2", "last.mp4")


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("", "lists no source"),
    ("# nothing yet\n\n   \n", "lists no source"),
    ("a.mp4\n@more.txt\n", "names another list"),
    ("a.mp4\nb.mp4\na.mp4\n", "given twice"),
    ("folder", "cannot read"),
])
def test_a_bad_list_file_is_one_line(content, message, captured, tmp_path):
    listed = tmp_path / "cameras.txt"
    if content == "folder":
        listed.mkdir()
    elif content is not None:
        listed.write_text(content)
    line = _one_error_line("--source", f"@{listed}")
    assert message in line and "--source" in line
    assert not captured


def test_a_source_given_twice_is_refused(captured):
    assert "given twice" in _one_error_line("--source", "0", "--source", "0")


def test_source_options_keep_source_and_sources_together():
    assert SourceOptions(sources=("a.mp4", "b.mp4")).source == "a.mp4"
    assert SourceOptions(sources=(Path("a.mp4"),)).sources == ("a.mp4",)
    one = SourceOptions(source="a.mp4")
    assert replace(one, source="b.mp4").sources == ("b.mp4",)  # batch runs each file this way
    with pytest.raises(OptionError, match="first of sources"):
        SourceOptions(source="c.mp4", sources=("a.mp4", "b.mp4"))
    with pytest.raises(OptionError, match="require_all"):
        SourceOptions(require_all="yes")


# ---- labels -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, label", [
    ("0", "camera0"), ("camera 12", "camera12"),
    ("/x/y/front.mp4", "front"), ("clips/back door.mkv", "back_door"), (".hidden.mp4", "hidden"),
    ("rtsp://10.0.0.5:554/cam1", "10.0.0.5_cam1"), ("rtsp://admin:secret@cam.local/live/ch0", "cam.local_live_ch0"),
    ("http://host:8080/", "host"), ("photos/*.jpg", "photos"), ("*.png", "source"), ("???", "source"),
])
def test_a_label_is_short_and_safe(name, label):
    assert source_label(name) == label


def test_a_folder_keeps_its_whole_name(tmp_path):
    (tmp_path / "day.2024").mkdir()
    assert source_label(str(tmp_path / "day.2024")) == "day.2024"


def test_labels_are_unique_the_first_keeping_its_name():
    assert source_labels(["a/front.mp4", "b/front.mp4", "c/FRONT.mkv", "0", "camera 0"]) == \
        ["front", "front-2", "FRONT-3", "camera0", "camera0-2"]
    assert source_labels(["front-2.mp4", "a/front.mp4", "b/front.mp4"]) == ["front-2", "front", "front-3"]


# ---- each path option per source ------------------------------------------------------------------------

SOURCES = ("/data/front.mp4", "rtsp://10.0.0.5/cam1", "0")


def test_placeholders_name_one_file_per_source(tmp_path):
    plan = plan_outputs(OutputOptions(video=tmp_path / "{source}.mp4", results=tmp_path / "r{index}.jsonl",
                                      mcap=tmp_path / "{index}_{source}.mcap", rerun=str(tmp_path / "{source}.rrd"),
                                      stats=tmp_path / "{source}-stats.json", arrays=tmp_path / "arrays-{index}"),
                        SOURCES)
    assert plan.labels == ("front", "10.0.0.5_cam1", "camera0")
    assert [o.video for o in plan.per_source] == [tmp_path / f"{n}.mp4" for n in plan.labels]
    assert [o.results for o in plan.per_source] == [tmp_path / f"r{i}.jsonl" for i in range(3)]
    assert [o.mcap for o in plan.per_source] == [tmp_path / f"{i}_{n}.mcap" for i, n in enumerate(plan.labels)]
    assert [o.rerun for o in plan.per_source] == [str(tmp_path / f"{n}.rrd") for n in plan.labels]
    assert [o.stats for o in plan.per_source] == [tmp_path / f"{n}-stats.json" for n in plan.labels]
    assert [o.arrays for o in plan.per_source] == [tmp_path / f"arrays-{i}" for i in range(3)]
    assert plan.results is None and plan.stats is None


@pytest.mark.parametrize("folder", ["existing", "slash/", "noext"])
def test_a_folder_holds_one_file_per_source(folder, tmp_path):
    (tmp_path / "existing.d").mkdir()
    given = {"existing": str(tmp_path / "existing.d"), "slash/": str(tmp_path / "new.d") + "/",
             "noext": str(tmp_path / "out")}[folder]
    base = Path(given)
    plan = plan_outputs(OutputOptions(video=given, results=given, mcap=given, rerun=given, stats=given,
                                      arrays=given), SOURCES[:2])
    for out, label in zip(plan.per_source, ("front", "10.0.0.5_cam1")):
        assert (out.video, out.results, out.mcap, out.rerun, out.stats, out.arrays) == (
            base / f"{label}.mp4", base / f"{label}.jsonl", base / f"{label}.mcap", str(base / f"{label}.rrd"),
            base / f"{label}.json", base / label)
    assert plan.results is None and plan.stats is None


def test_results_and_stats_without_a_placeholder_are_shared(tmp_path):
    plan = plan_outputs(OutputOptions(results=tmp_path / "all.jsonl", stats=tmp_path / "all.json",
                                      arrays=tmp_path / "arrays.d"), SOURCES)
    assert plan.results == tmp_path / "all.jsonl" and plan.stats == tmp_path / "all.json"
    assert all(o.results is None and o.stats is None for o in plan.per_source)
    # --arrays is a folder: a folder per source in it
    assert [o.arrays for o in plan.per_source] == [tmp_path / "arrays.d" / n for n in plan.labels]
    assert plan_outputs(OutputOptions(results=Path("-")), SOURCES).results == Path("-")  # standard output


def test_the_window_and_the_web_view_are_shared():
    plan = plan_outputs(OutputOptions(display=True, serve="8080", rerun="spawn", hud_in_output=True), SOURCES)
    assert all(not o.display and o.serve is None for o in plan.per_source)
    assert all(o.rerun == "spawn" and o.hud_in_output for o in plan.per_source)  # one recording each in the viewer


@pytest.mark.parametrize("option, value, message", [
    ("video", "out.mp4", "--output out.mp4: 3 sources write a video each: put {source} or {index} in the name "
                         "(out_{source}.mp4), or give a folder (out/)"),
    ("mcap", "run.mcap", "--mcap run.mcap: 3 sources write a MCAP file each"),
    ("rerun", "run.rrd", "--rerun run.rrd: 3 sources write a recording each"),
    ("foxglove", "8765", "--foxglove serves one camera's channels"),
])
def test_an_output_several_sources_cannot_share_is_refused(option, value, message):
    with pytest.raises(UsageError) as caught:  # UsageError
        plan_outputs(OutputOptions(**{option: Path(value) if option in ("video", "mcap") else value}), SOURCES)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_two_outputs_at_one_path_are_refused(tmp_path):
    with pytest.raises(UsageError, match="--output of front and --arrays of front are the same path"):
        plan_outputs(OutputOptions(video=tmp_path / "{source}", arrays=tmp_path), SOURCES)


def test_several_sources_on_the_command_line_reach_the_same_checks(captured, tmp_path):
    """The refusals are the command's one line too (app_multi plans the outputs first; here the plan alone)."""
    with pytest.raises(UsageError, match="put {source} or {index}"):
        plan_outputs(_run_options(captured, "--source", "a.mp4", "--source", "b.mp4", "--output",
                                  tmp_path / "x.mp4").output, ("a.mp4", "b.mp4"))


# ---- every resolved path checked before a model loads -----------------------------------------------------

def _infos(*paths):
    return [None if p is None else SourceInfo(name=str(p), is_live=False, fps=25.0, frame_count=10, path=str(p))
            for p in paths]


def _options(sources, output: OutputOptions) -> RunOptions:
    return RunOptions(tasks=(Task.DEPTH,), source=SourceOptions(sources=tuple(map(str, sources))), output=output)


def test_an_output_of_one_source_that_is_another_source_is_refused(tmp_path):
    """--output {index}.mp4 writes 1.mp4 for the second source: the first source's file."""
    first, second = tmp_path / "1.mp4", tmp_path / "x.mp4"
    first.write_bytes(b"video"), second.write_bytes(b"video")
    before = sorted(tmp_path.iterdir())
    options = _options([first, second], OutputOptions(display=False, video=tmp_path / "{index}.mp4"))
    plan = plan_outputs(options.output, options.source.sources)
    with pytest.raises(OutputIsInputError, match=r"--output .*1\.mp4' is an input"):
        check_multi_outputs(options, plan, _infos(first, second))
    assert sorted(tmp_path.iterdir()) == before


def test_each_source_and_the_shared_files_get_the_one_source_checks(tmp_path):
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    first.write_bytes(b"video"), second.write_bytes(b"video")
    for output, message in ((OutputOptions(display=False, stats=tmp_path / "all.txt"), "stats file"),
                            (OutputOptions(display=False, results=tmp_path / "all.txt"), "results file"),
                            (OutputOptions(display=False, video=tmp_path / "{source}.jsonl"), "video"),
                            (OutputOptions(display=False, arrays=second), "arrays")):
        options = _options([first, second], output)
        with pytest.raises(OutputPathError, match=message):
            check_multi_outputs(options, plan_outputs(output, options.source.sources), _infos(first, second))


def test_a_source_that_did_not_open_writes_and_checks_nothing(tmp_path):
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    first.write_bytes(b"video")
    options = _options([first, second], OutputOptions(display=False, results=tmp_path / "{source}" / "r.jsonl"))
    (tmp_path / "a").mkdir()  # the folder of the first's results only
    plan = plan_outputs(options.output, options.source.sources)
    check_multi_outputs(options, plan, _infos(first, None))
    with pytest.raises(OutputPathError, match="does not exist"):
        check_multi_outputs(options, plan, _infos(first, second))


def test_one_source_fills_the_placeholders_too(captured, tmp_path):
    """An @LIST of one camera with --output {source}.mp4 names it as among several; nothing else changes."""
    (tmp_path / "one.txt").write_text("rtsp://10.0.0.5/cam1\n")
    output = _run_options(captured, "--source", "@one.txt", "--output", "v_{source}.mp4", "--rerun", "{index}.rrd",
                          "--results", "r.jsonl", cwd=tmp_path).output
    assert (output.video, output.rerun, output.results) == (Path("v_10.0.0.5_cam1.mp4"), "0.rrd", Path("r.jsonl"))
    assert _run_options(captured, "--source", "a.mp4", "--output", "out.mp4").output.video == Path("out.mp4")
