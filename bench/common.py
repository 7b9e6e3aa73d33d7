"""What every benchmark shares: the machine, timing helpers, tables and result files."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PACKAGES = (
    "torch",
    "sentence-transformers",
    "transformers",
    "faiss-cpu",
    "bm25s",
    "numpy",
    "onnxruntime",
)


def machine() -> dict[str, Any]:
    """The machine and software the figures came from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_gb, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        # Other work on the machine skews every figure: this says how busy it was.
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def write_result(name: str, figures: dict[str, Any], results: Path = RESULTS) -> Path:
    """Write `results/<name>.json` with the machine and `figures`."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{name}.json"
    path.write_text(
        json.dumps({"benchmark": name, "machine": machine(), **figures}, indent=2) + "\n",
        encoding="utf-8",
    )
    return path


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50, p95 and p99 of `samples_ms`, rounded to 0.01 ms."""
    if not len(samples_ms):
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    values = np.percentile(np.asarray(samples_ms, dtype=np.float64), [50, 95, 99])
    return {key: round(float(v), 3) for key, v in zip(("p50", "p95", "p99"), values, strict=True)}


def peak_rss_mb(pid: int | str = "self") -> float:
    """Process `pid`'s peak resident memory so far (default: this one's), in MB.

    Linux's VmHWM, not getrusage's ru_maxrss: a worker started from a parent that held
    500 MB reported the parent's 500 MB as its own peak, since ru_maxrss survives exec.
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # not Linux
        if pid != "self":
            raise
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def folder_mb(folder: Path) -> float:
    """Bytes on disk under `folder`, in MB."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) / 2**20


def print_table(title: str, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """Rows as an aligned text table under `title`."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            if value != value:  # NaN
                return "-"
            return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
        if isinstance(value, int):
            return f"{value:,}"
        return "-" if value is None else str(value)

    cells = [[cell(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    print(f"\n{title}")
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    sys.stdout.flush()


def run_worker(module: str, arguments: dict[str, Any], timeout: float = 3600) -> dict[str, Any]:
    """Run `module.worker(arguments)` in a new Python process; its peak RSS is its own.

    The worker prints one JSON object as its last line of output.
    """
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    completed = subprocess.run(
        [sys.executable, "-m", "bench.worker", module, json.dumps(arguments)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environment,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"bench worker {module} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def rag_executable() -> list[str]:
    """The argv prefix that starts the installed `rag` command as a user would."""
    script = Path(sys.executable).with_name("rag")
    return [str(script)] if script.exists() else [sys.executable, "-m", "rag"]


def squad_file(name: str) -> Path | None:
    """A SQuAD JSON from shared/data beside the repository, if there is one."""
    for folder in (REPO.parent / "shared" / "data" / "squad", Path("/work/shared/data/squad")):
        if (folder / name).is_file():
            return folder / name
    return None


def squad_paragraphs(name: str = "dev-v1.1.from-explorer.json") -> list[tuple[str, str]]:
    """(title, paragraph) pairs of a SQuAD file, or of the seeds' paragraphs if it is absent."""
    path = squad_file(name)
    if path is None:
        pairs = []
        for seed in sorted((REPO / "seeds").glob("*.txt")):
            for paragraph in seed.read_text(encoding="utf-8").split("\n\n"):
                if len(paragraph.split()) >= 20:
                    pairs.append((seed.stem, paragraph.strip()))
        return pairs
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        (article["title"], paragraph["context"])
        for article in data["data"]
        for paragraph in article["paragraphs"]
    ]


class Timer:
    """`with Timer() as t: ...` then `t.seconds`."""

    def __enter__(self) -> Timer:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
