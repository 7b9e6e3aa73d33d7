"""Entry point of a benchmark's child process: `python -m bench.worker MODULE JSON`."""

from __future__ import annotations

import importlib
import json
import sys


def main() -> None:
    module = importlib.import_module(f"bench.{sys.argv[1]}")
    result = module.worker(json.loads(sys.argv[2]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
