"""bench_multi.py's report: its configurations' labels, the tables of its rounds and figures, and the section of
BENCHMARKS.md that holds them."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
from pathlib import Path

from bench_sections import markers

LABELS = {"a": "(a) a process per source", "b": "(b) one MultiStream, its default (a worker per core)",
          "r": "(r) the limit: raw `session.run`, a loop per worker of (b)'s default"}


def label(config: str) -> str:
    return LABELS.get(config) or f"(b) one MultiStream, workers={config[1:]}"


def fmt(value, digits: int = 1) -> str:
    return "--" if value is None else f"{value:.{digits}f}"


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def vs_a(rounds: list[list[dict]], configs: list[str]) -> dict:
    """Each configuration's throughput, memory and CPU time per inference against the same round's (a), and
    its throughput against the same round's (r) (None without one): per round."""
    ratios = {c: [] for c in configs if c != "a"}
    for results in rounds:
        by = {r["config"]: r for r in results}
        for c in ratios:
            fps = by[c]["fps"] / by["a"]["fps"] if by[c]["fps"] and by["a"]["fps"] else None
            of_r = by[c]["fps"] / by["r"]["fps"] if "r" in by and by[c]["fps"] and by["r"]["fps"] else None
            ratios[c].append((fps, by[c]["rss_mb"] / by["a"]["rss_mb"],
                              by["a"]["cpu_ms_per_inference"] / by[c]["cpu_ms_per_inference"], of_r))
    return ratios


def rounds_table(rounds: list[list[dict]], ratios: dict) -> list[str]:
    lines = ["| round | configuration | inferred / s, all sources | per source | vs (a): throughput, memory | peak "
             "RSS MB, summed (peak of the sum) | CPU ms / inference | first result s, median / last | other "
             "processes' cores; load average before / after |", "|---|---|---|---|---|---|---|---|---|"]
    for n, results in enumerate(rounds, 1):
        for r in results:
            per = " / ".join(f"{x / r['seconds']:.2f}" for x in r["inferred"])
            firsts = [x for x in r["first_result_s"] if x is not None]
            fps, mem, _, _ = ratios[r["config"]][n - 1] if r["config"] in ratios else (None,) * 4
            cells = [n, label(r["config"]), fmt(r["fps"], 2) + " (ended early)" * r["ended_early"], per,
                     "" if mem is None else f"{fmt(fps, 2)}x, {mem:.2f}", f"{r['rss_mb']:.0f} ({r['peak_rss_mb']:.0f})",
                     f"{r['cpu_ms_per_inference']:.0f}", f"{fmt(median(firsts))} / {fmt(max(firsts, default=None))}",
                     f"{r['other_cores']:.2f}; {r['loadavg'][0]} / {r['loadavg'][1]}"]
            lines.append("| " + " | ".join(map(str, cells)) + " |")
    return lines


def figures_table(ratios: dict, rounds: list[list[dict]]) -> list[str]:
    """The figures: the medians of the rounds' ratios, against the targets ((r) is the ceiling, not a design:
    no targets); throughput / (r) for every configuration, (a) included."""
    lines = ["| configuration | throughput / (a) (target >= 1.2x) | memory / (a) (target <= 0.40) | (a)'s CPU ms "
             "per inference / this one's | throughput / (r) |", "|---|---|---|---|---|"]
    a_of_r = median(by["a"]["fps"] / by["r"]["fps"] for by in ({r["config"]: r for r in rs} for rs in rounds)
                    if "r" in by and by["a"]["fps"] and by["r"]["fps"])
    lines.append(f"| {label('a')} | 1x | 1 | 1x | {fmt(a_of_r, 2)} |")
    for c, rows in ratios.items():
        fps, mem, cost, of_r = (median(row[k] for row in rows) for k in range(4))
        marks = ("", "") if c == "r" else (" ✓" if fps and fps >= 1.2 else " ✗", " ✓" if mem <= 0.4 else " ✗")
        lines.append(f"| {label(c)} | **{fmt(fps, 2)}x**{marks[0]} | **{mem:.2f}**{marks[1]} | {cost:.2f}x | "
                     f"{'--' if c == 'r' else fmt(of_r, 2)} |")
    return lines


def sources_table(rounds: list[list[dict]], configs: list[str]) -> list[str]:
    """Per source, medians over the rounds: share of the inferences, rate, result ages, first result."""
    lines = ["| configuration | source | share of inferences | inferred / s | result age p50 / p95 ms | age of a "
             "new result p95 ms | first result s |", "|---|---|---|---|---|---|---|"]
    for c in configs:
        runs = [r for results in rounds for r in results if r["config"] == c]
        for i, name in enumerate(runs[0]["names"]):
            med = {key: median(r[key][i] for r in runs) for key in
                   ("share", "age_p50", "age_p95", "new_age_p95", "first_result_s")}
            rate = median(r["inferred"][i] / r["seconds"] for r in runs)
            lines.append(f"| {label(c)} | {Path(name).name} | {fmt(med['share'] and 100 * med['share'])} % | "
                         f"{fmt(rate, 2)} | {fmt(med['age_p50'], 0)} / {fmt(med['age_p95'], 0)} | "
                         f"{fmt(med['new_age_p95'], 0)} | {fmt(med['first_result_s'])} |")
    return lines


def section(rounds: list[list[dict]], configs: list[str], args, what: str) -> str:
    """The section of BENCHMARKS.md; what: the sources, in words."""
    begin, end = markers(args.section)
    lines = [begin, f"## Several cameras{' over RTSP' * args.rtsp}: one MultiStream against a process per camera", "",
             f"`python scripts/bench_multi.py {' '.join(args.argv)}` on {datetime.date.today()}, "
             f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs: SegFormer-B0 (full size, random "
             f"weights, FP32, CPU) on {what}. (a) {args.sources} processes, each `Stream.open(source, ...)`; (b) one "
             "`MultiStream.open([...], ..., workers=N)` (no N: its default); each loops over its packets. (r) one "
             "process, the model as (b)'s default loads it, `session.run` on one prepared frame of the first source "
             "in a loop per worker that (b)'s default starts (its source column: the loops x each session's "
             "threads); no decoding, pre- or post-processing. Once every source has a result (r: every loop has run "
             f"once), and {args.warmup:g} s later, a configuration's processes all measure the "
             f"same {args.seconds:g} s; configurations interleaved, order rotated. Inferred / s: new results shown "
             "per second (r: runs ended). Peak RSS: each process's `ru_maxrss`, summed (brackets: peak of the summed "
             "VmRSS, sampled every 0.2 s). CPU ms / inference: the processes' CPU time over their inferences. First "
             "result: from the processes' launch. Other processes' cores: the machine's busy CPU time less the "
             "children's.", ""]
    ratios = vs_a(rounds, configs)
    lines += rounds_table(rounds, ratios) + ["", "The figures: medians of each round's ratios against the same "
                                             "round's (a) and (r) (targets printed, not asserted). The CPU time per "
                                             "inference's ratio is the throughput ratio to expect where the cores are "
                                             "theirs alone. (r)'s throughput / (a) is the ceiling any one-process "
                                             "design can reach here: the model alone, on every core.", ""]
    lines += figures_table(ratios, rounds)
    lines += ["", f"Per source, medians over the rounds (fair: each source's share near {100 / args.sources:.0f} %)."
              , ""] + sources_table(rounds, configs)
    return "\n".join(lines + [end])
