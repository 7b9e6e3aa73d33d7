"""The HTTP API of `rag serve`: every endpoint, its bad inputs, the token and the limits."""

from __future__ import annotations

import pytest
from seed_facts import FRAMEWORK_DOC, UNDERSTANDING_DOC

from .conftest import TOKEN

QUESTION = "When was the Bicentennial Framework launched?"
OFF_TOPIC = "What is the boiling point of liquid nitrogen?"
GUARDED = [
    ("GET", "/v1/models", None),
    ("POST", "/v1/ask", {"question": QUESTION}),
    ("POST", "/v1/search", {"question": QUESTION}),
    ("GET", "/v1/documents", None),
    ("GET", f"/v1/documents/{FRAMEWORK_DOC}", None),
    ("POST", "/v1/documents", None),
    ("DELETE", f"/v1/documents/{FRAMEWORK_DOC}", None),
    ("POST", "/v1/chat/completions", {"model": "extractive", "messages": []}),
]


def error_of(response, status: int, code: str) -> str:
    """The error message of a JSON error response with this status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"].strip(), error
    return error["message"]


# -- what works -------------------------------------------------------------------------------
def test_healthz_needs_no_token_and_shows_no_document(token_client):
    response = token_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "index": "ready"}


def test_models_are_the_backends_with_the_default_marked(client):
    data = client.get("/v1/models").json()
    assert data["object"] == "list"
    by_id = {model["id"]: model for model in data["data"]}
    assert {"extractive", "openai"} <= set(by_id)
    assert by_id["extractive"]["available"] is True and by_id["extractive"]["default"] is True
    # openai has no model configured here: listed, with what to do about it.
    assert (
        by_id["openai"]["available"] is False and "[backends.openai]" in by_id["openai"]["reason"]
    )


def test_ask_gives_the_same_object_as_rag_ask_json(client, seed_pipeline):
    response = client.post("/v1/ask", json={"question": QUESTION})
    assert response.status_code == 200
    served = response.json()
    direct = seed_pipeline.ask(QUESTION).to_json()
    served.pop("timings_ms"), direct.pop("timings_ms")
    assert served == direct
    assert served["abstained"] is False and "2010" in served["answer"]
    citation = served["citations"][0]
    text = seed_pipeline.index().documents[seed_pipeline.index().doc_ids.index(citation["doc_id"])]
    assert text.text[citation["start"] : citation["end"]] == citation["quote"]


def test_ask_abstains_when_the_documents_do_not_say(client):
    answer = client.post("/v1/ask", json={"question": OFF_TOPIC}).json()
    assert answer["abstained"] is True and answer["citations"] == []
    assert answer["answer"].startswith("The documents do not say")


def test_ask_takes_the_choices_and_the_history(client):
    answer = client.post(
        "/v1/ask",
        json={
            "question": "When was it launched?",
            "history": [{"question": "What is the Bicentennial Framework?"}],
            "mode": "bm25",
            "k": 3,
            "backend": "extractive",
        },
    ).json()
    assert answer["mode"] == "bm25" and len(answer["passages"]) <= 3
    assert "2010" in answer["answer"]


def test_search_gives_passages_only(client):
    data = client.post("/v1/search", json={"question": QUESTION, "k": 2, "mode": "dense"}).json()
    assert data["mode"] == "dense" and len(data["passages"]) == 2
    assert "answer" not in data
    assert data["passages"][0]["doc_id"] == FRAMEWORK_DOC
    assert {"start", "end", "text", "score", "rank"} <= set(data["passages"][0])


def test_the_search_can_be_limited_to_some_documents(client):
    only = {"question": QUESTION, "doc_ids": [UNDERSTANDING_DOC], "k": 3}
    passages = client.post("/v1/search", json=only).json()["passages"]
    assert passages and {p["doc_id"] for p in passages} == {UNDERSTANDING_DOC}
    answer = client.post("/v1/ask", json=only).json()
    assert all(c["doc_id"] == UNDERSTANDING_DOC for c in answer["citations"])
    assert "2010" not in answer["answer"]  # the fact is in the other document


def test_the_search_can_be_limited_by_folder_and_type_as_rag_ask_does(client):
    from seed_facts import SEEDS

    everything = client.post("/v1/search", json={"question": QUESTION, "k": 4}).json()
    by_folder = {"question": QUESTION, "k": 4, "folders": [str(SEEDS)], "types": ["TXT"]}
    assert client.post("/v1/search", json=by_folder).json() == everything
    # The kinds combine: a document must match each.
    narrowed = {**by_folder, "doc_ids": [UNDERSTANDING_DOC]}
    passages = client.post("/v1/search", json=narrowed).json()["passages"]
    assert passages and {p["doc_id"] for p in passages} == {UNDERSTANDING_DOC}
    message = error_of(
        client.post("/v1/ask", json={**by_folder, "types": ["md"]}), 404, "no_matching_documents"
    )
    assert message == (
        f"No indexed document matches folders {SEEDS}, types md; "
        "GET /v1/documents lists what is indexed."
    )


def test_documents_are_listed(client):
    documents = client.get("/v1/documents").json()["documents"]
    assert {d["doc_id"] for d in documents} == {FRAMEWORK_DOC, UNDERSTANDING_DOC}
    assert all(d["chunks"] > 0 and d["characters"] > 0 for d in documents)


def test_one_document_has_the_text_the_offsets_count_in(client):
    citation = client.post("/v1/ask", json={"question": QUESTION}).json()["citations"][0]
    document = client.get(f"/v1/documents/{citation['doc_id']}").json()
    assert document["text"][citation["start"] : citation["end"]] == citation["quote"]
    assert "GET /v1/documents" in error_of(
        client.get("/v1/documents/nope"), 404, "document_not_found"
    )


def test_the_api_page_works_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "cdn." not in page.text  # its script and styles come from this server
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    schema = client.get("/openapi.json").json()
    assert {"/v1/ask", "/v1/chat/completions", "/v1/documents"} <= set(schema["paths"])


# -- bad inputs -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body, status, code, phrase",
    [
        ({"question": ""}, 422, "invalid_request", "empty"),
        ({"question": "   \n\t "}, 422, "invalid_request", "empty"),
        ({"question": "?!"}, 422, "invalid_request", "no words"),
        ({"question": "why " * 600}, 422, "invalid_request", "limit is 2,000"),
        ({"question": 42}, 422, "invalid_request", "'question'"),
        ({"question": None}, 422, "invalid_request", "'question'"),
        ({}, 422, "invalid_request", "'question' is required"),
        ({"questoin": QUESTION}, 422, "invalid_request", "'questoin' is not a field"),
        ({"question": QUESTION, "k": 0}, 422, "invalid_request", "'k'"),
        ({"question": QUESTION, "k": 101}, 422, "invalid_request", "'k'"),
        ({"question": QUESTION, "k": "5"}, 422, "invalid_request", "'k'"),
        ({"question": QUESTION, "k": True}, 422, "invalid_request", "'k'"),
        ({"question": QUESTION, "mode": "fuzzy"}, 422, "invalid_request", "'mode'"),
        ({"question": QUESTION, "backend": "gpt-9"}, 400, "unknown_backend", "extractive"),
        ({"question": QUESTION, "backend": 3}, 422, "invalid_request", "'backend'"),
        ({"question": QUESTION, "history": "earlier"}, 422, "invalid_request", "'history'"),
        ({"question": QUESTION, "history": [{"q": 1}]}, 422, "invalid_request", "history.0"),
        (
            {"question": QUESTION, "history": [{"question": "q"}] * 51},
            422,
            "history_too_long",
            "at most 50",
        ),
        ([QUESTION], 422, "invalid_request", "dictionary"),
        ({"question": QUESTION, "doc_ids": []}, 422, "no_documents", "leave it out"),
        ({"question": QUESTION, "doc_ids": "x"}, 422, "invalid_request", "'doc_ids'"),
        ({"question": QUESTION, "doc_ids": [1]}, 422, "invalid_request", "'doc_ids.0'"),
        ({"question": QUESTION, "doc_ids": ["nope"]}, 404, "document_not_found", "'nope'"),
        ({"question": QUESTION, "types": []}, 422, "no_documents", "types is empty"),
        ({"question": QUESTION, "types": ["exe"]}, 422, "unknown_type", "'exe'; the types read"),
        ({"question": QUESTION, "types": "pdf"}, 422, "invalid_request", "'types'"),
        ({"question": QUESTION, "folders": []}, 422, "no_documents", "folders is empty"),
        ({"question": QUESTION, "folders": [7]}, 422, "invalid_request", "'folders.0'"),
        ({"question": QUESTION, "folders": ["a\x00b"]}, 422, "invalid_folder", "null byte"),
        (
            {"question": QUESTION, "folders": ["/nowhere/at/all"]},
            404,
            "no_matching_documents",
            "No indexed document matches folders /nowhere/at/all; GET /v1/documents",
        ),
        (
            {"question": QUESTION, "types": ["pdf"]},
            404,
            "no_matching_documents",
            "matches types pdf;",
        ),
    ],
)
def test_ask_refuses_bad_bodies_with_json_errors(client, body, status, code, phrase):
    message = error_of(client.post("/v1/ask", json=body), status, code)
    assert phrase in message


@pytest.mark.parametrize("path", ["/v1/ask", "/v1/search", "/v1/chat/completions"])
def test_a_body_that_is_not_json_is_refused(client, path):
    headers = {"content-type": "application/json"}
    message = error_of(
        client.post(path, content=b"{question:", headers=headers), 400, "invalid_json"
    )
    assert "not valid JSON" in message
    message = error_of(client.post(path, content=b"question=x"), 400, "invalid_json")
    assert "application/json" in message
    error_of(client.post(path), 400, "missing_body")


def test_search_refuses_what_ask_refuses(client):
    error_of(client.post("/v1/search", json={"question": ""}), 422, "invalid_request")
    error_of(
        client.post("/v1/search", json={"question": QUESTION, "k": -1}), 422, "invalid_request"
    )
    # An answer backend means nothing to a search: named, not silently ignored.
    message = error_of(
        client.post("/v1/search", json={"question": QUESTION, "backend": "extractive"}),
        422,
        "invalid_request",
    )
    assert "'backend' is not a field" in message


def test_oversized_bodies_are_refused_declared_or_chunked(client):
    huge = b'{"question": "' + b"x" * (2 << 20) + b'"}'
    headers = {"content-type": "application/json"}
    message = error_of(
        client.post("/v1/ask", content=huge, headers=headers), 413, "request_too_large"
    )
    assert "1 MiB" in message

    def chunks():  # no Content-Length: the size is known only by reading
        for start in range(0, len(huge), 64 * 1024):
            yield huge[start : start + 64 * 1024]

    error_of(client.post("/v1/ask", content=chunks(), headers=headers), 413, "request_too_large")


def test_unknown_paths_and_methods_answer_in_json(client):
    assert "/docs" in error_of(client.get("/v1/nothing"), 404, "not_found")
    assert "GET is not allowed" in error_of(client.get("/v1/ask"), 405, "method_not_allowed")


# -- the token --------------------------------------------------------------------------------
@pytest.mark.parametrize("method, path, body", GUARDED)
def test_every_v1_endpoint_needs_the_token(token_client, method, path, body):
    response = token_client.request(method, path, json=body)
    assert "RAG_API_TOKEN" in error_of(response, 401, "missing_token")
    assert response.headers["www-authenticate"] == "Bearer"
    for wrong in ("Bearer not-the-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "):
        response = token_client.request(method, path, json=body, headers={"Authorization": wrong})
        assert response.status_code == 401, (wrong, response.text)


def test_an_upload_without_the_token_is_refused_before_its_body_is_read(token_client):
    read = []

    def body():  # a client sending 8 MiB; only the first piece may ever be taken
        for _ in range(128):
            read.append(1)
            yield b"x" * 65536

    response = token_client.post(
        "/v1/documents",
        content=body(),
        headers={"Content-Type": "multipart/form-data; boundary=b", "Authorization": "Bearer no"},
    )
    assert "not the one set" in error_of(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == "Bearer"
    assert len(read) <= 2


def test_the_right_token_is_let_in(token_client):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = token_client.post("/v1/ask", json={"question": QUESTION}, headers=headers)
    assert response.status_code == 200 and "2010" in response.json()["answer"]


# -- documents --------------------------------------------------------------------------------
FACT = "The Lunar Archive of Qorvath opened its doors on 14 March 2031.\n"


def test_an_uploaded_file_is_indexed_and_can_be_removed(scratch_client, tmp_path):
    response = scratch_client.post(
        "/v1/documents", files=[("files", ("qorvath.txt", FACT.encode(), "text/plain"))]
    )
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["added"] == ["qorvath"] and report["documents"] == 3
    answer = scratch_client.post(
        "/v1/ask", json={"question": "When did the Lunar Archive of Qorvath open?"}
    ).json()
    assert "14 March 2031" in answer["answer"]
    assert answer["citations"][0]["doc_id"] == "qorvath"
    # The same file again changes nothing; our upload folder is left empty.
    again = scratch_client.post("/v1/documents", files=[("files", ("qorvath.txt", FACT.encode()))])
    assert again.json()["unchanged"] == ["qorvath"]
    assert list((tmp_path / "uploads").iterdir()) == []

    removed = scratch_client.delete("/v1/documents/qorvath")
    assert removed.status_code == 200 and removed.json()["removed"] == ["qorvath"]
    assert removed.json()["notices"] == []
    ids = {d["doc_id"] for d in scratch_client.get("/v1/documents").json()["documents"]}
    assert "qorvath" not in ids
    assert "GET /v1/documents" in error_of(
        scratch_client.delete("/v1/documents/qorvath"), 404, "document_not_found"
    )


def test_deleting_the_last_document_is_a_refusal_the_client_can_act_on(scratch_client):
    first, last = (d["doc_id"] for d in scratch_client.get("/v1/documents").json()["documents"])
    assert scratch_client.delete(f"/v1/documents/{first}").status_code == 200
    message = error_of(scratch_client.delete(f"/v1/documents/{last}"), 409, "last_document")
    assert "Add another document first (POST files to /v1/documents" in message
    assert [d["doc_id"] for d in scratch_client.get("/v1/documents").json()["documents"]] == [last]


def test_an_upload_cannot_write_outside_our_folder(scratch_client, tmp_path):
    for name in ("../../escaped.txt", "..\\..\\escaped.txt", "/etc/escaped.txt"):
        response = scratch_client.post("/v1/documents", files=[("files", (name, FACT.encode()))])
        assert response.status_code == 201, (name, response.text)
        report = response.json()
        assert report["added"] + report["updated"] + report["unchanged"] == ["escaped"]
    assert not list(tmp_path.parent.rglob("escaped.txt"))


@pytest.mark.parametrize(
    "files, status, code, phrase",
    [
        ([("files", ("run.exe", b"MZ\x90\x00"))], 415, "unsupported_file_type", ".pdf"),
        ([("files", ("notes", b"no suffix"))], 415, "unsupported_file_type", "(none)"),
        ([("files", (".hidden.txt", FACT.encode()))], 400, "invalid_file_name", "leading dot"),
        (
            [("files", ("a.txt", FACT.encode())), ("files", ("a.txt", b"x"))],
            400,
            "duplicate_file_name",
            "'a.txt'",
        ),
        ([("files", ("empty.txt", b""))], 422, "unreadable_files", "empty.txt"),
        (
            [("files", ("image.txt", b"\x89PNG\x00\x00\x00binary"))],
            422,
            "unreadable_files",
            "binary",
        ),
        (
            [("files", (f"f{n}.txt", FACT.encode())) for n in range(4)],
            413,
            "too_many_files",
            "at most 3",
        ),
        ([("files", ("big.txt", b"word " * 60_000))], 413, "request_too_large", "256 KiB"),
    ],
)
def test_bad_uploads_are_refused_and_the_index_kept(scratch_client, files, status, code, phrase):
    before = scratch_client.get("/v1/documents").json()
    message = error_of(scratch_client.post("/v1/documents", files=files), status, code)
    assert phrase in message
    assert "/tmp" not in message and "upload-" not in message  # our folder is not shown
    assert scratch_client.get("/v1/documents").json() == before


def test_an_upload_without_files_is_refused(scratch_client):
    error_of(scratch_client.post("/v1/documents"), 422, "invalid_request")
    error_of(scratch_client.post("/v1/documents", data={"other": "x"}), 422, "invalid_request")


def test_a_partly_readable_upload_adds_what_it_can(scratch_client):
    files = [("files", ("good.md", FACT.encode())), ("files", ("bad.txt", b""))]
    report = scratch_client.post("/v1/documents", files=files).json()
    assert report["added"] == ["good"]
    assert len(report["skipped"]) == 1 and report["skipped"][0].startswith("bad.txt")


# -- no index yet -----------------------------------------------------------------------------
def test_a_server_with_no_index_says_how_to_start_one(seed_pipeline, tmp_path):
    from fastapi.testclient import TestClient

    from rag.api.http import create_app
    from rag.api.service import Service
    from rag.pipeline import Pipeline

    settings = seed_pipeline.settings.replace(index_dir=tmp_path / "none", seeds_dir=tmp_path)
    service = Service(Pipeline(settings, embedder=seed_pipeline.embedder))
    with TestClient(create_app(service)) as empty:
        assert empty.get("/healthz").json()["index"] == "empty"
        assert empty.get("/v1/documents").json() == {"documents": []}
        message = error_of(empty.post("/v1/ask", json={"question": QUESTION}), 409, "no_index")
        assert "POST files to /v1/documents" in message
        error_of(empty.post("/v1/search", json={"question": QUESTION}), 409, "no_index")
        error_of(empty.delete("/v1/documents/x"), 404, "document_not_found")
        error_of(
            empty.post("/v1/documents", files=[("files", ("e.txt", b" "))]),
            422,
            "unreadable_files",
        )
        added = empty.post("/v1/documents", files=[("files", ("q.txt", FACT.encode()))])
        assert added.status_code == 201 and added.json()["documents"] == 1
        answer = empty.post("/v1/ask", json={"question": "When did the Lunar Archive open?"})
        assert "2031" in answer.json()["answer"]
    service.close()
