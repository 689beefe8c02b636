"""Prompt templates, kept as files in ``prompts/`` and filled with ``$name`` placeholders."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from string import Template

__all__ = ["render"]


@cache
def _template(name: str) -> Template:
    return Template(files(__package__).joinpath("prompts", f"{name}.md").read_text("utf-8"))


def render(name: str, **values: object) -> str:
    """The prompt ``prompts/<name>.md`` with every ``$placeholder`` filled.

    A placeholder without a value raises ``KeyError``: a half-filled prompt is a bug.
    """
    return _template(name).substitute({k: str(v) for k, v in values.items()}).strip()
