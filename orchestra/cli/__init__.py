"""The ``orchestra`` command line (``python -m orchestra.cli`` works too)."""
