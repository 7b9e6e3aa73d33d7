"""The chat window's upload takes only files uploaded into Gradio's cache, never a server path.

Gradio's `/upload` API accepts a `FileData` whose `path` the client chooses. These
tests play the hostile client of issue 12 against a real server (in this process,
on 127.0.0.1) and check that the named file is neither indexed nor quoted back.
"""

from __future__ import annotations

import html
import json
import shutil
import uuid
from pathlib import Path

import pytest
from chat_server import free_port

SECRET = "The vault combination is 7431-9926, kept by the night porter."


@pytest.fixture
def chat(scratch_pipeline):
    """A chat server over a private copy of the seed index, and its Gradio client."""
    from gradio_client import Client

    from ui.app import launch

    port = free_port()
    demo = launch(scratch_pipeline, host="127.0.0.1", port=port, prevent_thread_lock=True)
    try:
        client = Client(
            f"http://127.0.0.1:{port}/",
            verbose=False,
            download_files=False,
            analytics_enabled=False,
        )
        yield scratch_pipeline, client, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def upload_as_remote_client(url: str, path) -> str:
    """The documents panel (or the error event) after asking `/upload` for `path`, as a remote client.

    gradio_client would upload a path that exists on its own machine (the test's
    machine is the server's), so the request is sent as JSON over Gradio's HTTP API.
    """
    import httpx

    data = [[{"path": str(path), "meta": {"_type": "gradio.FileData"}}]]
    with httpx.Client(base_url=url, timeout=60) as http:
        event = http.post("gradio_api/call/upload", json={"data": data}).json()["event_id"]
        reply = http.get(f"gradio_api/call/upload/{event}").text
    lines = reply.splitlines()
    if "event: complete" not in lines:
        return reply
    outputs = json.loads(lines[lines.index("event: complete") + 1].removeprefix("data:"))
    return html.unescape(outputs[1])


def indexed_ids(pipeline) -> set[str]:
    return {document.doc_id for document in pipeline.documents()}


def test_a_server_path_named_by_a_remote_client_is_refused(chat, tmp_path):
    # Gradio 6 refuses this request itself; the handler's own check stands behind it.
    pipeline, _, url = chat
    secret = tmp_path / "server-secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    before = indexed_ids(pipeline)

    outcome = upload_as_remote_client(url, secret)

    assert outcome.startswith("event: error") or "Refused server-secret.txt" in outcome, outcome
    assert indexed_ids(pipeline) == before
    assert "7431" not in pipeline.ask("What is the vault combination?").text


@pytest.fixture
def planted_link(tmp_path):
    """A link inside Gradio's upload folder to a file of the server outside it."""
    from gradio.utils import get_upload_folder

    secret = tmp_path / "server-secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    planted = Path(get_upload_folder()) / f"planted-{uuid.uuid4().hex}"
    planted.mkdir(parents=True)
    link = planted / "notes.txt"
    link.symlink_to(secret)
    yield secret, link
    shutil.rmtree(planted)


@pytest.mark.parametrize("which", ["server path", "link out of the cache"])
def test_the_upload_handler_reads_only_files_in_the_upload_folder(
    scratch_pipeline, planted_link, which
):
    from ui.app import ChatApp

    secret, link = planted_link
    path = secret if which == "server path" else link
    before = indexed_ids(scratch_pipeline)

    # A path, as Gradio hands it to the handler (the raw FileData form is accepted too).
    _, panel, _ = ChatApp(scratch_pipeline).upload([str(path)])

    shown = html.unescape(panel)
    if which == "server path":
        assert "Refused server-secret.txt: only files uploaded through this window" in shown
    else:
        assert "Refused notes.txt: it is a link to a file outside the upload folder" in shown
    assert indexed_ids(scratch_pipeline) == before


def test_the_upload_folder_named_by_a_remote_client_is_refused(chat, tmp_path):
    # Gradio lets a path inside its upload folder through; the folder holds every
    # session's uploads, including files since removed from the index.
    from gradio.utils import get_upload_folder

    pipeline, _, url = chat
    other_session = Path(get_upload_folder()) / f"other-{uuid.uuid4().hex}"
    other_session.mkdir(parents=True)
    (other_session / "payroll.txt").write_text(SECRET, encoding="utf-8")
    before = indexed_ids(pipeline)
    try:
        for folder in (Path(get_upload_folder()), other_session):
            outcome = upload_as_remote_client(url, folder)
            assert f"Refused {folder.name}: only uploaded files can be added" in outcome, outcome
    finally:
        shutil.rmtree(other_session)
    assert indexed_ids(pipeline) == before


def test_a_file_really_uploaded_is_still_indexed(chat, tmp_path):
    from gradio_client import handle_file

    pipeline, client, _ = chat
    upload = tmp_path / "porter-notes.txt"
    upload.write_text("The night porter locks the east gate at eleven.", encoding="utf-8")

    _, panel, _ = client.predict([handle_file(str(upload))], api_name="/upload")
    documents_panel = html.unescape(panel)

    assert "Added porter-notes" in documents_panel
    assert "Refused" not in documents_panel
    assert "porter-notes" in indexed_ids(pipeline)


def test_paths_are_checked_against_the_real_upload_folder(tmp_path):
    from ui.app import uploaded_files

    folder = tmp_path / "cache"
    (folder / "a").mkdir(parents=True)
    inside = folder / "a" / "doc.txt"
    inside.write_text("x", encoding="utf-8")
    outside = tmp_path / "outside.txt"
    outside.write_text("x", encoding="utf-8")
    link_in = folder / "a" / "link.txt"
    link_in.symlink_to(inside)

    accepted, refused = uploaded_files(
        [str(inside), str(link_in), str(folder / "a" / ".." / ".." / "outside.txt"), "doc.txt"],
        folder,
    )

    assert accepted == [inside.resolve(), inside.resolve()]
    assert len(refused) == 2 and all("not in the upload folder" in r for r in refused)
    for not_a_file in (folder, folder / "a"):
        assert uploaded_files([str(not_a_file)], folder) == (
            [],
            [f"Refused {not_a_file.name}: only uploaded files can be added, not a folder."],
        )


def test_a_backend_outside_the_choices_is_refused_in_one_log_line(chat, capfd, caplog):
    import httpx

    _, _, url = chat
    capfd.readouterr()
    data = ["When was it launched?", None, "no-such-backend", "hybrid", 5, []]
    with httpx.Client(base_url=url, timeout=60) as http:
        event = http.post("gradio_api/call/ask", json={"data": data}).json()["event_id"]
        reply = http.get(f"gradio_api/call/ask/{event}").text
    assert "event: error" in reply
    logged = capfd.readouterr().err
    assert "Traceback" not in logged, logged
    refusals = [r.getMessage() for r in caplog.records if "no-such-backend" in r.getMessage()]
    assert len(refusals) == 1 and "Refused a request" in refusals[0], refusals
