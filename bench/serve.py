"""`rag serve` under load: 20 clients at once, each its own run of questions, on 127.0.0.1.

A real `rag serve` process on a copy of the seed index. Each question is first
asked alone, and its answer kept; then 20 clients ask 500 questions at once,
cycling through /v1/ask, /v1/chat/completions and the same streamed. Every reply
must be the one its question got alone (no crossed answers: the question in the
reply is the one asked, the answer and citations are the same). The loop is
bounded in count (500 requests) and time (per request and for the whole run).
Figures: errors, crossed answers, p50/p95/max latency per endpoint, throughput.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import REPO, percentiles, print_table, rag_executable, write_result

CLIENTS = 20
REQUESTS = 500
SERVER_START_TIMEOUT_S = 240
REQUEST_TIMEOUT_S = 120
RUN_TIMEOUT_S = 600
ENDPOINTS = ("ask", "chat", "chat-stream")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _questions(limit: int | None) -> list[str]:
    """Seed questions that stand alone (a follow-up would depend on its conversation)."""
    sys.path.insert(0, str(REPO))
    from eval.questions import DEFAULT_QUESTIONS, load_questions
    from rag.followup import leans_on_history

    questions = [q.question for q in load_questions(DEFAULT_QUESTIONS)]
    questions = [q for q in questions if not leans_on_history(q)]
    return questions[:limit] if limit else questions


def _ask(client, endpoint: str, question: str) -> dict[str, Any]:
    """The reply as `rag ask --json` shapes it, whichever endpoint was asked."""
    messages = [{"role": "user", "content": question}]
    if endpoint == "ask":
        response = client.post("/v1/ask", json={"question": question})
        response.raise_for_status()
        return response.json()
    if endpoint == "chat":
        response = client.post(
            "/v1/chat/completions", json={"model": "extractive", "messages": messages}
        )
        response.raise_for_status()
        return response.json()["rag"]
    body = {"model": "extractive", "messages": messages, "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        final = None
        for line in response.iter_lines():
            if line.startswith("data: {"):
                event = json.loads(line[len("data: ") :])
                if "error" in event:
                    raise RuntimeError(event["error"]["message"])
                if event["choices"] and event["choices"][0]["finish_reason"]:
                    final = event["rag"]
        if final is None:
            raise RuntimeError("the stream ended without its final event")
        return final


def _key(reply: dict[str, Any]) -> tuple:
    """What must not change between a question asked alone and asked under load."""
    return (
        reply["question"],
        reply["answer"],
        reply["abstained"],
        tuple((c["doc_id"], c["start"], c["end"]) for c in reply["citations"]),
    )


def run(
    clients: int = CLIENTS, requests: int = REQUESTS, limit: int | None = None, write: bool = True
) -> dict[str, Any]:
    import httpx

    questions = _questions(limit)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = Path(tmp)
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "RAG_CONFIG": "",  # no config file
        }
        shutil.copytree(REPO / "seeds", folder / "seeds")
        port = _free_port()
        log = folder / "server.log"
        started = time.perf_counter()
        with log.open("w") as out:
            server = subprocess.Popen(
                [*rag_executable(), "serve", "--port", str(port), "--index", str(folder / "index")],
                cwd=folder,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) as probe:
                deadline = time.monotonic() + SERVER_START_TIMEOUT_S
                while True:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"rag serve did not start:\n{log.read_text()[-3000:]}")
                    try:
                        if probe.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.5)
                start_s = time.perf_counter() - started
                # Each question alone, first: the answers the load must not change.
                alone = {q: _key(_ask(probe, "ask", q)) for q in questions}
            figures = _load(base, questions, alone, clients, requests)
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        figures["server_start_s"] = round(start_s, 2)
        figures["traceback_in_server_log"] = "Traceback" in log.read_text()
    rows = [
        {"endpoint": name, "requests": len(samples), **percentiles(samples)}
        for name, samples in figures.pop("latencies_ms").items()
    ]
    figures["rows"] = rows
    print_table(
        f"rag serve, {clients} clients, {figures['answered']}/{requests} answered in "
        f"{figures['wall_s']} s ({figures['requests_per_s']}/s); {figures['errors']} errors, "
        f"{figures['crossed']} crossed answers",
        rows,
        ["endpoint", "requests", "p50", "p95", "p99"],
    )
    for problem in figures["problems"][:10]:
        print(f"  problem: {problem}")
    if write:
        write_result("serve", figures)
    return figures


def _load(base: str, questions: list[str], alone: dict, clients: int, requests: int):
    import httpx

    per_client = requests // clients
    # Each client its own questions, in its own order, across all three endpoints.
    plans = [
        [
            (ENDPOINTS[(start + step) % len(ENDPOINTS)],
             questions[(start * 7 + step * (1 + start % 3)) % len(questions)])
            for step in range(per_client)
        ]
        for start in range(clients)
    ]  # fmt: skip
    barrier = threading.Barrier(clients)
    deadline = time.monotonic() + RUN_TIMEOUT_S

    def client(plan):
        latencies: dict[str, list[float]] = {name: [] for name in ENDPOINTS}
        problems: list[str] = []
        crossed = 0
        with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) as http:
            barrier.wait(timeout=60)
            for endpoint, question in plan:
                if time.monotonic() > deadline:
                    problems.append("out of time")
                    break
                began = time.perf_counter()
                try:
                    reply = _ask(http, endpoint, question)
                except Exception as error:  # noqa: BLE001 - every failed request is counted
                    problems.append(f"{endpoint} {question!r}: {type(error).__name__}: {error}")
                    continue
                latencies[endpoint].append((time.perf_counter() - began) * 1000)
                if _key(reply) != alone[question]:
                    crossed += 1
                    problems.append(f"{endpoint} {question!r}: not the answer it gets alone")
        return latencies, problems, crossed

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, plans))
    wall = time.perf_counter() - started
    latencies = {name: [s for r in results for s in r[0][name]] for name in ENDPOINTS}
    answered = sum(len(samples) for samples in latencies.values())
    problems = [p for r in results for p in r[1]]
    return {
        "clients": clients,
        "requests": per_client * clients,
        "answered": answered,
        "errors": len(problems) - sum(r[2] for r in results),
        "crossed": sum(r[2] for r in results),
        "distinct_questions": len({q for plan in plans for _, q in plan}),
        "wall_s": round(wall, 1),
        "requests_per_s": round(answered / wall, 2),
        "all_ms": percentiles([s for samples in latencies.values() for s in samples]),
        "latencies_ms": latencies,
        "problems": problems[:20],
    }
