"""One chat server (the real `rag chat` CLI on a fresh index) and one Chromium per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from chat_server import free_port, stop, wait_until_serving

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Importing torch and Gradio plus the first index build take ~30 s on a laptop.
SERVER_START_TIMEOUT_S = 240


def server_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GRADIO_ANALYTICS_ENABLED="False",
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        GRADIO_TEMP_DIR=str(tmp / "gradio"),
        # A developer's own config must not change what the tests see.
        RAG_CONFIG="",
    )
    env.pop("RAG_CHAT_USER", None)
    env.pop("RAG_CHAT_PASSWORD", None)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def chat_server(tmp_path_factory):
    """The base URL of `rag chat` serving a fresh index it builds over seeds/ itself."""
    tmp = tmp_path_factory.mktemp("chat")
    port = free_port()
    log = tmp / "server.log"
    command = [
        sys.executable,
        "-m",
        "rag",
        "chat",
        "--port",
        str(port),
        "--index",
        str(tmp / "index"),
    ]
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env=server_env(tmp), stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, process, log, SERVER_START_TIMEOUT_S)
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install -y chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Watch:
    """What a page did that it must not: open dialogs, or fetch from anywhere but the app."""

    def __init__(self, base_url: str) -> None:
        self.origin = urlsplit(base_url)._replace(path="", query="", fragment="").geturl()
        self.dialogs: list[str] = []
        self.foreign_requests: list[str] = []

    def on_dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_request(self, request) -> None:
        url = request.url
        if url.startswith(("data:", "blob:")):
            return
        if not (url == self.origin or url.startswith(self.origin + "/")):
            self.foreign_requests.append(url)


@pytest.fixture(scope="session")
def page_session(browser, chat_server):
    """One page shared by the browser tests (they build one conversation in order)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    watch = Watch(chat_server)
    page.on("dialog", watch.on_dialog)
    page.on("request", watch.on_request)
    page.goto(chat_server)
    page.wait_for_selector("#rag-question textarea", timeout=30_000)
    page.watch = watch
    yield page
    context.close()


@pytest.fixture
def page(page_session):
    """The shared page; after each test no dialog fired and nothing foreign was fetched."""
    yield page_session
    watch = page_session.watch
    assert watch.dialogs == [], f"dialogs fired: {watch.dialogs}"
    assert watch.foreign_requests == [], f"requests left the app: {watch.foreign_requests}"


@pytest.fixture(scope="session")
def screenshot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
