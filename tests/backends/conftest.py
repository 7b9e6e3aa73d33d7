"""Fixtures for the answer backends (the test doubles live in backend_fakes.py)."""

from __future__ import annotations

import socket

import pytest

from rag.types import Document, Passage

from .backend_fakes import DOCUMENTS, make_document, make_passage, start_server


@pytest.fixture
def llm_server():
    """A scripted chat-completions server on a free port of 127.0.0.1 (see FakeLLM)."""
    fake, server = start_server()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def documents() -> dict[str, Document]:
    return {doc_id: make_document(doc_id) for doc_id in DOCUMENTS}


@pytest.fixture(scope="session")
def passages(documents) -> tuple[Passage, ...]:
    """Five passages, one per document, in the order of DOCUMENTS."""
    return tuple(make_passage(rank, doc) for rank, doc in enumerate(documents.values(), start=1))
