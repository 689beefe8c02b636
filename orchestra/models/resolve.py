"""Turning what a user says about a model into a langchain-core chat model.

Accepted everywhere a model is configured (``Team(model=...)``, ``models={...}``,
``Role(model=...)``, ``ORCHESTRA_MODEL``):

* a ``BaseChatModel`` object, used as is;
* ``"provider:model"``, e.g. ``"openai:gpt-4.1-mini"``, ``"anthropic:claude-sonnet-4-5"``,
  ``"ollama:qwen2.5"``: through langchain's ``init_chat_model`` (install the provider's
  extra, e.g. ``pip install 'orchestra-teams[openai]'``);
* ``"provider:model@URL"``: the same with a base URL, e.g. an OpenAI-compatible server
  ``"openai:qwen2.5-7b@http://127.0.0.1:8080/v1"`` or a remote Ollama
  ``"ollama:qwen2.5@http://gpu-box:11434"``;
* a path to a ``.gguf`` file: run in-process by llama.cpp;
* ``"embedded"`` or nothing: the embedded default model (no key, no network).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from orchestra.core.errors import ConfigError

__all__ = ["MODEL_ENV", "ModelSpec", "resolve_model"]

MODEL_ENV = "ORCHESTRA_MODEL"
"""Environment variable naming the default model when a team is given none."""

ModelSpec = BaseChatModel | str | None
"""Anything :func:`resolve_model` accepts."""

_EXTRAS = {
    "openai": "openai",
    "azure_openai": "openai",
    "anthropic": "anthropic",
    "ollama": "ollama",
}


def resolve_model(spec: ModelSpec) -> BaseChatModel:
    """The chat model ``spec`` names (see the module docstring).

    Raises:
        ConfigError: the string names no known provider, its package is missing, or the
            provider refused the configuration (e.g. no API key).
    """
    if isinstance(spec, BaseChatModel):
        return spec
    if spec is None:
        spec = os.environ.get(MODEL_ENV, "").strip() or "embedded"
    if not isinstance(spec, str):
        raise ConfigError(f"a model is a BaseChatModel or a string, not {type(spec).__name__}")
    text = spec.strip()
    if text == "embedded" or text.startswith("embedded:"):
        from orchestra.models.embedded import EmbeddedChatModel

        return EmbeddedChatModel.default()
    if text.endswith(".gguf"):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"no GGUF model file at {path}")
        from orchestra.models.embedded import EmbeddedChatModel

        return EmbeddedChatModel(model_path=str(path))
    return _from_provider(text)


def _from_provider(text: str) -> BaseChatModel:
    name, _, base_url = text.partition("@")
    provider, sep, model = name.partition(":")
    if not sep or not provider or not model:
        raise ConfigError(
            f"model {text!r}: use 'provider:model' (e.g. 'openai:gpt-4.1-mini'),"
            " 'provider:model@URL', a .gguf path, or 'embedded'"
        )
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as exc:  # pragma: no cover - langchain is a dependency
        raise ConfigError("model strings need the 'langchain' package") from exc
    kwargs: dict[str, Any] = {"base_url": base_url} if base_url else {}
    if provider == "openai":
        # streamed replies (tokens=True) must carry their usage too, also from
        # OpenAI-compatible servers at another base URL
        kwargs["stream_usage"] = True
    try:
        model_obj: object = init_chat_model(model, model_provider=provider, **kwargs)
    except ImportError as exc:
        extra = _EXTRAS.get(provider)
        hint = f" (pip install 'orchestra-teams[{extra}]')" if extra else ""
        raise ConfigError(f"model {text!r} needs a provider package{hint}: {exc}") from exc
    except Exception as exc:  # providers raise their own types for bad config
        raise ConfigError(f"model {text!r} could not be created: {exc}") from exc
    if not isinstance(model_obj, BaseChatModel):
        raise ConfigError(f"model {text!r} did not resolve to a chat model")
    return model_obj
