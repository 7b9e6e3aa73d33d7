"""Outside benchmarks: SQuAD JSON files and BEIR folders, turned into questions and an index.

Each dataset gets its own index folder beside the configured one
(`.rag/eval-squad-<hash>/`, `.rag/eval-beir-<hash>/`), built once and reused:
its documents are written as Markdown files (`# title`, blank line, text) under
`docs/` and ingested through `Pipeline.ingest`, the same path as `rag ingest`.
The hash covers the dataset file, the question limit and this module's layout
version, so a changed file or limit gets a fresh folder.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.questions import Question
from rag.config import Settings
from rag.errors import IndexMismatchError, IndexMissingError, RagError

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

# Bump when the written documents change shape, so old caches are not reused.
LAYOUT_VERSION = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class DatasetError(RagError):
    """A dataset file or folder that cannot be read; the message names it and what is wrong."""


@dataclass(frozen=True)
class CorpusDocument:
    doc_id: str
    title: str
    text: str


@dataclass(frozen=True)
class SquadSet:
    """SQuAD questions (gold source = paragraph id) and the paragraphs to index."""

    questions: list[Question]
    documents: list[CorpusDocument]
    version: str
    n_articles: int


@dataclass(frozen=True)
class BeirSet:
    """BEIR queries with their graded relevant documents, and the corpus."""

    queries: list[tuple[str, str]]
    qrels: dict[str, dict[str, int]]
    documents: list[CorpusDocument]
    split: str


def safe_id(raw: str) -> str:
    """A document id usable as a file name (`rag` takes ids from file names)."""
    cleaned = _UNSAFE.sub("_", str(raw))
    return cleaned if cleaned and not cleaned.startswith(".") else f"d{cleaned}"


# -- SQuAD ------------------------------------------------------------------------------------------


def squad_v2_half(article_index: int) -> str:
    """Which half of SQuAD 2.0 dev an article (by its position in the file) belongs to.

    "fit": the reader trains and its abstention threshold is fitted on these articles
    (even positions); "report": every figure we publish comes from these (odd positions).
    Alternating keeps both halves spread over the file's topics.
    """
    return "fit" if article_index % 2 == 0 else "report"


def squad_v2_fit_part(article_index: int) -> str:
    """Within the fit half: "train" (the reader learns there) or "calibrate" (its threshold).

    A third of the fit articles (positions 4, 10, 16, 22, 28, 34) are kept from the
    reader's training, so its threshold is fitted on questions it has never seen.
    """
    if squad_v2_half(article_index) != "fit":
        raise ValueError(f"article {article_index} is in the report half")
    return "calibrate" if (article_index // 2) % 3 == 2 else "train"


def _squad_field(value: Any, kind: type, where: str, what: str) -> Any:
    """`value` if it is a `kind`, else a DatasetError naming where in the file it is."""
    if not isinstance(value, kind):
        raise DatasetError(f"{where} must be {what}, not {type(value).__name__}.")
    return value


def _answer_texts(answers: Any, where: str) -> list[str]:
    """A question's distinct answer texts: SQuAD's {"text": ...} objects, or plain strings."""
    texts = []
    for n, answer in enumerate(_squad_field(answers, list, f"{where} 'answers'", "a list")):
        text = answer.get("text") if isinstance(answer, dict) else answer
        if not isinstance(text, str):
            raise DatasetError(f"{where} answer {n} must have a 'text', not {answer!r}.")
        if text.strip():
            texts.append(text)
    return list(dict.fromkeys(texts))


def load_squad(path: Path, limit: int | None = None, half: str | None = None) -> SquadSet:
    """Questions and paragraphs of a SQuAD v1.1/v2.0 JSON file.

    With `limit`, `limit` questions are taken evenly spread over the file (a
    fixed stride, so every run picks the same ones and every article is
    represented), and every paragraph of their articles is indexed: the other
    paragraphs of the same article are the hardest distractors there are. With
    `half` ("fit" or "report"), only that half's articles (see `squad_v2_half`).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"SQuAD file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetError(f"SQuAD file {path} is not readable JSON: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DatasetError(
            f"SQuAD file {path} has no top-level 'data' list; is it a SQuAD JSON file?"
        )

    all_questions: list[tuple[int, Question]] = []
    paragraphs: dict[int, list[CorpusDocument]] = {}
    seen_ids: set[str] = set()
    for a, article in enumerate(data["data"]):
        if half is not None and squad_v2_half(a) != half:
            continue
        where = f"SQuAD file {path}: article {a}"
        article = _squad_field(article, dict, where, "an object")
        title = str(article.get("title", f"article {a}")).replace("_", " ")
        paragraphs[a] = []
        for p, paragraph in enumerate(
            _squad_field(article.get("paragraphs", []), list, f"{where} 'paragraphs'", "a list")
        ):
            at = f"{where} paragraph {p}"
            paragraph = _squad_field(paragraph, dict, at, "an object")
            if "context" not in paragraph:
                raise DatasetError(f"{at} has no 'context'.")
            context = _squad_field(paragraph["context"], str, f"{at} 'context'", "text")
            doc_id = f"squad-{a:03d}-{p:03d}"
            paragraphs[a].append(CorpusDocument(doc_id, title, context))
            qas = _squad_field(paragraph.get("qas", []), list, f"{at} 'qas'", "a list")
            for q, qa in enumerate(qas):
                asked = f"{at} question {q}"
                qa = _squad_field(qa, dict, asked, "an object")
                question = _squad_field(qa.get("question"), str, f"{asked} 'question'", "text")
                texts = _answer_texts(qa.get("answers", []), asked)
                impossible = bool(qa.get("is_impossible"))
                if not impossible and not texts:
                    raise DatasetError(
                        f"{asked} has no answer text; give its answers, or mark it "
                        '"is_impossible": true if the paragraph does not answer it.'
                    )
                question_id = str(qa.get("id", f"{doc_id}-q{q}"))
                if question_id in seen_ids:
                    raise DatasetError(f"{asked}: the id {question_id!r} is used twice.")
                seen_ids.add(question_id)
                all_questions.append(
                    (
                        a,
                        Question(
                            id=question_id,
                            question=question,
                            answers=() if impossible else tuple(texts),
                            sources=() if impossible else (doc_id,),
                        ),
                    )
                )
    if not all_questions:
        raise DatasetError(f"SQuAD file {path} holds no questions.")
    chosen = all_questions
    if limit is not None and limit < len(all_questions):
        stride = len(all_questions) / limit
        chosen = [all_questions[int(i * stride)] for i in range(limit)]
    articles = sorted({a for a, _ in chosen})
    documents = [document for a in articles for document in paragraphs[a]]
    return SquadSet(
        questions=[q for _, q in chosen],
        documents=documents,
        version=str(data.get("version", "")),
        n_articles=len(articles),
    )


# -- BEIR -------------------------------------------------------------------------------------------


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise DatasetError(f"BEIR folder is missing {path}.")
    records = []
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise DatasetError(
                    f"{path} line {number}: not UTF-8 text (byte {error.start + 1})."
                ) from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DatasetError(f"{path} line {number}: not valid JSON ({error.msg}).") from None
            if not isinstance(record, dict):
                raise DatasetError(f"{path} line {number}: must be a JSON object.")
            if "_id" not in record:
                raise DatasetError(f"{path} line {number}: field '_id' is missing.")
            records.append(record)
    return records


def load_beir(folder: Path, split: str = "test") -> BeirSet:
    """A BEIR folder: corpus.jsonl, queries.jsonl and qrels/<split>.tsv."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"BEIR folder {folder} does not exist.")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        splits = sorted(path.stem for path in (folder / "qrels").glob("*.tsv"))
        choose = f"; it has {', '.join(splits)} (--beir-split NAME)" if splits else ""
        raise DatasetError(f"BEIR folder {folder} has no qrels/{split}.tsv{choose}.")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8", newline="") as rows:
        reader = csv.reader(rows, delimiter="\t")
        for number, row in enumerate(reader, start=1):
            if number == 1 and row and row[0] == "query-id":
                continue
            if len(row) < 3:
                raise DatasetError(
                    f"{qrels_path} line {number}: expected query-id, corpus-id, score."
                )
            try:
                grade = int(row[2])
            except ValueError:
                raise DatasetError(
                    f"{qrels_path} line {number}: score {row[2]!r} is not a whole number."
                ) from None
            qrels.setdefault(row[0], {})[safe_id(row[1])] = grade
    queries = [
        (str(r["_id"]), str(r.get("text", "")))
        for r in _read_jsonl(folder / "queries.jsonl")
        if str(r["_id"]) in qrels
    ]
    documents = [
        CorpusDocument(safe_id(r["_id"]), str(r.get("title") or ""), str(r.get("text") or ""))
        for r in _read_jsonl(folder / "corpus.jsonl")
    ]
    if not queries:
        raise DatasetError(
            f"No query in {folder}/queries.jsonl has judgements in qrels/{split}.tsv."
        )
    return BeirSet(queries, {q: qrels[q] for q, _ in queries}, documents, split)


# -- the index --------------------------------------------------------------------------------------


def cache_key(*parts: object, files: tuple[Path, ...] = ()) -> str:
    """A short hash of the dataset files' bytes and `parts`."""
    digest = hashlib.sha256(f"layout {LAYOUT_VERSION}".encode())
    for path in files:
        with open(path, "rb") as data:
            for block in iter(lambda: data.read(1 << 20), b""):
                digest.update(block)
    for part in parts:
        digest.update(b"\x00" + repr(part).encode())
    return digest.hexdigest()[:12]


def document_markdown(document: CorpusDocument) -> str:
    title = re.sub(r"\s+", " ", document.title).strip()
    return f"# {title}\n\n{document.text.strip()}\n" if title else f"{document.text.strip()}\n"


def dataset_settings(settings: Settings, name: str) -> tuple[Settings, Path]:
    """Settings whose index is the dataset's own folder, and the folder for its documents."""
    base = Path(settings.index_dir).parent / f"eval-{name}"
    return settings.replace(index_dir=base / "index"), base / "docs"


def ensure_dataset_index(
    pipeline: Pipeline, documents: list[CorpusDocument], docs_dir: Path, progress: bool = True
) -> None:
    """Build the pipeline's index over `documents` unless it already holds exactly them."""
    wanted = {d.doc_id for d in documents}
    if len(wanted) != len(documents):
        raise DatasetError("The dataset has two documents with the same id; ids must be unique.")
    try:
        indexed = {d.doc_id for d in pipeline.index().documents}
        if indexed and indexed <= wanted:
            # Documents with the very same text as another are skipped by ingest, by design.
            return
    except (IndexMissingError, IndexMismatchError):
        pass
    docs_dir.mkdir(parents=True, exist_ok=True)
    for document in documents:
        target = docs_dir / f"{document.doc_id}.md"
        content = document_markdown(document)
        if not target.is_file() or target.read_text(encoding="utf-8") != content:
            target.write_text(content, encoding="utf-8")
    if progress:
        print(
            f"Indexing {len(documents):,} dataset documents into {pipeline.settings.index_dir} "
            "(once; later runs reuse it)",
            file=sys.stderr,
        )
    from rag.commands.progress import terminal_progress

    with terminal_progress(enabled=progress) as bars:
        report = pipeline.ingest([docs_dir], rebuild=True, on_progress=bars, lock_timeout=600)
    if progress:
        print(report.summary(), file=sys.stderr)
