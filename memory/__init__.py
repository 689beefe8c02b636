"""Shared vector-store memory for teams (chromadb); the store itself arrives with issue 6."""
