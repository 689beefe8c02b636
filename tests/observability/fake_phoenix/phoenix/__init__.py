"""A stand-in for Arize Phoenix in dashboard tests (put this folder on ``PYTHONPATH``)."""
