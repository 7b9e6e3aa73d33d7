"""The chat window: a Gradio Blocks app over one `rag.pipeline.Pipeline`.

The app holds no retrieval logic: it asks the pipeline, then shows what came
back with `ui.render`. Gradio is imported here, so import this module only
when the window is wanted.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from rag.backends import BackendInfo, describe_backends  # noqa: E402
from rag.config import MAX_TOP_K, RETRIEVAL_MODES  # noqa: E402
from rag.errors import RagError  # noqa: E402
from rag.ingest import STAGE_UNITS  # noqa: E402
from rag.loading import supported_suffixes  # noqa: E402
from rag.pipeline import DocumentInfo, Pipeline  # noqa: E402
from rag.query import Query  # noqa: E402
from rag.types import Answer, Turn  # noqa: E402
from ui import render  # noqa: E402

log = logging.getLogger(__name__)

# Questions about the bundled seed documents, for a first-time user.
EXAMPLE_QUESTIONS = (
    "When was the Bicentennial Framework launched?",
    "Who did Antony Blinken speak with?",
    "What is the Bicentennial Understanding?",
)
# Questions at once: one embedding model is shared, and LLM backends mostly wait on the network.
ASK_CONCURRENCY = 4
# The top-k slider stops here; the setting itself allows up to MAX_TOP_K.
SLIDER_MAX_K = min(20, MAX_TOP_K)
# A second upload waits this long for the first to finish writing the index.
INGEST_LOCK_TIMEOUT_S = 120
# How often the chat checks whether another process changed the index.
DOCUMENTS_REFRESH_S = 2.0
MODE_LABELS = {
    "hybrid": ("Hybrid", "hybrid"),
    "dense": ("Dense (meaning)", "dense"),
    "bm25": ("BM25 (words)", "bm25"),
}
CSS_PATH = Path(__file__).with_name("style.css")
# While an answer streams the box stays free for the next question, and Enter or Ask
# queue it to be asked once the answer is complete; the button and the empty box say so.
ASK_LABEL = "Ask"
ASK_NEXT_LABEL = "Ask next"
QUESTION_PLACEHOLDER = "Ask a question about your documents…"
NEXT_QUESTION_PLACEHOLDER = "Type your next question: it is asked when this answer is complete."
# Sends the Ask button's click, so that an example question goes through the same one
# ask event as a typed one and waits its turn behind an answer still streaming.
PRESS_ASK_JS = "() => document.getElementById('rag-ask').click()"


def theme() -> gr.themes.Base:
    # System fonts only: the page must not fetch anything from other hosts.
    return gr.themes.Soft(
        primary_hue="indigo",
        neutral_hue="slate",
        font=("ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"),
        font_mono=("ui-monospace", "SFMono-Regular", "Menlo", "monospace"),
    )


def backend_choices(infos: list[BackendInfo]) -> list[tuple[str, str]]:
    """Dropdown entries: every registered backend, the unavailable ones marked as such."""
    return [
        (info.name if info.availability.ok else f"{info.name} (unavailable)", info.name)
        for info in infos
    ]


def _messages(turns: list[dict[str, str]]) -> list[dict[str, str]]:
    messages = []
    for turn in turns:
        messages.append({"role": "user", "content": render.question_html(turn["question"])})
        messages.append({"role": "assistant", "content": turn["html"]})
    return messages


def _history(turns: list[dict[str, str]]) -> tuple[Turn, ...]:
    """The answered turns; the pipeline keeps the latest `history_turns` of them."""
    return tuple(Turn(t["question"], t["answer"]) for t in turns if t.get("answer") is not None)


class ChatApp:
    """The event handlers, bound to one pipeline and the backends found at start."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.backends = describe_backends(pipeline.settings)
        self.availability = {info.name: info.availability for info in self.backends}

    # -- helpers --------------------------------------------------------------------
    def default_backend(self) -> str:
        wanted = self.pipeline.settings.backend
        if wanted in self.availability and self.availability[wanted].ok:
            return wanted
        ready = [info.name for info in self.backends if info.availability.ok]
        return ready[0] if ready else wanted

    def documents(self) -> list[DocumentInfo]:
        try:
            return self.pipeline.documents()
        except RagError:
            return []

    def generation(self) -> str:
        """The index generation live now ("" for none): what the documents panel shows."""
        try:
            return self.pipeline.store.current_generation().name
        except RagError:
            return ""

    # -- handlers -------------------------------------------------------------------
    def refresh_documents(self, shown: str | None, selected: list[str] | None = None):
        """Redraw the documents panel and the picker when the index changed (`rag ingest
        --watch`, a CLI): `shown` is the generation they show, `selected` the picked documents.
        """
        if shown is None:  # the page's load has not drawn them yet; `index_shown` records it
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        current = self.generation()
        if current == shown:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        documents = self.documents()
        status = render.status_html(f"The index changed; it holds {len(documents)} documents.")
        return (
            render.header_html(documents),
            status + render.documents_html(documents),
            picker_update(documents, selected),
            current,
        )

    def index_shown(self, selected: list[str] | None = None) -> tuple[str, Any]:
        """After the page's load or an upload drew the documents panel: the generation it
        shows, and the picker over the same documents, keeping the `selected` ones.

        The picker's choices are fixed when the app is built; without this a page opened
        later would not list the documents indexed since.
        """
        # Read before the documents: a change in between is then redrawn by the next tick.
        generation = self.generation()
        return generation, picker_update(self.documents(), selected)

    def on_load(self, progress: gr.Progress = gr.Progress()) -> tuple[str, str]:  # noqa: B008
        """Build the index over the seed documents if there is none, with progress."""
        status = ""
        try:
            report = self.pipeline.ensure_index(on_progress=_progress_callback(progress))
            if report is not None:
                status = render.status_html(f"Built the index: {report.summary()}")
            # A damaged or mismatched index is said at once, not at the first question.
            self.pipeline.index()
        except RagError as error:
            status = render.status_html(str(error), "error")
        documents = self.documents()
        return render.header_html(documents), status + render.documents_html(documents)

    def choose_backend(self, name: str) -> str:
        """Refuse an unavailable backend with its reason, keeping the default selected."""
        availability = self.availability.get(name)
        if availability is not None and not availability.ok:
            gr.Warning(f"The {name} backend is unavailable: {availability.reason}", title="Backend")
            return self.default_backend()
        return name

    def ask(
        self,
        question: str,
        turns: list[dict[str, Any]],
        backend: str,
        mode: str,
        top_k: float,
        only: list[str] | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """Stream one answer into the chat: text as it arrives, sources when complete.

        Yields the chat, the turns, the passages panel, the question box and the Ask button.
        The box is emptied once, when the question is taken, and otherwise left alone: the
        user may be typing the next question into it while this answer streams.
        """
        question = (question or "").strip()
        if not question:
            gr.Warning("Type a question about your documents first.", title="Empty question")
            yield gr.skip(), turns, gr.skip(), gr.skip(), gr.skip()
            return
        history = _history(turns)
        turn: dict[str, Any] = {
            "question": question,
            "html": render.streaming_html(""),
            "answer": None,
        }
        turns = [*turns, turn]
        yield (
            _messages(turns),
            turns,
            gr.skip(),
            gr.update(value="", placeholder=NEXT_QUESTION_PLACEHOLDER),
            gr.update(value=ASK_NEXT_LABEL),
        )

        availability = self.availability.get(backend)
        if availability is not None and not availability.ok:
            turn["html"] = render.error_html(
                f"The {backend} backend is unavailable: {availability.reason}"
            )
            yield _messages(turns), turns, gr.skip(), *_answer_finished()
            return

        answer: Answer | None = None
        text = ""
        try:
            query = Query(
                question,
                mode=mode,
                k=int(top_k),
                backend=backend,
                history=history,
                # The picker's documents: the filter runs inside the search (Query.doc_ids).
                doc_ids=frozenset(only) if only else None,
            )
            for piece in self.pipeline.ask_stream(query):
                if isinstance(piece, Answer):
                    answer = piece
                else:
                    text += piece
                    turn["html"] = render.streaming_html(text)
                    yield _messages(turns), turns, gr.skip(), gr.skip(), gr.skip()
        except RagError as error:
            turn["html"] = render.error_html(str(error))
            yield _messages(turns), turns, gr.skip(), *_answer_finished()
            return
        if answer is None:
            turn["html"] = render.error_html(f"The {backend} backend returned no answer.")
            yield _messages(turns), turns, gr.skip(), *_answer_finished()
            return
        turn["html"] = render.answer_html(answer)
        turn["answer"] = answer.text
        yield _messages(turns), turns, render.passages_html(answer), *_answer_finished()

    def ask_through_api(self, *inputs: Any) -> Iterator[tuple[Any, ...]]:
        """`/ask` for API clients: `ask` with the same inputs, returning the chat, the turns,
        the passages and the question box emptied, as it always has (an API client types
        nothing meanwhile)."""
        for messages, turns_now, passages, _box, _button in self.ask(*inputs):
            yield messages, turns_now, passages, ""

    def upload(
        self,
        files: list[dict[str, Any] | str] | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ):
        """Add uploaded files to the index, then show the new document list.

        `files` are the File component's raw values (FileData dicts, or paths), as the
        client sent them: see `uploaded_files`.
        """
        if not files:
            return gr.skip(), gr.skip(), gr.skip()
        names = [f.get("path") or "" if isinstance(f, dict) else str(f) for f in files]
        paths, refused = uploaded_files(names, upload_folder())
        refusals = "".join(render.status_html(reason, "error") for reason in refused)
        if not paths:
            documents = self.documents()
            return render.header_html(documents), refusals + render.documents_html(documents), None
        progress(0, desc="Reading files")
        try:
            report = self.pipeline.ingest(
                paths, on_progress=_progress_callback(progress), lock_timeout=INGEST_LOCK_TIMEOUT_S
            )
        except RagError as error:
            documents = self.documents()
            return (
                render.header_html(documents),
                refusals
                + render.status_html(str(error), "error")
                + render.documents_html(documents),
                None,
            )
        lines = []
        if report.added:
            lines.append(f"Added {', '.join(report.added)}.")
        if report.updated:
            lines.append(f"Updated {', '.join(report.updated)}.")
        if report.unchanged:
            lines.append(f"Already indexed, unchanged: {', '.join(report.unchanged)}.")
        status = render.status_html(" ".join(lines) or "Nothing was added.")
        for problem in report.skipped:
            # The upload folder is Gradio's cache; the file's name is what the user knows.
            status += render.status_html(f"Skipped {_short(problem, paths)}", "error")
        for notice in report.notices:
            status += render.status_html(f"Note: {_short(notice, paths)}")
        documents = self.documents()
        return (
            render.header_html(documents),
            # The outcome goes above the list, where it is seen without scrolling the panel.
            refusals + status + render.documents_html(documents),
            None,
        )


def upload_folder() -> Path:
    """Where Gradio keeps the files a browser uploads (GRADIO_TEMP_DIR, or its temp folder)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder())


def uploaded_files(files: list[str], folder: Path) -> tuple[list[Path], list[str]]:
    """The files that were uploaded into `folder`, resolved, and a refusal for each other one.

    Gradio's `/upload` API takes a file *path* from the client: without this check a
    client could name any file of the server (or a link in the cache that points out
    of it) and have it indexed and quoted back. Only files whose real location is in
    the upload folder are read, and they are read through that real path, so a link
    swapped in after the check changes nothing.
    """
    real_folder = folder.resolve()
    accepted: list[Path] = []
    refused: list[str] = []
    for name in files:
        given = Path(name)
        real = given.resolve() if given.is_absolute() else None
        if real is not None and real.is_relative_to(real_folder) and real.is_file():
            accepted.append(real)
        elif real is not None and real.is_relative_to(real_folder):
            # The upload folder itself, or one in it: it holds every session's uploads.
            refused.append(f"Refused {given.name}: only uploaded files can be added, not a folder.")
        elif real is not None and any(
            Path(os.path.normpath(given)).is_relative_to(f) for f in (folder, real_folder)
        ):
            refused.append(
                f"Refused {given.name}: it is a link to a file outside the upload folder; "
                "upload the file itself."
            )
        else:
            refused.append(
                f"Refused {given.name or name}: only files uploaded through this window can "
                "be added, and this one is not in the upload folder."
            )
    return accepted, refused


def _short(problem: str, paths: list[Path]) -> str:
    for path in paths:
        problem = problem.replace(str(path), path.name)
    return problem


def _progress_callback(progress: gr.Progress):
    def report(stage: str, done: int, total: int) -> None:
        progress((done, total) if total else None, desc=stage, unit=STAGE_UNITS.get(stage, "steps"))

    return report


def build_app(pipeline: Pipeline) -> gr.Blocks:
    """The Blocks of the chat window (not launched)."""
    chat = ChatApp(pipeline)
    settings = pipeline.settings
    documents = chat.documents()

    with gr.Blocks(title="Ask your documents", fill_width=False) as demo:
        header = gr.HTML(render.header_html(documents), elem_id="rag-header", padding=False)
        turns = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=7, min_width=420):
                chatbot = gr.Chatbot(
                    value=[],
                    elem_id="rag-chat",
                    show_label=False,
                    height=600,
                    layout="panel",
                    # Answers are HTML we build with every document character escaped;
                    # Markdown and LaTeX would read meaning into document text.
                    render_markdown=False,
                    sanitize_html=True,
                    allow_tags=False,
                    latex_delimiters=[],
                    buttons=[],
                    feedback_options=None,
                    placeholder=(
                        "<div class='rag-placeholder'><strong>Ask a question about the indexed "
                        "documents.</strong><br>Answers quote the documents word for word, with "
                        "their sources underneath.<br>New here? Try a sample question below "
                        "the box.</div>"
                    ),
                )
                with gr.Row(elem_id="rag-ask-row"):
                    question = gr.Textbox(
                        show_label=False,
                        placeholder=QUESTION_PLACEHOLDER,
                        lines=1,
                        max_lines=4,
                        scale=8,
                        elem_id="rag-question",
                        autofocus=True,
                        submit_btn=False,
                    )
                    ask_button = gr.Button(
                        ASK_LABEL, variant="primary", scale=1, min_width=110, elem_id="rag-ask"
                    )
                with gr.Row(elem_id="rag-examples"):
                    example_buttons = [
                        gr.Button(
                            text, size="sm", variant="secondary", elem_classes=["rag-example"]
                        )
                        for text in EXAMPLE_QUESTIONS
                    ]

            with gr.Column(scale=5, min_width=340, elem_id="rag-side"):
                with gr.Group(elem_id="rag-settings"):
                    backend = gr.Dropdown(
                        choices=backend_choices(chat.backends),
                        value=chat.default_backend(),
                        label="Answer backend",
                        elem_id="rag-backend",
                        interactive=True,
                    )
                    mode = gr.Radio(
                        choices=[MODE_LABELS.get(m, (m, m)) for m in RETRIEVAL_MODES],
                        value=settings.mode,
                        label="Retrieval mode",
                        elem_id="rag-mode",
                    )
                    top_k = gr.Slider(
                        minimum=1,
                        maximum=max(SLIDER_MAX_K, settings.top_k),
                        step=1,
                        value=settings.top_k,
                        label="Passages to retrieve (top-k)",
                        elem_id="rag-top-k",
                    )
                    only = gr.Dropdown(
                        choices=document_choices(documents),
                        value=[],
                        multiselect=True,
                        label="Search only these documents (none chosen: all)",
                        elem_id="rag-only",
                        interactive=True,
                    )
                with gr.Accordion("Backends", open=False, elem_id="rag-backends"):
                    gr.HTML(render.backends_html(chat.backends), padding=False)
                with gr.Tabs():
                    with gr.Tab("Retrieved passages", elem_id="rag-passages-tab"):
                        passages = gr.HTML(
                            render.passages_html(None), elem_id="rag-passages", padding=False
                        )
                    with gr.Tab("Documents", elem_id="rag-documents-tab"):
                        documents_panel = gr.HTML(
                            render.documents_html(documents), elem_id="rag-documents", padding=False
                        )
                        upload = gr.File(
                            label="Add documents (" + ", ".join(supported_suffixes()) + ")",
                            file_count="multiple",
                            file_types=list(supported_suffixes()),
                            type="filepath",
                            elem_id="rag-upload",
                        )

        for choice in (backend, mode, only):
            quiet_refusals(choice)
        ask_inputs = [question, turns, backend, mode, top_k, only]
        # One event for Enter and Ask, so a page answers one question at a time: a second
        # press while an answer streams is queued and asked after it ("always_last": the
        # box's text then), where Gradio's default would drop it without a sign.
        asking = gr.on(
            [question.submit, ask_button.click],
            chat.ask,
            ask_inputs,
            [chatbot, turns, passages, question, ask_button],
            # The answer itself shows that work is under way; no overlay over the panels.
            show_progress="minimal",
            show_progress_on=[chatbot],
            trigger_mode="always_last",
            # Its outputs differ from `/ask`'s below; the page is its only caller.
            api_name="ask_in_window",
            api_visibility="private",
        )
        # `ask` puts the button and the box back when it ends; an exception ends it early.
        asking.failure(
            _answer_finished, None, [question, ask_button], queue=False, api_visibility="private"
        )
        for button in example_buttons:
            button.click(None, [button], [question], js="(text) => text").then(
                None, js=PRESS_ASK_JS
            )
        # `/ask` is the endpoint API clients (gradio_client) call; named so that it stays put.
        gr.on(
            [],
            chat.ask_through_api,
            ask_inputs,
            [chatbot, turns, passages, question],
            api_name="ask",
        )
        # The Chatbot's own trash button clears the screen; forget the turns with it.
        chatbot.clear(_cleared, None, [turns, passages], queue=False)
        backend.change(chat.choose_backend, [backend], [backend], show_progress="hidden")
        # Index writes take the index lock; one upload at a time keeps them in order.
        upload_done = upload.upload(
            chat.upload,
            [upload],
            [header, documents_panel, upload],
            concurrency_limit=1,
            show_progress_on=[documents_panel],
            # Gradio's own preprocessing would copy a file named by its path from anywhere
            # into its cache first; the handler checks the path the client sent instead.
            preprocess=False,
        )
        # Another process may change the index (`rag ingest --watch`): the documents panel
        # follows within a tick. An upload's own redraw is remembered, so it is not repeated.
        shown_generation = gr.State(None)
        gr.Timer(DOCUMENTS_REFRESH_S).tick(
            chat.refresh_documents,
            [shown_generation, only],
            [header, documents_panel, only, shown_generation],
            show_progress="hidden",
            queue=False,
        )
        # Normally `rag chat` built the index before serving; then loading only refreshes
        # the lists, without covering them with a progress overlay on every visit.
        building = not pipeline.store.exists()
        loaded = demo.load(
            chat.on_load,
            None,
            [header, documents_panel],
            show_progress="full" if building else "hidden",
            show_progress_on=[documents_panel],
        )
        for drawn in (loaded, upload_done):
            drawn.then(chat.index_shown, [only], [shown_generation, only], queue=False)
    return demo


def document_choices(documents: list[DocumentInfo]) -> list[tuple[str, str]]:
    """The picker's entries: each document by its title and id (titles may repeat)."""
    return [(f"{d.title} ({d.doc_id})", d.doc_id) for d in documents]


def picker_update(documents: list[DocumentInfo], selected: list[str] | None) -> dict[str, Any]:
    """The picker over `documents`, keeping the user's choice of those still indexed.

    The selection is sent only when a chosen document is gone (Gradio refuses a value
    outside the choices), so a choice made while this update travels is not undone.
    """
    selected = list(selected or [])
    indexed = {d.doc_id for d in documents}
    kept = [doc_id for doc_id in selected if doc_id in indexed]
    if kept == selected:
        return gr.update(choices=document_choices(documents))
    return gr.update(choices=document_choices(documents), value=kept)


def quiet_refusals(component: gr.components.Component) -> gr.components.Component:
    """Refuse a value outside the component's choices with one log line, not a traceback.

    A client can send any value through the API; Gradio rejects one that is not among
    the choices, rightly, but prints a full traceback for it.
    """
    preprocess = component.preprocess

    def checked(payload: Any) -> Any:
        try:
            return preprocess(payload)
        except gr.Error as error:
            log.warning("Refused a request: %s", error.message)
            raise gr.Error(error.message, print_exception=False) from None

    component.preprocess = checked  # type: ignore[method-assign]
    return component


def _answer_finished() -> tuple[dict[str, Any], dict[str, Any]]:
    """The question box and Ask button once an answer is complete: the box's text is kept."""
    return gr.update(placeholder=QUESTION_PLACEHOLDER), gr.update(value=ASK_LABEL)


def _cleared() -> tuple[list, str]:
    return [], render.passages_html(None)


def launch(
    pipeline: Pipeline,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: tuple[str, str] | None = None,
    prevent_thread_lock: bool = False,
) -> gr.Blocks:
    """Build and serve the chat window; blocks until stopped unless `prevent_thread_lock`."""
    demo = build_app(pipeline)
    demo.queue(default_concurrency_limit=ASK_CONCURRENCY)
    demo.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=prevent_thread_lock,
        share=False,
        **_page_options(auth),
    )
    return demo


def mount(app, pipeline: Pipeline, path: str, auth: tuple[str, str] | None = None) -> None:
    """Serve the chat window at `path` of another FastAPI app (`rag serve --chat`)."""
    demo = build_app(pipeline)
    demo.queue(default_concurrency_limit=ASK_CONCURRENCY)
    gr.mount_gradio_app(app, demo, path=path, **_page_options(auth))


def _page_options(auth: tuple[str, str] | None) -> dict:
    """How the window is served, alone (`launch`) or inside the API (`mount`)."""
    return dict(
        auth=auth,
        auth_message="Sign in to ask questions of the indexed documents." if auth else None,
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        footer_links=[],
        theme=theme(),
        css_paths=[CSS_PATH],
        show_error=False,
        # Uploads must be readable by the ingester; Gradio copies them into its cache.
        max_file_size="50mb",
    )
