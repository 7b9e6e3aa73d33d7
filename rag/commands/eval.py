"""`rag eval`: measure retrieval, answer, citation and abstention quality.

The work is done by the `eval` package (questions, metrics, runner, report,
datasets); this module only reads the flags and prints. Nothing heavy is
imported until `run`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "Run the evaluation question set (or SQuAD / BEIR data) and report quality."

EPILOG = """\
--compare takes modes, backends or MODE:BACKEND pairs, e.g. `--compare dense bm25 hybrid`
or `--compare hybrid:extractive hybrid:openai`; given alone it compares the three modes.
With --json, the object holds the first configuration's figures, plus "runs" with every
configuration's when comparing.
Metrics: recall@1/3/5 and MRR (a hit is a passage from the gold source holding a gold
answer), answer accuracy, citation precision, abstention precision/recall, latency.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rag.commands.ask import add_answer_options

    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--questions",
        type=Path,
        metavar="FILE",
        help="question file, one JSON object a line (default: eval/questions.jsonl)",
    )
    add_answer_options(parser)
    parser.add_argument(
        "--compare",
        nargs="*",
        metavar="MODE|BACKEND|MODE:BACKEND",
        help="run several configurations side by side (alone: all three modes)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="write eval.json, report.md and chart.png into DIR"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    datasets = parser.add_argument_group(
        "outside benchmarks (each indexed once into its own folder)"
    )
    datasets.add_argument("--squad", type=Path, metavar="FILE", help="a SQuAD v1.1/v2.0 JSON file")
    datasets.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="with --squad: N questions spread evenly over the file "
        "(their articles' paragraphs are indexed)",
    )
    datasets.add_argument(
        "--squad-half",
        choices=("fit", "report"),
        help="with --squad: only the articles of this half (even positions 'fit': the reader "
        "trained and its threshold was fitted there; odd positions 'report': the figures we "
        "publish)",
    )
    datasets.add_argument(
        "--beir",
        type=Path,
        metavar="DIR",
        help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv): "
        "nDCG@10, recall@10 and MRR@10 per retrieval mode",
    )
    datasets.add_argument(
        "--beir-split",
        default="test",
        metavar="NAME",
        help="with --beir: the judgements of qrels/NAME.tsv (default: test; MS MARCO has dev)",
    )
    datasets.add_argument(
        "--answer-order",
        action="store_true",
        help="with --beir: also rank each mode's documents as the answer shows its passages "
        "(answered from as many passages as the `top_k` setting, not --k; the reader "
        "re-orders those it read), the rest after",
    )


def run(args: argparse.Namespace) -> int:
    from rag.cli import settings_from
    from rag.errors import RagError

    if args.squad and args.beir:
        raise RagError("Give --squad or --beir, not both; run `rag eval` once for each.")
    if args.limit is not None and not args.squad:
        raise RagError("--limit works with --squad only.")
    if args.squad_half is not None and not args.squad:
        raise RagError("--squad-half works with --squad only.")
    if args.beir_split != "test" and not args.beir:
        raise RagError("--beir-split works with --beir only.")
    if args.answer_order and not args.beir:
        raise RagError(
            "--answer-order works with --beir only; with questions the answer's order "
            "is what recall@1 and MRR already count."
        )
    if args.limit is not None and args.limit < 1:
        raise RagError(f"--limit must be at least 1; got {args.limit}.")
    if args.questions and (args.squad or args.beir):
        raise RagError(
            "--questions cannot be combined with --squad or --beir, which bring their own."
        )
    settings = settings_from(args, mode=args.mode, top_k=args.top_k, backend=args.backend)
    if args.beir:
        return _run_beir(args, settings)
    return _run_questions(args, settings)


def _configs(args: argparse.Namespace, settings) -> list:
    """The configurations to run: one, or those named by --compare."""
    from eval.runner import RunConfig
    from rag.backends import backend_names
    from rag.config import RETRIEVAL_MODES
    from rag.errors import RagError

    if args.compare is None:
        return [RunConfig(settings.mode, settings.backend, settings.top_k)]
    if not args.compare:
        # The configured mode first: it is the one the top-level JSON reports.
        modes = [settings.mode] + [m for m in RETRIEVAL_MODES if m != settings.mode]
        return [RunConfig(mode, settings.backend, settings.top_k) for mode in modes]
    backends = backend_names()
    configs = []
    for item in args.compare:
        mode, backend = settings.mode, settings.backend
        if ":" in item:
            mode, _, backend = item.partition(":")
        elif item in RETRIEVAL_MODES:
            mode = item
        else:
            backend = item
        if mode not in RETRIEVAL_MODES:
            raise RagError(
                f"--compare {item!r}: unknown mode {mode!r}; "
                f"modes are {', '.join(RETRIEVAL_MODES)}."
            )
        if backend not in backends:
            raise RagError(
                f"--compare {item!r}: no backend named {backend!r}; "
                f"registered: {', '.join(backends)}."
            )
        config = RunConfig(mode, backend, settings.top_k)
        if config not in configs:
            configs.append(config)
    return configs


def _run_questions(args: argparse.Namespace, settings) -> int:
    from eval.questions import DEFAULT_QUESTIONS, load_questions
    from eval.report import write_qa_reports
    from eval.runner import check_backends, run_questions
    from rag.commands.progress import terminal_progress
    from rag.pipeline import Pipeline

    progress = not args.quiet
    configs = _configs(args, settings)
    if args.out:
        _check_out(args.out)
    notes: list[str] = []
    if args.squad:
        from eval.datasets import cache_key, dataset_settings, ensure_dataset_index, load_squad

        squad = load_squad(args.squad, args.limit, half=args.squad_half)
        questions = squad.questions
        key = cache_key(args.limit, args.squad_half, files=(args.squad,))
        dataset, docs_dir = dataset_settings(settings, f"squad-{key}")
        pipeline = Pipeline(dataset)
        check_backends(pipeline, configs)
        ensure_dataset_index(pipeline, squad.documents, docs_dir, progress=progress)
        title = f"SQuAD {squad.version or ''} {args.squad.name}".replace("  ", " ")
        if args.squad_half:
            title += f", {args.squad_half} half of the articles"
        notes.append(
            f"Corpus: {len(squad.documents):,} paragraphs of {squad.n_articles} articles "
            f"(index {dataset.index_dir}). A retrieval hit is the gold paragraph."
        )
        need_answer = False
    else:
        path = args.questions or DEFAULT_QUESTIONS
        questions = load_questions(path)
        pipeline = Pipeline(settings)
        check_backends(pipeline, configs)
        with terminal_progress(enabled=progress) as bars:
            report = pipeline.ensure_index(on_progress=bars)
        if report is not None:
            print(
                f"Built the index over {settings.seeds_dir}/: {report.summary()}", file=sys.stderr
            )
        indexed = pipeline.index().doc_rows
        missing = sorted({s for q in questions for s in q.sources if s not in indexed})
        if missing:
            print(
                f"warning: {len(missing)} gold source(s) named in {path} are not in the index "
                f"{settings.index_dir}: {', '.join(missing[:5])}; their questions cannot be hit. "
                "Ingest those documents first.",
                file=sys.stderr,
            )
        title = f"Evaluation of {path.name}"
        need_answer = True

    runs = [run_questions(pipeline, questions, config, need_answer, progress) for config in configs]
    for run in runs:
        otherwise = run.answered_otherwise()
        if otherwise:
            others = sorted({r.answered_by for r in run.results} - {run.config.backend, ""})
            note = (
                f"{run.config.label}: {otherwise} of {len(run.results)} answers came from "
                f"{', '.join(others)}, not from {run.config.backend} (it fell back); its "
                "figures are what its users got, not the figures of its own answers. Each "
                "answer's `backend` in --json says which."
            )
            print(f"warning: {note}", file=sys.stderr)
            notes.append(note)
    payload = runs[0].summary()
    if len(runs) > 1:
        payload["runs"] = [
            {
                "label": run.config.label,
                "mode": run.config.mode,
                "backend": run.config.backend,
                "k": run.config.k,
                **run.summary(),
            }
            for run in runs
        ]
    if args.json:
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        _print_table(runs)
    if args.out:
        paths = write_qa_reports(args.out, payload, runs, title, notes)
        print("wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    # Figures of which not one answer is the asked backend's must not pass for its own
    # (a script running `rag eval --backend openai` with the server down gets told).
    unanswered = [(run, why) for run in runs if (why := run.never_answered())]
    for run, why in unanswered:
        print(
            f"error: {run.config.label}: {run.config.backend} gave none of the "
            f"{len(run.results)} answers: {why}. The figures above are not its own; "
            f"`rag ask --backend {run.config.backend} QUESTION` shows why.",
            file=sys.stderr,
        )
    return 1 if unanswered else 0


def _check_out(folder) -> None:
    """Refuse an --out that cannot take the reports, before minutes of questions."""
    import os

    from rag.errors import RagError

    if folder.exists() and not folder.is_dir():
        raise RagError(f"--out {folder} is a file; give a folder (made if missing).")
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise RagError(
            f"--out {folder}: {existing} is not a folder this user can write in; "
            "give another folder."
        )


def _print_table(runs) -> None:
    from eval.report import QA_METRICS

    summaries = [run.summary() for run in runs]
    width = max(12, *(len(run.config.label) for run in runs))
    print(f"{summaries[0]['n']} questions")
    print(f"{'':<22}" + "".join(f"{run.config.label:>{width + 2}}" for run in runs))
    rows = [(label, [s[section][key] for s in summaries]) for label, section, key in QA_METRICS]
    rows += [(f"latency {p} (ms)", [s["latency_ms"][p] for s in summaries]) for p in ("p50", "p95")]
    for label, values in rows:
        cells = "".join(f"{'–' if v is None else f'{v:.3f}':>{width + 2}}" for v in values)
        print(f"{label:<22}{cells}")
    passed = [f"{sum(q['pass'] for q in s['per_question'])}/{s['n']}" for s in summaries]
    print(f"{'passed':<22}" + "".join(f"{p:>{width + 2}}" for p in passed))


def _run_beir(args: argparse.Namespace, settings) -> int:
    from eval.datasets import cache_key, dataset_settings, ensure_dataset_index, load_beir
    from eval.report import write_retrieval_reports
    from eval.runner import run_retrieval
    from rag.config import RETRIEVAL_MODES
    from rag.errors import RagError
    from rag.pipeline import Pipeline

    progress = not args.quiet
    if args.out:
        _check_out(args.out)
    if args.compare and any(":" in item for item in args.compare):
        raise RagError(
            "--beir measures retrieval: --compare takes modes (dense, bm25, hybrid), not "
            "MODE:BACKEND; with --answer-order the backend is the --backend flag."
        )
    if args.backend is not None:
        from rag.backends import backend_names

        if args.backend not in backend_names():
            raise RagError(
                f"No answer backend named {args.backend!r}; registered: "
                f"{', '.join(backend_names())}."
            )
    if args.compare:
        modes = list(dict.fromkeys(item.partition(":")[0] for item in args.compare))
        unknown = [m for m in modes if m not in RETRIEVAL_MODES]
        if unknown:
            raise RagError(
                f"--beir measures retrieval only; --compare takes modes "
                f"({', '.join(RETRIEVAL_MODES)}), not {unknown[0]!r}."
            )
    elif args.mode:
        modes = [args.mode]
    else:
        modes = list(RETRIEVAL_MODES)
    from eval.runner import PASSAGES_PER_DOCUMENT
    from rag.config import MAX_TOP_K

    k = args.top_k or 10
    if k > MAX_TOP_K // PASSAGES_PER_DOCUMENT:
        # Documents are ranked among the top MAX_TOP_K passages: fewer than k of them
        # would be counted as nDCG@k.
        raise RagError(
            f"--k with --beir is the cut of nDCG@k and recall@k, at most "
            f"{MAX_TOP_K // PASSAGES_PER_DOCUMENT} (documents are ranked among the top "
            f"{MAX_TOP_K} passages); got {k}."
        )
    beir = load_beir(args.beir, split=args.beir_split)
    corpus = args.beir / "corpus.jsonl"
    dataset, docs_dir = dataset_settings(settings, f"beir-{cache_key(files=(corpus,))}")
    pipeline = Pipeline(dataset)
    ensure_dataset_index(pipeline, beir.documents, docs_dir, progress=progress)
    orders: list[int | None] = [None]
    if args.answer_order:
        from rag.cli import settings_from

        # --k is the cut of nDCG@k here; the answers read the passages `top_k` configures.
        orders.append(settings_from(args, mode=args.mode, backend=args.backend).top_k)
    runs = [
        run_retrieval(pipeline, beir.queries, beir.qrels, mode, k, progress, answer_k)
        for mode in modes
        for answer_k in orders
    ]
    payload = {
        "dataset": str(args.beir),
        "split": beir.split,
        "n": len(beir.queries),
        "documents": len(beir.documents),
        "modes": {run.label: run.summary() for run in runs},
        "per_query": {run.label: run.per_query for run in runs},
    }
    if args.json:
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        names = [f"ndcg@{k}", f"recall@{k}", f"mrr@{k}"]
        print(f"{payload['n']} queries, {payload['documents']:,} documents ({args.beir})")
        print(
            f"{'mode':<15}" + "".join(f"{n:>12}" for n in names) + f"{'p50 ms':>10}{'p95 ms':>10}"
        )
        for run in runs:
            s = run.summary()
            print(
                f"{run.label:<15}"
                + "".join(f"{s[n]:>12.4f}" for n in names)
                + f"{s['latency_ms']['p50']:>10.1f}{s['latency_ms']['p95']:>10.1f}"
            )
    if args.out:
        title = f"BEIR {args.beir.name} ({beir.split})"
        notes = [
            f"Corpus: {len(beir.documents):,} documents (title + text), index "
            f"{dataset.index_dir}. A document ranks at its best passage."
        ]
        paths = write_retrieval_reports(args.out, payload, runs, title, notes)
        print("wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    return 0
