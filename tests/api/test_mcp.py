"""`rag mcp` driven by the MCP SDK's own client, over stdio, in a subprocess."""

from __future__ import annotations

import json
import shutil
import sys

import anyio
import pytest
from hardening.helpers import cli_env
from seed_facts import FRAMEWORK_DOC, UNDERSTANDING_DOC

from .test_http import OFF_TOPIC, QUESTION

# Wall-clock bound on one whole session: start (the model), every call, the exit.
SESSION_TIMEOUT_S = 240


def run_session(index, tmp_path, steps):
    """Start `rag mcp` on `index`, run `await steps(session)`, return what it returns."""
    from mcp import ClientSession, StdioServerParameters, stdio_client

    env = cli_env(tmp_path)
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "rag", "mcp", "--index", str(index)],
        env=env,
        cwd=str(tmp_path),
    )
    log = tmp_path / "mcp-stderr.log"

    async def session_run():
        with anyio.fail_after(SESSION_TIMEOUT_S), log.open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    return await steps(session)

    return anyio.run(session_run), log.read_text()


@pytest.fixture(scope="module")
def index_copy(seed_pipeline, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mcp") / "index"
    shutil.copytree(seed_pipeline.settings.index_dir, folder)
    return folder


@pytest.mark.slow
def test_an_mcp_client_asks_searches_and_reads_the_documents(index_copy, tmp_path, seed_pipeline):
    async def steps(session):
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        resources = (await session.list_resources()).resources
        templates = (await session.list_resource_templates()).resource_templates
        return {
            "tools": tools,
            "resources": [str(r.uri) for r in resources],
            "templates": [t.uri_template for t in templates],
            "ask": await session.call_tool("ask", {"question": QUESTION}),
            "off_topic": await session.call_tool("ask", {"question": OFF_TOPIC, "k": 3}),
            "search": await session.call_tool("search", {"question": QUESTION, "k": 2}),
            "limited": await session.call_tool(
                "search", {"question": QUESTION, "doc_ids": [UNDERSTANDING_DOC]}
            ),
            "unknown_doc": await session.call_tool(
                "ask", {"question": QUESTION, "doc_ids": ["no-such-doc"]}
            ),
            "empty": await session.call_tool("ask", {"question": "  "}),
            "bad_k": await session.call_tool("search", {"question": QUESTION, "k": 0}),
            "bad_backend": await session.call_tool("ask", {"question": QUESTION, "backend": "x"}),
            "documents": await session.read_resource("rag://documents"),
            "document": await session.read_resource(f"rag://documents/{FRAMEWORK_DOC}"),
        }

    got, stderr = run_session(index_copy, tmp_path, steps)
    assert {"ask", "search"} <= set(got["tools"])
    assert "question" in got["tools"]["ask"].input_schema["properties"]
    assert "rag://documents" in got["resources"]
    assert "rag://documents/{doc_id}" in got["templates"]

    answer = got["ask"].structured_content
    assert not got["ask"].is_error and "2010" in answer["answer"]
    assert answer["abstained"] is False and "passages" not in answer
    citation = answer["citations"][0]
    text = seed_pipeline.index().documents[seed_pipeline.index().doc_rows[citation["doc_id"]]].text
    assert text[citation["start"] : citation["end"]] == citation["quote"]
    # The same answer as text, for clients that read only the content blocks.
    assert json.loads(got["ask"].content[0].text)["answer"] == answer["answer"]

    assert got["off_topic"].structured_content["abstained"] is True
    passages = got["search"].structured_content["passages"]
    assert len(passages) == 2 and passages[0]["doc_id"] == FRAMEWORK_DOC

    limited = got["limited"].structured_content["passages"]
    assert limited and {p["doc_id"] for p in limited} == {UNDERSTANDING_DOC}
    for name, phrase in [
        ("unknown_doc", "Not in the index: 'no-such-doc'"),
        ("empty", "empty"),
        ("bad_k", "between 1 and 100"),
        ("bad_backend", "Registered backends"),
    ]:
        result = got[name]
        assert result.is_error, name
        assert phrase in result.content[0].text, (name, result.content[0].text)
        assert "GET /v1" not in result.content[0].text  # no HTTP route an agent cannot reach
    assert "the rag://documents resource lists" in got["unknown_doc"].content[0].text

    listed = json.loads(got["documents"].contents[0].text)["documents"]
    assert {d["doc_id"] for d in listed} == {FRAMEWORK_DOC, UNDERSTANDING_DOC}
    framework = seed_pipeline.index().documents[seed_pipeline.index().doc_rows[FRAMEWORK_DOC]]
    assert got["document"].contents[0].text == framework.text
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_an_unknown_document_is_a_clear_error(index_copy, tmp_path):
    from mcp import MCPError

    async def steps(session):
        try:
            await session.read_resource("rag://documents/no-such-doc")
        except MCPError as error:
            return str(error)
        return "no error"

    message, _ = run_session(index_copy, tmp_path, steps)
    assert "No document with id 'no-such-doc'" in message
    assert "the rag://documents resource lists the ids" in message


def test_the_service_points_an_agent_to_what_mcp_reaches(seed_pipeline, tmp_path):
    """Over MCP there is no GET /v1/documents, POST /v1/documents or GET /v1/models:
    the same Service's messages name the resource and the commands instead."""
    from rag.api.mcp_server import MCP_NAMES
    from rag.api.service import ApiError, Service
    from rag.pipeline import Pipeline

    def message_of(call) -> str:
        with pytest.raises(ApiError) as raised:
            call()
        assert "/v1/" not in raised.value.message
        return raised.value.message

    agents = Service(seed_pipeline, names=MCP_NAMES)
    assert "(`rag backends` lists them)" in message_of(lambda: agents.check_backend("nope"))
    assert "the rag://documents resource lists the ids" in message_of(
        lambda: agents.document("no-such-doc")
    )
    assert "Not in the index: 'no-such-doc'; the rag://documents resource lists" in message_of(
        lambda: agents.choose_documents(doc_ids=["no-such-doc"])
    )
    settings = seed_pipeline.settings.replace(index_dir=tmp_path / "none", seeds_dir=tmp_path)
    empty = Service(Pipeline(settings, embedder=seed_pipeline.embedder), names=MCP_NAMES)
    assert "Add documents first (run `rag ingest PATH`)" in message_of(
        lambda: empty.search(empty.query(QUESTION))
    )
