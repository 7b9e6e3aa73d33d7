"""Cold start: `rag --help`, `rag docs` and `rag ask` each in a new process on an existing index.

Page cache warm and bytecode cached (each command runs once untimed first), as on a
user's second run.

Goals: `rag --help` under 0.3 s; a cold `rag ask` within 1.5x of the floor (a
bare Python process that imports onnxruntime and tokenizers, loads the same
ONNX model and embeds one question) and under 2 s on an idle machine; its
peak RSS under 400 MB; `rag chat` serving its first answer within 5 s of
starting, and its peak RSS with the reader on (`use_reader`) under 1.2 GB. `rag ask`
on the torch runtime is timed in the same run, as the before.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, peak_rss_mb, print_table, rag_executable, write_result

GOAL_HELP_S = 0.3
GOAL_ASK_RATIO = 1.5
GOAL_ASK_S = 2.0
GOAL_ASK_RSS_MB = 400
GOAL_CHAT_S = 5.0
GOAL_CHAT_READER_RSS_MB = 1200
QUESTION = "When was the Bicentennial Framework launched?"
# The floor: what any ONNX embedder must do to answer one question from a cold process.
BARE_ONNX = """
import sys
import numpy as np
import onnxruntime
from tokenizers import Tokenizer
folder = sys.argv[1]
session = onnxruntime.InferenceSession(folder + "/model.onnx", providers=["CPUExecutionProvider"])
tokenizer = Tokenizer.from_file(folder + "/tokenizer.json")
encoding = tokenizer.encode(sys.argv[2])
feed = {
    "input_ids": np.array([encoding.ids], dtype=np.int64),
    "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
    "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
}
vector = session.run(["sentence_embedding"], feed)[0][0]
print(float(np.linalg.norm(vector)))
"""


# The peak RSS the kernel reports for a child (wait4's ru_maxrss) starts from its parent's
# at fork: measured from inside pytest, with torch loaded by earlier tests, a 40 MB command
# read 861 MB. So each command runs under this small launcher, whose own child starts
# afresh; it writes the command's wall seconds and peak RSS (KB) to the file it is given.
LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
with open(sys.argv[1], "w") as out:
    out.write(f"{seconds} {usage.ru_maxrss}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _time(argv: list[str], environment: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one run of `argv` in a new process."""
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryFile("w+") as errors:
        figures = Path(scratch) / "figures"
        launcher = [sys.executable, "-S", "-c", LAUNCHER, str(figures)]
        process = subprocess.run(
            [*launcher, *argv], stdout=subprocess.DEVNULL, stderr=errors, env=environment, cwd=REPO
        )
        if process.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"{' '.join(argv)} failed:\n{errors.read()[-2000:]}")
        seconds, peak_kb = figures.read_text().split()
    return float(seconds), int(peak_kb) / 1024


def _chat_first_answer(
    rag: list[str], environment: dict[str, str], timeout: float = 300
) -> tuple[float, float]:
    """Seconds from starting `rag chat` to its first answer, asked as an API client would,
    and the chat process's peak RSS (MB) by then."""
    import socket
    import urllib.error
    import urllib.request

    from gradio_client import Client

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    process = subprocess.Popen(
        [*rag, "chat", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environment,
        cwd=REPO,
    )
    try:
        while True:
            if process.poll() is not None or time.perf_counter() - started > timeout:
                raise RuntimeError(f"rag chat did not serve {url} (exit {process.returncode})")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        client = Client(url, verbose=False)
        # The chat turns are a gr.State, which API clients do not send.
        client.predict(QUESTION, "extractive", "hybrid", 5, api_name="/ask")
        seconds = time.perf_counter() - started
        # The high-water mark of the chat's own memory (not wait4's, which starts from ours).
        peak_mb = peak_rss_mb(process.pid)
    finally:
        # Nothing to save in a benchmark's chat server: stop it at once.
        process.kill()
        process.wait(timeout=15)
    return seconds, peak_mb


def run(repeats: int = 5, write: bool = True) -> dict[str, Any]:
    """Time each command `repeats` times in new processes; print and save the figures."""
    from rag.embedding import local_model_folder
    from rag.onnx_model import prepare

    rag = rag_executable()
    export, _ = prepare(local_model_folder("default"), "bi-encoder", _cache_dir())
    python = rag[0] if rag[0].endswith("python") else str(Path(rag[0]).with_name("python"))
    with tempfile.TemporaryDirectory(prefix="rag-bench-cold-") as scratch:
        environment = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "RAG_INDEX_DIR": str(Path(scratch) / "index"),
            "RAG_SEEDS_DIR": str(REPO / "seeds"),
            # Bytecode cached, as in any install after its first run: a shell that sets
            # PYTHONDONTWRITEBYTECODE made `rag` compile its own modules on every run
            # (site-packages, the floor's, come compiled). Written here, not in the tree.
            "PYTHONPYCACHEPREFIX": str(Path(scratch) / "pycache"),
        }
        _time([*rag, "ingest", str(REPO / "seeds")], environment)
        torch_environment = {**environment, "RAG_MODEL_RUNTIME": "torch"}
        commands = {
            "rag --help": ([*rag, "--help"], environment),
            "rag docs": ([*rag, "docs"], environment),
            "bare onnxruntime + tokenizers (floor)": (
                [python, "-c", BARE_ONNX, str(export), QUESTION],
                environment,
            ),
            "rag ask": ([*rag, "ask", QUESTION], environment),
            "rag ask (model_runtime=torch, before)": ([*rag, "ask", QUESTION], torch_environment),
        }
        samples: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
        for argv, env in commands.values():
            _time(argv, env)  # the page cache warm, as on a second run
        # Interleaved, so a busy machine slows every command alike.
        for _ in range(repeats):
            for label, (argv, env) in commands.items():
                samples[label].append(_time(argv, env))
        chats = {
            "rag chat: start to first answer": environment,
            "rag chat, use_reader = true: start to first answer": {
                **environment,
                "RAG_BACKEND_EXTRACTIVE_USE_READER": "true",
            },
        }
        chat_runs = {
            label: [_chat_first_answer(rag, env) for _ in range(3)] for label, env in chats.items()
        }
    rows = []
    for label, runs in samples.items():
        seconds = sorted(s for s, _ in runs)
        rows.append(
            {
                "command": label,
                "runs": repeats,
                "min_s": seconds[0],
                "median_s": seconds[len(seconds) // 2],
                "max_s": seconds[-1],
                "peak_rss_mb": round(max(rss for _, rss in runs)),
            }
        )
    for label, runs in chat_runs.items():
        seconds = sorted(s for s, _ in runs)
        rows.append(
            {
                "command": label,
                "runs": len(runs),
                "min_s": seconds[0],
                "median_s": seconds[1],
                "max_s": seconds[-1],
                "peak_rss_mb": round(max(rss for _, rss in runs)),
            }
        )
    by_label = {row["command"]: row for row in rows}
    floor = by_label["bare onnxruntime + tokenizers (floor)"]["median_s"]
    ask = by_label["rag ask"]["median_s"]
    torch_ask = by_label["rag ask (model_runtime=torch, before)"]["median_s"]
    print_table(
        f"Cold start, new process each run, {repeats} interleaved rounds (goals: rag --help < "
        f"{GOAL_HELP_S} s; rag ask <= {GOAL_ASK_RATIO}x the floor, < {GOAL_ASK_S} s idle, "
        f"< {GOAL_ASK_RSS_MB} MB; chat's first answer < {GOAL_CHAT_S} s; chat with the "
        f"reader < {GOAL_CHAT_READER_RSS_MB} MB)",
        rows,
        ("command", "runs", "min_s", "median_s", "max_s", "peak_rss_mb"),
    )
    print(f"rag ask / floor: {ask / floor:.2f}x; torch before / onnx after: {torch_ask / ask:.1f}x")
    figures = {
        "goal_help_s": GOAL_HELP_S,
        "goal_ask_ratio": GOAL_ASK_RATIO,
        "goal_ask_s": GOAL_ASK_S,
        "goal_ask_rss_mb": GOAL_ASK_RSS_MB,
        "goal_chat_s": GOAL_CHAT_S,
        "goal_chat_reader_rss_mb": GOAL_CHAT_READER_RSS_MB,
        "ask_over_floor": round(ask / floor, 3),
        "torch_over_onnx": round(torch_ask / ask, 2),
        "rows": rows,
    }
    if write:
        write_result("coldstart", figures)
    return figures


def _cache_dir() -> Path:
    from rag.config import load_settings

    return load_settings().model_cache_dir
