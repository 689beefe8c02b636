"""The engine: the LangGraph state machine, event-driven dispatch and checkpoints."""
