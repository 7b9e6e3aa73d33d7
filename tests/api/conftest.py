"""Fixtures for the HTTP API: the real app over the real seed index, driven in-process."""

from __future__ import annotations

import pytest

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture(scope="session")
def read_only_service(seed_pipeline):
    """A Service over the shared seed index; tests through it must not change documents."""
    from rag.api.service import Service

    service = Service(seed_pipeline)
    yield service
    service.close()


@pytest.fixture(scope="session")
def client(read_only_service):
    """A client of the app over the seed index, with no token required (loopback)."""
    from fastapi.testclient import TestClient

    from rag.api.http import create_app

    with TestClient(create_app(read_only_service)) as test_client:
        yield test_client


@pytest.fixture
def scratch_client(scratch_pipeline, tmp_path):
    """A client of an app over a private copy of the seed index, free to change it."""
    from fastapi.testclient import TestClient

    from rag.api.http import Limits, create_app
    from rag.api.service import Service

    service = Service(scratch_pipeline, upload_dir=tmp_path / "uploads")
    (tmp_path / "uploads").mkdir()
    limits = Limits(max_upload_bytes=256 * 1024, max_upload_files=3)
    with TestClient(create_app(service, limits=limits)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def token_client(read_only_service):
    """A client of an app that requires TOKEN; it sends none unless a test adds the header."""
    from fastapi.testclient import TestClient

    from rag.api.http import create_app

    with TestClient(create_app(read_only_service, token=TOKEN)) as test_client:
        yield test_client
