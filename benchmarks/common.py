"""What every benchmark shares: where results go, and resident memory."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"

DEFAULT_DAGS = Path(__file__).resolve().parents[2] / "shared" / "eval" / "sample-dags.jsonl"
"""The public sample of gold task graphs, beside the repository (``../shared/eval``)."""


def dags_file(value: str) -> Path:
    """``--dags``: a task-graph file that exists (else a one-line usage error)."""
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(
            f"no task-graph file at {path} (pass --dags FILE.jsonl, one record a line)"
        )
    return path


def add_dags_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--dags FILE`` option every task-graph benchmark takes."""
    parser.add_argument(
        "--dags", type=dags_file, default=str(DEFAULT_DAGS), help="gold task graphs (JSONL)"
    )


def save(name: str, result: dict[str, Any]) -> str:
    """Write ``results/<name>.json``; the JSON text back."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2)
    (RESULTS_DIR / f"{name}.json").write_text(text + "\n")
    return text


def publish(name: str, result: dict[str, Any]) -> None:
    """Write ``results/<name>.json`` and print the same JSON to stdout."""
    sys.stdout.write(save(name, result) + "\n")


def rss_mb() -> float:
    """Resident memory of this process in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")
