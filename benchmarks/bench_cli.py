"""Seconds for `newsclf [COMMAND] --help` in a fresh process, per subcommand.

    .venv/bin/python benchmarks/bench_cli.py [--repeat 5]

The tests check that --help imports no torch; this measures how long it takes (best of
--repeat runs, so a busy moment on a shared machine does not count).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

COMMANDS = [None, "train", "evaluate", "predict", "plot", "embed", "report", "serve"]


def seconds(command: str | None, repeat: int) -> float:
    args = [sys.executable, "-m", "newsclf", *([command] if command else []), "--help"]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(args, capture_output=True, check=True)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per command; the best counts")
    args = parser.parse_args(argv)
    results = {}
    for command in COMMANDS:
        name = f"newsclf {command} --help" if command else "newsclf --help"
        results[name] = seconds(command, args.repeat)
        print(f"{name:<28} {results[name]:.3f} s", flush=True)
    return results


if __name__ == "__main__":
    main()
