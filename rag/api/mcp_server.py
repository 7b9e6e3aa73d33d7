"""The MCP server of `rag mcp`: tools `ask` and `search`, the documents as resources.

Built with the official `mcp` SDK (its `MCPServer`), over stdio, so an agent
(Claude Desktop, an IDE, any MCP client) starts it as a subprocess and asks
the user's documents. Requests go through the same `Service` as the HTTP API:
the same checks, the same messages.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from rag.api.service import ApiError, ProtocolNames, Service
from rag.selection import ChoiceNames
from rag.types import Answer

DOCUMENTS_URI = "rag://documents"
DOCUMENT_URI = "rag://documents/{doc_id}"
INSTRUCTIONS = """\
Answers questions from the user's own indexed documents. `ask` gives an answer whose every \
claim is quoted word for word from a document, with citations (document id, character \
offsets, the exact quote), or says plainly that the documents do not say. `search` gives the \
matching passages without an answer. The resource rag://documents lists the documents; \
rag://documents/{doc_id} is one document's full text."""


# What the Service's messages point an agent to: what it can reach over MCP.
MCP_NAMES = ProtocolNames(
    ChoiceNames("doc_ids", "folders", "types", f"the {DOCUMENTS_URI} resource"),
    backends="`rag backends`",
    adding="run `rag ingest PATH`",
)


def answer_json(answer: Answer) -> dict[str, Any]:
    """What the `ask` tool returns: the answer and its citations, without the passages."""
    data = answer.to_json()
    for bulky in ("passages", "timings_ms"):
        data.pop(bulky)
    return data


def build_server(service: Service):
    """An MCPServer with the tools and resources over `service` (built with `MCP_NAMES`)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError

    server = MCPServer(name="rag", instructions=INSTRUCTIONS, version="1")

    @server.tool()
    def ask(
        question: str,
        mode: Literal["dense", "bm25", "hybrid"] | None = None,
        k: int | None = None,
        backend: str | None = None,
        doc_ids: list[str] | None = None,
        folders: list[str] | None = None,
        types: list[str] | None = None,
    ) -> dict[str, Any]:
        """Answer a question from the indexed documents, quoting them word for word.

        Returns `answer` (with [n] markers), `abstained` (true when the documents do not
        hold the answer), and `citations`: for each n, the document id, title, page,
        character offsets and the exact quote. `mode` and `k` choose the retrieval,
        `backend` the answer backend (default: the configured one). To search only some
        documents (default: all; see the rag://documents resource): `doc_ids` by id,
        `folders` by the folder their file is in, `types` by file type (pdf, docx, md...);
        the kinds given combine.
        """
        try:
            query = service.query(
                question, mode, k, backend, doc_ids=doc_ids, folders=folders, types=types
            )
            return answer_json(service.ask(query))
        except ApiError as error:
            raise ToolError(error.message) from None

    @server.tool()
    def search(
        question: str,
        mode: Literal["dense", "bm25", "hybrid"] | None = None,
        k: int | None = None,
        doc_ids: list[str] | None = None,
        folders: list[str] | None = None,
        types: list[str] | None = None,
    ) -> dict[str, Any]:
        """Find the passages of the indexed documents that match a question; no answer.

        Each passage has its document id, title, page, character offsets, text and score.
        `doc_ids`, `folders` and `types` limit the search as they do for `ask`.
        """
        try:
            query = service.query(question, mode, k, doc_ids=doc_ids, folders=folders, types=types)
            retrieval = service.search(query)
        except ApiError as error:
            raise ToolError(error.message) from None
        return {
            "question": retrieval.question,
            "mode": retrieval.mode,
            "passages": [passage.to_json() for passage in retrieval.passages],
        }

    @server.resource(DOCUMENTS_URI, mime_type="application/json")
    def documents() -> str:
        """The indexed documents: id, title, source, chunks and characters of each."""
        from dataclasses import asdict

        try:
            listed = [asdict(info) for info in service.documents()]
        except ApiError as error:
            raise ResourceError(error.message) from None
        return json.dumps({"documents": listed}, ensure_ascii=False)

    @server.resource(DOCUMENT_URI, mime_type="text/plain")
    def document(doc_id: str) -> str:
        """One indexed document's full text, as its citations' offsets count it."""
        try:
            return service.document(doc_id).text
        except ApiError as error:
            if error.status == 404:
                raise ResourceNotFoundError(error.message) from None
            raise ResourceError(error.message) from None

    return server
