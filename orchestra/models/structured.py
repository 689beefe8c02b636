"""Structured output on orchestra's own chat models: schema binding and one shared parser."""

from __future__ import annotations

import copy
import functools
from typing import Any, Protocol, cast, runtime_checkable

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel

from orchestra.core.messages import message_text
from orchestra.core.parsing import extract_json

__all__ = [
    "SchemaDecoder",
    "as_schema_decoder",
    "json_schema_of",
    "parse_reply",
    "shared_json_schema_of",
    "structured_output_parser",
]


def json_schema_of(schema: type[BaseModel] | dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of a pydantic model, or ``schema`` itself when it is one already.

    A model's schema is generated once (about 0.7 ms each time otherwise, on every
    structured call) and handed out as a copy the caller may change.
    """
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return copy.deepcopy(_model_schema(schema))
    return schema


def shared_json_schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of ``model``, the same dict on every call: read it, never change it."""
    return _model_schema(model)


@functools.cache
def _model_schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


@runtime_checkable
class SchemaDecoder(Protocol):
    """A chat model that answers under a JSON schema when bound to one (orchestra's own).

    The agents call such a model directly and parse its reply once, with
    :func:`parse_reply`, instead of going through a ``with_structured_output`` chain
    (which costs more framework time per call than the call of a scripted model).
    """

    def bind_schema(self, schema: dict[str, Any]) -> Runnable[LanguageModelInput, BaseMessage]:
        """This model with its replies decoded under ``schema``; replies stay messages."""
        ...


def as_schema_decoder(model: object) -> SchemaDecoder | None:
    """``model`` if it is a :class:`SchemaDecoder`, else None.

    The same test as ``isinstance(model, SchemaDecoder)``, without a runtime protocol
    check's cost on every structured call.
    """
    return cast(SchemaDecoder, model) if callable(getattr(model, "bind_schema", None)) else None


def parse_reply(message: BaseMessage) -> Any:
    """The JSON data of a structured reply: the first tool call's args, or the JSON text.

    Raises:
        ValueError: the text holds no JSON value.
    """
    if isinstance(message, AIMessage) and message.tool_calls:
        return message.tool_calls[0]["args"]
    return extract_json(message_text(message))


def structured_output_parser(
    schema: type[BaseModel] | dict[str, Any], *, include_raw: bool
) -> Runnable[BaseMessage, Any]:
    """Parse a reply (JSON text, or the first tool call's args) into ``schema``.

    With ``include_raw`` the result is ``{"raw", "parsed", "parsing_error"}`` and parse
    errors are returned, not raised, as langchain's own models do.
    """

    def parse(message: BaseMessage) -> Any:
        try:
            data = parse_reply(message)
            parsed = (
                schema.model_validate(data)
                if isinstance(schema, type) and issubclass(schema, BaseModel)
                else data
            )
        except ValueError as exc:
            if include_raw:
                return {"raw": message, "parsed": None, "parsing_error": exc}
            raise
        return {"raw": message, "parsed": parsed, "parsing_error": None} if include_raw else parsed

    async def aparse(message: BaseMessage) -> Any:
        return parse(message)  # no worker thread for a few microseconds of parsing

    return RunnableLambda(parse, afunc=aparse)
