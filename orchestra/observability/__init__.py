"""Observing runs: OpenTelemetry traces, the live view, run history and reports.

The engine, agents and tools write spans through :mod:`orchestra.observability.spans`
(OpenTelemetry API only); exporters, views and reports live in the other modules.
"""
