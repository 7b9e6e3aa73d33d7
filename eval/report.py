"""Report files for `rag eval --out DIR`: eval.json, report.md and chart.png."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.runner import QuestionResult, RetrievalRun, Run

JSON_FILE = "eval.json"
MARKDOWN_FILE = "report.md"
CHART_FILE = "chart.png"
# Characters of each retrieved passage shown under a failure.
PASSAGE_PREVIEW = 300

# (label in reports, section, key) of every figure in the summary table and chart.
QA_METRICS = (
    ("recall@1", "retrieval", "recall@1"),
    ("recall@3", "retrieval", "recall@3"),
    ("recall@5", "retrieval", "recall@5"),
    ("MRR", "retrieval", "mrr"),
    ("answer accuracy", "answer", "accuracy"),
    ("citation precision", "citation", "precision"),
    ("abstention precision", "abstention", "precision"),
    ("abstention recall", "abstention", "recall"),
)


def write_json(out: Path, payload: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / JSON_FILE
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def _figure(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _one_line(text: str, limit: int | None = None) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


# -- question answering -----------------------------------------------------------------------------


def write_qa_reports(
    out: Path, payload: dict[str, Any], runs: Sequence[Run], title: str, notes: Sequence[str] = ()
) -> list[Path]:
    """Write the JSON, the Markdown report and the chart for question-answering runs."""
    paths = [write_json(out, payload)]
    summaries = [run.summary() for run in runs]
    paths.append(out / MARKDOWN_FILE)
    paths[-1].write_text(qa_markdown(runs, summaries, title, notes), encoding="utf-8")
    series = {
        run.config.label: [s[section][key] for _, section, key in QA_METRICS]
        for run, s in zip(runs, summaries, strict=True)
    }
    latency = {run.config.label: s["latency_ms"] for run, s in zip(runs, summaries, strict=True)}
    paths.append(out / CHART_FILE)
    draw_chart(paths[-1], title, [label for label, _, _ in QA_METRICS], series, latency)
    return paths


def qa_markdown(
    runs: Sequence[Run], summaries: Sequence[dict[str, Any]], title: str, notes: Sequence[str] = ()
) -> str:
    """Summary table (one column per run), then every failure of every run."""
    lines = [f"# {title}", ""]
    n = summaries[0]["n"]
    answerable = sum(1 for r in runs[0].results if r.question.answerable)
    lines.append(
        f"{n} questions: {answerable} answerable, {n - answerable} unanswerable. "
        f"k = {runs[0].config.k}."
    )
    lines.extend(["", *notes, ""] if notes else [""])
    lines.append("| | " + " | ".join(run.config.label for run in runs) + " |")
    lines.append("|---|" + "---:|" * len(runs))
    for label, section, key in QA_METRICS:
        cells = [_figure(s[section][key]) for s in summaries]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for name in ("p50", "p95"):
        cells = [_figure(s["latency_ms"][name], 1) for s in summaries]
        lines.append(f"| latency {name} (ms) | " + " | ".join(cells) + " |")
    passed = [sum(q["pass"] for q in s["per_question"]) for s in summaries]
    lines.append("| passed | " + " | ".join(f"{p}/{n}" for p in passed) + " |")
    lines.append("")
    lines.append(
        "Retrieval figures count answerable questions; a hit is a passage from the gold "
        "source (holding a gold answer, for our own question sets). Citation precision "
        "counts citations in answers to answerable questions. – means not defined "
        "(nothing to count)."
    )
    for run in runs:
        failures = [r for r in run.results if not r.passed]
        lines.extend(["", f"## Failures: {run.config.label} ({len(failures)})", ""])
        if not failures:
            lines.append("None.")
        for result in failures:
            lines.extend(_failure(result))
    return "\n".join(lines) + "\n"


def _failure(result: QuestionResult) -> list[str]:
    q = result.question
    expected = " / ".join(f"“{a}”" for a in q.answers) if q.answerable else "abstain (unanswerable)"
    why = []
    if result.error:
        why.append("error")
    elif not q.answerable:
        why.append("answered an unanswerable question")
    else:
        if result.abstained:
            why.append("abstained")
        elif not result.correct:
            why.append("answer lacks the gold answer")
        if not result.citations and not result.abstained:
            why.append("no citation")
        if not all(result.citation_valid):
            why.append("citation not from the gold source or not verbatim")
    rank = "missed in top 5" if result.hit_rank is None else f"rank {result.hit_rank}"
    lines = [
        f"### {q.id}: {_one_line(q.question)}",
        "",
        f"- why: {', '.join(why) or 'failed'}",
        f"- expected: {expected}" + (f" in `{'` or `'.join(q.sources)}`" if q.sources else ""),
        f"- got: {_one_line(result.answer)}",
        f"- gold passage: {rank if q.answerable else 'none'}",
    ]
    for n, (citation, ok) in enumerate(
        zip(result.citations, result.citation_valid, strict=True), 1
    ):
        mark = "valid" if ok else "NOT valid"
        lines.append(
            f"- citation [{n}] `{citation.doc_id}` {citation.start}–{citation.end} ({mark})"
        )
    lines.append("- retrieved passages:")
    for passage in result.passages:
        c = passage.citation
        lines.append(
            f"  {passage.rank}. `{c.doc_id}` {c.start}–{c.end} (score {passage.score:.4f}): "
            f"{_one_line(c.quote, PASSAGE_PREVIEW)}"
        )
    lines.append("")
    return lines


# -- retrieval only (BEIR) -------------------------------------------------------------------------


def write_retrieval_reports(
    out: Path,
    payload: dict[str, Any],
    runs: Sequence[RetrievalRun],
    title: str,
    notes: Sequence[str] = (),
) -> list[Path]:
    """Write the JSON, the Markdown report and the chart for retrieval-only runs."""
    paths = [write_json(out, payload)]
    summaries = [run.summary() for run in runs]
    k = runs[0].k
    names = [f"ndcg@{k}", f"recall@{k}", f"mrr@{k}"]
    lines = [f"# {title}", "", f"{summaries[0]['n']} queries with judgements.", "", *notes, ""]
    lines.append("| mode | " + " | ".join(names) + " | latency p50 (ms) | latency p95 (ms) |")
    lines.append("|---|" + "---:|" * (len(names) + 2))
    for run, s in zip(runs, summaries, strict=True):
        cells = [_figure(s[name]) for name in names]
        cells += [_figure(s["latency_ms"]["p50"], 1), _figure(s["latency_ms"]["p95"], 1)]
        lines.append(f"| {run.label} | " + " | ".join(cells) + " |")
    for run in runs:
        misses = [q for q in run.per_query if q["rr"] == 0]
        lines.extend(
            [
                "",
                f"## Queries with no relevant document in the top {k}: {run.label} ({len(misses)})",
                "",
            ]
        )
        for q in misses:
            lines.append(
                f"- {q['id']}: relevant {', '.join(q['relevant'])}; "
                f"got {', '.join(q['ranked'][:5])}"
            )
    paths.append(out / MARKDOWN_FILE)
    paths[-1].write_text("\n".join(lines) + "\n", encoding="utf-8")
    series = {
        run.label: [s[name] for name in names] for run, s in zip(runs, summaries, strict=True)
    }
    latency = {run.label: s["latency_ms"] for run, s in zip(runs, summaries, strict=True)}
    paths.append(out / CHART_FILE)
    draw_chart(paths[-1], title, names, series, latency)
    return paths


# -- the chart -------------------------------------------------------------------------------------


def draw_chart(
    path: Path,
    title: str,
    metric_names: Sequence[str],
    series: dict[str, Sequence[float | None]],
    latency: dict[str, dict[str, float | None]],
) -> None:
    """Grouped bars (one colour per mode/backend) for 0–1 metrics, and latency beside them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(series)
    figure, (quality, speed) = plt.subplots(
        1,
        2,
        figsize=(max(9.0, 1.3 * len(metric_names) + 5), 5.2),
        gridspec_kw={"width_ratios": [max(len(metric_names), 3), 1.6]},
    )
    colours = plt.get_cmap("tab10").colors
    width = 0.8 / max(len(labels), 1)
    for i, label in enumerate(labels):
        offsets = [m + (i - (len(labels) - 1) / 2) * width for m in range(len(metric_names))]
        values = [0.0 if v is None else v for v in series[label]]
        bars = quality.bar(offsets, values, width * 0.95, label=label, color=colours[i % 10])
        for bar, value in zip(bars, series[label], strict=True):
            text = "n/a" if value is None else f"{value:.2f}"
            quality.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7 if len(labels) > 2 else 8,
                rotation=90 if len(labels) > 3 else 0,
            )
    quality.set_xticks(range(len(metric_names)))
    quality.set_xticklabels([name.replace(" ", "\n", 1) for name in metric_names], fontsize=9)
    quality.set_ylim(0, 1.12)
    quality.set_ylabel("score (higher is better)")
    quality.grid(axis="y", alpha=0.3)
    quality.set_axisbelow(True)
    quality.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.13),
        ncol=min(len(labels), 4),
        frameon=False,
        fontsize=9,
    )
    quality.set_title("Quality", fontsize=11)

    for i, label in enumerate(labels):
        p50, p95 = latency[label].get("p50") or 0.0, latency[label].get("p95") or 0.0
        speed.bar(i, p95, 0.6, color=colours[i % 10], alpha=0.35)
        speed.bar(i, p50, 0.6, color=colours[i % 10])
        speed.annotate(
            f"{p50:.0f}/{p95:.0f}",
            (i, p95),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    speed.set_xticks(range(len(labels)))
    speed.set_xticklabels(
        [label.split(" · ")[0] for label in labels],
        fontsize=8,
        rotation=30 if len(labels) > 2 else 0,
    )
    top = max([latency[label].get("p95") or 0.0 for label in labels] + [1.0])
    speed.set_ylim(0, top * 1.2)
    speed.set_ylabel("ms per question (lower is better)")
    speed.set_title("Latency p50 (solid) / p95", fontsize=11)
    speed.grid(axis="y", alpha=0.3)
    speed.set_axisbelow(True)

    figure.suptitle(title, fontsize=12)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
