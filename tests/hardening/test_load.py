"""Load: 20 clients at once ask the running chat server 500 questions through gradio_client.

Every answer must be the one its own question gets alone, in its own conversation: a
crossed session would show another client's question or answer. The figures (p50/p95
latency, throughput, errors) are printed and written to test-output/load.json.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pytest
from chat_server import free_port, stop, wait_until_serving

from .helpers import OUTPUT, cli_env

N_CLIENTS = 20
N_QUESTIONS = 500
# Wall-clock bounds: the server's start (torch, Gradio, the model), one answer, the whole run.
SERVER_START_TIMEOUT_S = 240
ANSWER_TIMEOUT_S = 120
RUN_TIMEOUT_S = 300
ANSWER_TEXT = re.compile(r'<div class="rag-answer-text">(.*?)</div>', re.S)


@dataclass(frozen=True)
class Expected:
    question: str
    answers: tuple[str, ...]  # empty: the documents do not say
    text_html: str  # the answer's text as the window shows it


@pytest.fixture(scope="module")
def chat_url(seed_pipeline, tmp_path_factory, request):
    """`rag chat` serving a copy of the seed index on a free port of 127.0.0.1.

    The expected answers are worked out while the server starts.
    """
    tmp = tmp_path_factory.mktemp("load")
    shutil.copytree(seed_pipeline.settings.index_dir, tmp / "index")
    port = free_port()
    log = tmp / "server.log"
    command = [
        sys.executable,
        "-m",
        "rag",
        "chat",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--index",
        str(tmp / "index"),
    ]
    env = cli_env(tmp, GRADIO_TEMP_DIR=str(tmp / "gradio"))
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        request.getfixturevalue("expected_answers")
        wait_until_serving(url, process, log, SERVER_START_TIMEOUT_S)
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def expected_answers(seed_pipeline) -> list[Expected]:
    """Seed questions whose answer, asked alone, is right; with that answer as shown."""
    from eval.questions import DEFAULT_QUESTIONS, load_questions
    from rag.followup import leans_on_history
    from ui import render

    pool = []
    for question in load_questions(DEFAULT_QUESTIONS):
        # A question that leans on the conversation is rewritten from it; keep those out so
        # that each answer depends on its question alone.
        if leans_on_history(question.question):
            continue
        answer = seed_pipeline.ask(question.question)
        if question.answerable:
            right = not answer.abstained and any(a in answer.text for a in question.answers)
            shown = render.answer_text_html(answer)
        else:
            right = answer.abstained
            shown = render.text_html(answer.text)
        if right:
            pool.append(Expected(question.question, question.answers, shown))
    assert len(pool) >= 40, "too few seed questions are answered right to load-test with"
    return pool


def ask_as_one_client(url: str, questions: list[Expected], deadline: float):
    """One conversation: ask each question in turn; return latencies and what went wrong."""
    from gradio_client import Client

    from ui import render

    client = Client(url, verbose=False, download_files=False, analytics_enabled=False)
    latencies: list[float] = []
    problems: list[str] = []
    asked: list[str] = []
    for item in questions:
        if time.monotonic() > deadline:
            problems.append("out of time")
            break
        started = time.perf_counter()
        try:
            job = client.submit(item.question, "extractive", "hybrid", 5, api_name="/ask")
            messages, _passages, box = job.result(timeout=ANSWER_TIMEOUT_S)
        except Exception as error:  # noqa: BLE001 - any failure of a request is an error to count
            problems.append(f"{item.question!r}: {type(error).__name__}: {error}")
            continue
        latencies.append(time.perf_counter() - started)
        asked.append(item.question)
        problem = check_reply(item, asked, messages, box, render)
        if problem:
            problems.append(f"{item.question!r}: {problem}")
    client.close()
    return latencies, problems


def check_reply(item: Expected, asked: list[str], messages, box, render) -> str:
    """What is wrong with one reply, or "" if it is this conversation's right answer."""
    texts = [message["content"][0]["text"] for message in messages]
    roles = [message["role"] for message in messages]
    if roles != ["user", "assistant"] * len(asked):
        return f"the conversation has {roles.count('user')} questions, asked {len(asked)}"
    if texts[0::2] != [render.question_html(q) for q in asked]:
        return "the conversation holds questions another client asked"
    reply = texts[-1]
    if "rag-complete" not in reply or "rag-error" in reply:
        return f"not a complete answer: {reply[:200]}"
    found = ANSWER_TEXT.search(reply)
    if found is None or found.group(1) != item.text_html:
        return f"another answer than when asked alone: {reply[:300]}"
    plain = html.unescape(re.sub(r"<[^>]+>", "", found.group(1)))
    if item.answers and not any(answer in plain for answer in item.answers):
        return f"no gold answer in {plain!r}"
    if not item.answers and "rag-abstained" not in reply:
        return "answered a question the documents do not answer"
    if box != "":
        return "the question box was not cleared"
    return ""


@pytest.mark.slow
def test_twenty_clients_get_their_own_right_answers(chat_url, expected_answers):
    per_client = N_QUESTIONS // N_CLIENTS
    pool = expected_answers
    # Each client its own slice of the pool, in its own order.
    plans = [
        [pool[(start * 7 + step * (1 + start % 3)) % len(pool)] for step in range(per_client)]
        for start in range(N_CLIENTS)
    ]
    assert len({tuple(q.question for q in plan) for plan in plans}) == N_CLIENTS
    started = time.perf_counter()
    deadline = time.monotonic() + RUN_TIMEOUT_S
    barrier = threading.Barrier(N_CLIENTS)

    def client(plan):
        barrier.wait(timeout=60)
        return ask_as_one_client(chat_url, plan, deadline)

    with ThreadPoolExecutor(N_CLIENTS) as pool_of_clients:
        results = list(pool_of_clients.map(client, plans))
    wall = time.perf_counter() - started

    latencies = np.array([s for lat, _ in results for s in lat]) * 1000
    problems = [p for _, found in results for p in found]
    figures = {
        "clients": N_CLIENTS,
        "questions": int(sum(len(plan) for plan in plans)),
        "answered": int(len(latencies)),
        "errors": len(problems),
        "latency_ms": {
            "p50": round(float(np.percentile(latencies, 50)), 1) if len(latencies) else None,
            "p95": round(float(np.percentile(latencies, 95)), 1) if len(latencies) else None,
            "max": round(float(latencies.max()), 1) if len(latencies) else None,
        },
        "wall_s": round(wall, 1),
        "questions_per_s": round(len(latencies) / wall, 2),
        "distinct_questions": len({q.question for plan in plans for q in plan}),
        "problems": problems[:20],
    }
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "load.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(
        f"\nload: {figures['answered']}/{figures['questions']} answered by {N_CLIENTS} clients "
        f"in {wall:.1f} s ({figures['questions_per_s']}/s), p50 {figures['latency_ms']['p50']} ms, "
        f"p95 {figures['latency_ms']['p95']} ms, {len(problems)} errors"
    )
    assert problems == [], "\n".join(problems[:20])
    assert figures["answered"] == N_QUESTIONS
