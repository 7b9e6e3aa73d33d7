"""OpenAI's chat-completions protocol, spoken by `rag serve` at /v1/chat/completions.

Any OpenAI client or chat front end (Open WebUI, LibreChat) can then use the
product as a "model" named after an answer backend. The last user message is
the question; earlier user/assistant pairs are the conversation. The reply's
text carries the `[n]` markers and a sources list a person can read, and the
citations themselves (document id, offsets, exact quote) travel beside it in
the extra fields `citations` and `rag` (the whole `rag ask --json` object), so
a client that knows them loses nothing.

Streaming sends the answer only once it has been checked against the passages:
an OpenAI stream cannot take back text it has sent, and a language model's
unchecked words are never shown as the answer. While the backend works, even
before its first word, SSE comment lines keep the connection alive.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rag.api.service import ApiError
from rag.api.streaming import PiecePump
from rag.types import Answer, Turn

SOURCES_HEADING = "Sources:"
# Roles that carry no turn of the conversation: instructions and tool traffic.
IGNORED_ROLES = ("system", "developer", "tool", "function")
# Words per streamed delta: small enough to look like typing, big enough to be few events.
WORDS_PER_DELTA = 4
# While a backend works, one keep-alive comment per this many seconds without a word sent.
KEEPALIVE_EVERY_S = 1.0
# How long the stream waits for its first piece before it begins (status line, role):
# retrieval's errors come well within it and are still a status; a slower backend (a
# language model reading its prompt) is then waited for inside the stream.
FIRST_PIECE_WAIT_S = 2.0
# How long a stream that ends waits for the backend's thread to close its generator.
STOP_WAIT_S = 1.0
_WORDS = re.compile(r"\S+\s*")


@dataclass(frozen=True)
class Conversation:
    """A chat-completions request reduced to what the pipeline takes."""

    question: str
    history: tuple[Turn, ...]
    prompt_text: str  # every message's text, for counting prompt tokens


def message_text(content: Any, index: int) -> str:
    """The text of one message's `content`: a string, or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind != "text" or not isinstance(part.get("text"), str):
                raise ApiError(
                    400,
                    "unsupported_content",
                    f"messages[{index}] has a {kind or type(part).__name__!r} part; only text "
                    "is understood. Send the question as text.",
                    f"messages[{index}].content",
                )
            texts.append(part["text"])
        return "\n".join(texts)
    raise ApiError(
        400,
        "invalid_content",
        f"messages[{index}].content must be text or a list of text parts.",
        f"messages[{index}].content",
    )


def conversation(messages: Sequence[dict[str, Any]]) -> Conversation:
    """The question (the last user message) and the earlier turns, from OpenAI messages."""
    turns: list[Turn] = []
    asked: str | None = None
    texts: list[str] = []
    last_role = ""
    for index, message in enumerate(messages):
        role, text = message["role"], message_text(message.get("content"), index)
        texts.append(text)
        if role in IGNORED_ROLES:
            continue
        if role == "user":
            if asked is not None:  # two questions in a row: the first went unanswered
                turns.append(Turn(asked, ""))
            asked = text
        elif role == "assistant" and asked is not None:
            turns.append(Turn(asked, answer_without_sources(text)))
            asked = None
        last_role = role
    if last_role != "user" or asked is None:
        raise ApiError(
            400,
            "no_question",
            'The last message must be the user\'s question (role "user").',
            "messages",
        )
    return Conversation(asked, tuple(turns), "\n".join(texts))


def answer_without_sources(text: str) -> str:
    """An earlier reply of ours as the client sends it back, without its sources list."""
    return text.split(f"\n\n{SOURCES_HEADING}\n", 1)[0]


def reply_text(answer: Answer) -> str:
    """The answer as a person reads it in any chat window: text, notes, then the sources."""
    parts = [answer.text]
    parts.extend(f"Note: {notice}" for notice in answer.notices)
    # A chat front end shows only this text: a sentence the check flagged is named here, or
    # its marker would pass for a source.
    parts.extend(
        f"Not supported by the passages it cites: “{sentence}”" for sentence in answer.unsupported
    )
    if answer.citations:
        lines = [SOURCES_HEADING]
        for n, citation in enumerate(answer.citations, start=1):
            page = f", {citation.place}" if citation.place else ""
            lines.append(
                f"[{n}] {citation.title}{page} ({citation.doc_id}, characters "
                f"{citation.start}–{citation.end}): “{citation.quote}”"
            )
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


class Completion:
    """One reply, as a whole `chat.completion` or as `chat.completion.chunk` events."""

    def __init__(self, model: str, prompt_text: str) -> None:
        self.model = model
        self.prompt_text = prompt_text
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def whole(self, answer: Answer) -> dict[str, Any]:
        text = reply_text(answer)
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": self._usage(text),
            **_extra_fields(answer),
        }

    def events(self, pieces: PiecePump, include_usage: bool) -> Iterator[str]:
        """Server-sent events: the role, keep-alives while the backend works, the checked text.

        A keep-alive goes out each second without a word sent, whether the backend is
        writing or still silent (a model reading its prompt).
        """
        yield self._event({"role": "assistant", "content": ""})
        answer: Answer | None = None
        last_keepalive = time.monotonic()
        try:
            while True:
                kind, value = pieces.get(timeout=KEEPALIVE_EVERY_S)
                if kind == "end":
                    break
                if kind == "error":
                    raise value
                if isinstance(value, Answer):
                    answer = value
                elif time.monotonic() - last_keepalive >= KEEPALIVE_EVERY_S:
                    last_keepalive = time.monotonic()
                    yield ": the answer is being written and checked\n\n"
        except ApiError as error:
            # The status line has gone out already; OpenAI clients raise on an error event.
            yield f"data: {json.dumps(error.to_json(), ensure_ascii=False)}\n\n"
            yield "data: [DONE]\n\n"
            return
        finally:
            # Also when these events are closed early (the client left): the backend's
            # generator is closed with its connection to the model, not at collection.
            pieces.stop(wait_s=STOP_WAIT_S)
        assert answer is not None, "a backend's stream ends with its Answer"
        text = reply_text(answer)
        words = _WORDS.findall(text)
        events = [
            self._event({"content": "".join(words[start : start + WORDS_PER_DELTA])})
            for start in range(0, len(words), WORDS_PER_DELTA)
        ]
        events.append(self._event({}, finish_reason="stop", extra=_extra_fields(answer)))
        if include_usage:
            usage = {**self._chunk([]), "usage": self._usage(text)}
            events.append(f"data: {json.dumps(usage, ensure_ascii=False)}\n\n")
        events.append("data: [DONE]\n\n")
        # All known now: one write, not one server thread hop per event (4x the latency
        # under 20 clients, bench/results/serve.json). The client still reads each event.
        yield "".join(events)

    def _chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }

    def _event(
        self,
        delta: dict[str, Any],
        finish_reason: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        chunk = {**self._chunk([choice]), **(extra or {})}
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    def _usage(self, completion_text: str) -> dict[str, int]:
        from rag.chunking import count_tokens

        prompt, completion = count_tokens(self.prompt_text), count_tokens(completion_text)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }


def _extra_fields(answer: Answer) -> dict[str, Any]:
    """Our fields beside OpenAI's: the citations, and the whole `rag ask --json` object."""
    data = answer.to_json()
    return {"citations": data["citations"], "rag": data}
