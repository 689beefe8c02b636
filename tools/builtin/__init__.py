"""Built-in tools, opt-in: a confined workspace and an allowlisted HTTP fetch."""

from orchestra.tools.builtin.http import HttpFetch
from orchestra.tools.builtin.workspace import Workspace

__all__ = ["HttpFetch", "Workspace"]
