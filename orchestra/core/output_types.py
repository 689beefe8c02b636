"""Typed outputs: what ``Team(output_type=...)`` and ``Role(output_type=...)`` accept.

An output type is a pydantic model, a dataclass, a ``TypedDict`` or any type pydantic can
validate (``list[str]``, ``int``, ``Literal[...]``, ...). The model answers under a JSON
schema made from it: a pydantic model's own schema, anything else wrapped as the one
field ``output`` of an object (structured output and tool calling want an object). The
value is kept as JSON (checkpoints and records hold JSON) and turned back into the type
when a result is read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, TypeVar, cast, get_origin

from pydantic import BaseModel, ConfigDict, JsonValue, TypeAdapter, ValidationError, create_model
from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError

from orchestra.core.errors import ConfigError
from orchestra.core.parsing import extract_json

__all__ = ["OutputSpec", "output_spec"]

T = TypeVar("T")

WRAPPED_FIELD = "output"
"""The field a wrapped (non-model) output type's value is answered under."""


@dataclass(frozen=True, eq=False)
class OutputSpec(Generic[T]):
    """How one output type is asked for, validated, kept as JSON and read back."""

    type_: Any
    """The user's type (``type[T]`` for classes; a typing form such as ``list[str]``)."""
    reply_model: type[BaseModel]
    """What the model answers under (the type itself, or a wrapper with ``output``)."""
    wrapped: bool

    @property
    def name(self) -> str:
        """The type's name, for messages."""
        return getattr(self.type_, "__name__", None) or str(self.type_)

    @cached_property
    def adapter(self) -> TypeAdapter[T]:
        """Validates and dumps values of the type."""
        return TypeAdapter(self.type_)

    @cached_property
    def json_schema(self) -> dict[str, Any]:
        """The JSON schema of a reply (what prompts show and grammars constrain)."""
        return self.reply_model.model_json_schema()

    def value_of(self, reply: BaseModel) -> T:
        """The typed value in a validated reply."""
        if self.wrapped:
            return cast(T, getattr(reply, WRAPPED_FIELD))
        return cast(T, reply)

    def to_json(self, value: T) -> JsonValue:
        """``value`` as JSON data (what checkpoints and records keep)."""
        return cast(JsonValue, self.adapter.dump_python(value, mode="json"))

    def from_json(self, data: JsonValue) -> T:
        """The typed value of JSON data kept by :meth:`to_json`.

        Raises:
            pydantic.ValidationError: ``data`` is not a value of the type (e.g. the type
                changed since the run was checkpointed).
        """
        return self.adapter.validate_python(data)

    def text(self, value: T) -> str:
        """``value`` as the JSON text dependent tasks, leads, checks and the critic read."""
        return json.dumps(self.to_json(value), ensure_ascii=False, indent=2)

    def parse_text(self, text: str) -> T | None:
        """The typed value written in ``text`` (JSON, maybe fenced), or None if there is none.

        Accepts the reply shape (``{"output": ...}`` for wrapped types) or the bare value.
        """
        try:
            data = json.loads(text.strip(), strict=False)
        except ValueError:
            try:
                data = extract_json(text)
            except ValueError:
                return None
        try:
            return self.value_of(self.reply_model.model_validate(data))
        except ValidationError:
            pass
        if self.wrapped:
            try:
                return self.adapter.validate_python(data)
            except ValidationError:
                return None
        return None

    def instructions(self, *, constrained: bool = False) -> str:
        """How to write a result of this type, for a prompt.

        ``constrained``: the model answers under the schema anyway (a grammar, native
        structured output), so only the fields are named; a small model shown a whole
        schema tends to copy its keywords into the answer.
        """
        if constrained:
            return f"Answer as JSON: an object with {self.fields()}."
        schema = json.dumps(self.json_schema, ensure_ascii=False)
        return (
            "Write your final result as one JSON object matching this JSON schema, and"
            f" nothing else:\n{schema}"
        )

    def fields(self) -> str:
        """The reply's fields and their JSON types, e.g. ``title (string), points (array)``."""
        properties: dict[str, Any] = self.json_schema.get("properties", {})
        return ", ".join(f"{name} ({_json_type(spec)})" for name, spec in properties.items())


def output_spec(output_type: object, *, where: str = "output_type") -> OutputSpec[Any]:
    """The :class:`OutputSpec` of ``output_type``.

    Raises:
        ConfigError: pydantic cannot make a schema for ``output_type``.
    """
    if isinstance(output_type, type) and issubclass(output_type, BaseModel):
        reply_model: type[BaseModel] = output_type
        wrapped = False
    else:
        if output_type is object or not (
            isinstance(output_type, type) or get_origin(output_type) is not None
        ):
            raise ConfigError(
                f"{where}: {output_type!r} is not a type of answer (give a pydantic model,"
                " a dataclass, a typing_extensions.TypedDict or a type such as list[str])"
            )
        try:
            name = getattr(output_type, "__name__", None) or "Output"
            reply_model = create_model(
                f"{name}Reply",
                __config__=ConfigDict(title=name),
                **{WRAPPED_FIELD: (output_type, ...)},  # type: ignore[call-overload]
            )
            reply_model.model_json_schema()
        except (PydanticSchemaGenerationError, PydanticUserError, TypeError) as exc:
            raise ConfigError(
                f"{where}: pydantic cannot validate {output_type!r}: {_first_line(exc)}"
            ) from exc
        wrapped = True
    try:
        TypeAdapter(cast(Any, output_type)).json_schema()
    except (PydanticSchemaGenerationError, PydanticUserError, TypeError) as exc:
        raise ConfigError(
            f"{where}: pydantic cannot validate {output_type!r}: {_first_line(exc)}"
        ) from exc
    return OutputSpec(type_=output_type, reply_model=reply_model, wrapped=wrapped)


def _json_type(spec: dict[str, Any]) -> str:
    kind = spec.get("type")
    if kind == "array" and isinstance(spec.get("items"), dict) and "type" in spec["items"]:
        return f"array of {spec['items']['type']}"
    if isinstance(kind, str):
        return kind
    return "object" if "$ref" in spec or "properties" in spec else "value"


def _first_line(exc: Exception) -> str:
    """Pydantic's first line, without its hints for model authors."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first.split(". Set `arbitrary_types_allowed")[0]
