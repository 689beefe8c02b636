"""Core types: the task tree, role specs, events, run records and errors.

This package imports nothing else of orchestra; everything else builds on it.
"""
