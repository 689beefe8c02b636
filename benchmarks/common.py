"""What every benchmark shares: where results go, and resident memory."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


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
