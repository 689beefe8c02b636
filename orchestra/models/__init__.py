"""Models: resolving model strings, the embedded default model, structured-output helpers."""

from orchestra.models.resolve import MODEL_ENV, ModelSpec, resolve_model

__all__ = ["MODEL_ENV", "ModelSpec", "resolve_model"]
