"""A chat model hosted in a Ray actor: :class:`RemoteModel`.

For local models that need what the team's machine lacks (a GPU, memory): the model is
built *inside* a Ray actor by a factory you give, on a node with the resources you ask
for, and loaded once; every call (the agents' tool-calling and structured calls included)
goes to that actor. The agents' loops stay in the team's process with the rest of the
engine; only the expensive part, the model, runs on the cluster.

    from orchestra.executors import RemoteModel
    from orchestra.models.embedded import EmbeddedChatModel

    gpu_model = RemoteModel(EmbeddedChatModel.default, num_gpus=1)
    team = Team(model, models={"local-gpu": gpu_model},
                roles=[Role(name="analyst", ..., model="local-gpu")])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr

from orchestra.core.errors import ConfigError
from orchestra.executors.ray import RayExecutor, await_remote, ray_module

__all__ = ["RemoteModel"]

_SCHEMA_KEY = "orchestra_schema"
"""Bound keyword carrying a JSON schema for the hosted model to answer under."""


class RemoteModel(BaseChatModel):
    """A chat model built and called in a Ray actor (see the module docstring).

    Args:
        factory: builds the model, inside the actor (it must be picklable: a class, a
            module-level function, or a closure over picklable values).
        num_cpus / num_gpus / resources: what the actor needs on the cluster.
        max_concurrency: calls the hosted model serves at once (1: one after another,
            right for a single local model).
        native_tools: whether the hosted model calls tools natively; False makes the
            executors use orchestra's JSON-action protocol instead.
        executor: the Ray to use (default: ``RayExecutor()``, which joins
            ``RAY_ADDRESS`` or starts Ray in this process).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    factory: Callable[[], BaseChatModel]
    num_cpus: float = Field(default=1.0, ge=0)
    num_gpus: float = Field(default=0.0, ge=0)
    resources: dict[str, float] = Field(default_factory=dict)
    max_concurrency: int = Field(default=1, ge=1)
    native_tools: bool = True
    model_name: str = "remote"
    executor: RayExecutor | None = None
    _actor: Any = PrivateAttr(default=None)

    def __init__(self, factory: Callable[[], BaseChatModel] | None = None, /, **data: Any):
        if factory is not None:
            data["factory"] = factory
        super().__init__(**data)

    @property
    def _llm_type(self) -> str:
        return "orchestra-remote"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; the hosted model binds them in its own format."""
        if not self.native_tools:
            raise NotImplementedError("this remote model has no native tool calling")
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def bind_schema(self, schema: dict[str, Any]) -> Runnable[LanguageModelInput, BaseMessage]:
        """This model answering under ``schema``, the reply left for the caller to parse.

        The hosted model decodes under the schema its own way (a grammar, native JSON
        schema or a tool call); see :class:`orchestra.models.structured.SchemaDecoder`.
        """
        return self.bind(**{_SCHEMA_KEY: schema})

    def _host(self) -> Any:
        if self._actor is None:
            (self.executor or RayExecutor()).connect()
            options: dict[str, Any] = {
                "num_cpus": self.num_cpus,
                "num_gpus": self.num_gpus,
                "max_concurrency": self.max_concurrency,
            }
            if self.resources:
                options["resources"] = dict(self.resources)
            self._actor = _host_class().options(**options).remote(self.factory)
        return self._actor

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        metadata = dict(run_manager.metadata) if run_manager is not None else {}
        ref = self._host().generate.remote(messages, stop, kwargs, metadata)
        message = await await_remote(ref)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        ray = ray_module()
        metadata = dict(run_manager.metadata) if run_manager is not None else {}
        message = ray.get(self._host().generate.remote(messages, stop, kwargs, metadata))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def close(self) -> None:
        """Kill the actor (and so unload the model); the next call starts a new one."""
        if self._actor is not None:
            ray_module().kill(self._actor)
            self._actor = None


class _ModelHost:
    """The body of the actor: one model, built here, answering calls."""

    def __init__(self, factory: Callable[[], BaseChatModel]) -> None:
        self._model = factory()
        if not isinstance(self._model, BaseChatModel):
            raise ConfigError(
                f"RemoteModel's factory made a {type(self._model).__name__}, not a chat model"
            )

    async def generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        metadata: dict[str, Any],
    ) -> BaseMessage:
        model: Runnable[Any, Any] = self._model
        schema = kwargs.pop(_SCHEMA_KEY, None)
        tools = kwargs.pop("tools", None)
        if stop:
            kwargs["stop"] = stop
        if schema is not None:
            model, kwargs = self._structured(schema), {}
        elif tools:
            model = self._model.bind_tools(tools, **kwargs)
            kwargs = {}
        config: RunnableConfig = {"metadata": metadata}  # who calls: agent, task, role
        reply = await model.ainvoke(messages, config=config, **kwargs)
        if isinstance(reply, dict):  # with_structured_output(include_raw=True)
            reply = reply["raw"]
        if not isinstance(reply, BaseMessage):
            raise TypeError(f"the hosted model returned {type(reply).__name__}, not a message")
        return reply

    def _structured(self, schema: dict[str, Any]) -> Runnable[Any, Any]:
        bind_schema = getattr(self._model, "bind_schema", None)
        if callable(bind_schema):
            return bind_schema(schema)  # type: ignore[no-any-return]
        try:
            return self._model.with_structured_output(schema, include_raw=True)
        except NotImplementedError:  # JSON in the text: the prompt asks for it
            return self._model


@cache
def _host_class() -> Any:
    return ray_module().remote(_ModelHost)
