"""Serving teams over HTTP: ``orchestra serve FILE.py:team`` (see docs/serving.md)."""

from orchestra.serve.app import create_app
from orchestra.serve.runs import QueueFull, RunLog, RunManager

__all__ = ["QueueFull", "RunLog", "RunManager", "create_app"]
