"""Where orchestra keeps its files on this machine."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["HOME_ENV", "orchestra_home"]

HOME_ENV = "ORCHESTRA_HOME"
"""Where orchestra keeps its files (default: ``.orchestra`` in the working directory)."""


def orchestra_home() -> Path:
    """``$ORCHESTRA_HOME``, else ``./.orchestra``."""
    return Path(os.environ.get(HOME_ENV) or ".orchestra")
