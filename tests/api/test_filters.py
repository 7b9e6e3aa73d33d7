"""Folder and type filters through every front door but the CLI: a real `rag serve` on
127.0.0.1, `rag mcp` over stdio, and the same service on Milvus Lite.

The index holds the seed texts in one folder and two memos (.md, .html) in another, so a
filter that ran after the search (keeping what the top k happened to hold) would come back
short; inside the search, all k passages are from the chosen documents.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from chat_server import rag_serve
from seed_facts import FRAMEWORK_DOC, SEEDS

from .test_http import QUESTION
from .test_mcp import run_session

MEMO_QUESTION = "When did the Quillon ferry first sail?"
MEMOS = {
    "ferry.md": "# Ferry memo\n\nThe Quillon ferry first sailed on 4 May 1921 from Port Avel.\n",
    "harbour.html": (
        "<html><head><title>Harbour note</title></head>"
        "<body><p>The harbour at Port Avel was dredged in 1930.</p></body></html>"
    ),
}
SERVER_START_TIMEOUT_S = 240


@dataclass(frozen=True)
class MixedIndex:
    index: Path
    memos: Path


@pytest.fixture(scope="module")
def mixed(seed_pipeline, tmp_path_factory) -> MixedIndex:
    """An index over the seed texts (seeds/) and the memos (memos/), built in-process."""
    from rag.pipeline import Pipeline

    root = tmp_path_factory.mktemp("mixed")
    shutil.copytree(SEEDS, root / "corpus" / "seeds")
    memos = root / "corpus" / "memos"
    memos.mkdir()
    for name, text in MEMOS.items():
        (memos / name).write_text(text, encoding="utf-8")
    settings = seed_pipeline.settings.replace(index_dir=root / "index")
    Pipeline(settings, embedder=seed_pipeline.embedder).ingest([root / "corpus"])
    return MixedIndex(root / "index", memos)


def doc_ids(passages: list[dict]) -> set[str]:
    return {passage["doc_id"] for passage in passages}


@pytest.fixture(scope="module")
def server(mixed, tmp_path_factory):
    """`rag serve` on the mixed index, on a free port of 127.0.0.1."""
    folder = tmp_path_factory.mktemp("filters-serve")
    with rag_serve(mixed.index, folder, SERVER_START_TIMEOUT_S) as served:
        yield served


@pytest.mark.slow
def test_folder_and_type_filters_over_real_http(server, mixed):
    import httpx
    import openai

    url, log = server
    with httpx.Client(base_url=url, timeout=120) as http:

        def post(path: str, **body):
            return http.post(path, json={"question": QUESTION, **body})

        assert post("/v1/search", k=2).json()["passages"][0]["doc_id"] == FRAMEWORK_DOC
        # The framework question, searched only among the memos: k passages, all memos.
        by_folder = post("/v1/search", k=2, folders=[str(mixed.memos)]).json()["passages"]
        assert len(by_folder) == 2 and doc_ids(by_folder) == {"ferry", "harbour"}
        by_type = post("/v1/search", k=2, types=["md"]).json()["passages"]
        assert [p["doc_id"] for p in by_type] == ["ferry"]  # one chunk is all it has
        both = post("/v1/search", k=2, folders=[str(mixed.memos)], types=["html"]).json()
        assert doc_ids(both["passages"]) == {"harbour"}

        answer = post("/v1/ask", question=MEMO_QUESTION, types=["md"]).json()
        assert "1921" in answer["answer"] and answer["citations"]
        assert {c["doc_id"] for c in answer["citations"]} == {"ferry"}
        assert post("/v1/ask", types=["md"]).json()["abstained"] is True

        unknown = post("/v1/ask", types=["exe"])
        assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_type"
        assert "'exe'; the types read are" in unknown.json()["error"]["message"]
        nowhere = post("/v1/search", folders=[str(mixed.memos / "nowhere")])
        assert nowhere.status_code == 404
        assert nowhere.json()["error"] == {
            "message": f"No indexed document matches folders {mixed.memos / 'nowhere'}; "
            "GET /v1/documents lists what is indexed.",
            "type": "invalid_request_error",
            "code": "no_matching_documents",
            "param": None,
        }

    # OpenAI's client sends our fields in its extra body; the same filter applies.
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120)
    completion = client.chat.completions.create(
        model="extractive",
        messages=[{"role": "user", "content": MEMO_QUESTION}],
        extra_body={"folders": [str(mixed.memos)], "types": ["md"]},
    )
    assert "1921" in completion.choices[0].message.content
    assert {c["doc_id"] for c in completion.model_extra["citations"]} == {"ferry"}
    with pytest.raises(openai.NotFoundError, match="No indexed document matches types pdf"):
        client.chat.completions.create(
            model="extractive",
            messages=[{"role": "user", "content": MEMO_QUESTION}],
            extra_body={"types": ["pdf"]},
        )
    assert "Traceback" not in log.read_text()


@pytest.mark.slow
def test_folder_and_type_filters_over_mcp(mixed, tmp_path):
    memos = str(mixed.memos)

    async def steps(session):
        return {
            "by_folder": await session.call_tool(
                "search", {"question": QUESTION, "k": 2, "folders": [memos]}
            ),
            "by_type": await session.call_tool("ask", {"question": MEMO_QUESTION, "types": ["md"]}),
            "unknown_type": await session.call_tool(
                "search", {"question": QUESTION, "types": ["exe"]}
            ),
            "no_match": await session.call_tool(
                "ask", {"question": QUESTION, "folders": [memos], "types": ["txt"]}
            ),
        }

    got, stderr = run_session(mixed.index, tmp_path, steps)
    passages = got["by_folder"].structured_content["passages"]
    assert len(passages) == 2 and doc_ids(passages) == {"ferry", "harbour"}
    answer = got["by_type"].structured_content
    assert "1921" in answer["answer"]
    assert {c["doc_id"] for c in answer["citations"]} == {"ferry"}
    assert got["unknown_type"].is_error
    assert "Unknown document type 'exe'" in got["unknown_type"].content[0].text
    assert got["no_match"].is_error
    assert f"No indexed document matches folders {memos}, types txt" in (
        got["no_match"].content[0].text
    )
    assert "Traceback" not in stderr


@pytest.mark.slow
@pytest.mark.milvus
def test_folder_and_type_filters_run_inside_milvus(mixed, seed_pipeline, tmp_path):
    pytest.importorskip("milvus_lite")
    from rag.api.service import Service
    from rag.pipeline import Pipeline

    shutil.copytree(mixed.index, tmp_path / "index")
    settings = seed_pipeline.settings.replace(index_dir=tmp_path / "index", vector_store="milvus")
    pipeline = Pipeline(settings, embedder=seed_pipeline.embedder)
    assert pipeline.move_vectors().n_embedded == 0
    service = Service(pipeline)
    for mode in ("dense", "bm25", "hybrid"):
        everything = service.search(service.query(QUESTION, mode, 2))
        assert everything.passages[0].citation.doc_id == FRAMEWORK_DOC
        memos = service.search(service.query(QUESTION, mode, 2, folders=[str(mixed.memos)]))
        assert {p.citation.doc_id for p in memos.passages} == {"ferry", "harbour"}, mode
        markdown = service.search(service.query(QUESTION, mode, 2, types=["md"]))
        assert [p.citation.doc_id for p in markdown.passages] == ["ferry"], mode
