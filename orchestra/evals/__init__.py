"""Measuring orchestra on task graphs it did not write: replays of gold DAGs and planner scores."""
