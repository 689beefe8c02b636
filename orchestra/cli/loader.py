"""Loading a team from ``path/to/file.py:name``."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from orchestra.core.errors import ConfigError
from orchestra.team import Team

__all__ = ["load_team"]


def load_team(target: str) -> Team[Any]:
    """The ``Team`` named by ``target`` (``file.py:attr``); ``attr`` may be a factory.

    Raises:
        ConfigError: the file or attribute does not exist, or is not a team.
    """
    path_text, sep, attr = target.rpartition(":")
    if not sep or not path_text or not attr:
        raise ConfigError(f"target must look like path/to/file.py:team, got {target!r}")
    path = Path(path_text)
    if not path.is_file():
        raise ConfigError(f"no such file: {path}")
    module_name = f"_orchestra_target_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    if not hasattr(module, attr):
        raise ConfigError(f"{path} has no attribute {attr!r}")
    obj = getattr(module, attr)
    if inspect.isfunction(obj):
        obj = obj()
    if not isinstance(obj, Team):
        raise ConfigError(f"{target} is a {type(obj).__name__}, not an orchestra Team")
    return obj
