"""JSON-schema grammars for the embedded model, with every literal escaped.

llama-cpp-python turns a ``response_format`` schema into a llama.cpp grammar, but its
converter escapes only CR, LF and ``"`` in literals (enum and const values, property
names), not the backslash. A value holding a quote or a backslash (a tool named
``say "hi"``, which JSON encodes with backslashes) made a grammar llama.cpp cannot parse, and the
process died in native code (exit 139, no error). Orchestra builds the grammar itself,
escaping the backslash too, and passes it as ``grammar``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llama_cpp.llama_grammar import LlamaGrammar

__all__ = ["gbnf_for", "gbnf_literal", "grammar_for"]

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\r": "\\r", "\n": "\\n"}


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal: quoted; backslash, quote, CR and LF escaped."""
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in text) + '"'


def gbnf_for(schema: Mapping[str, Any]) -> str:
    """The llama.cpp grammar (GBNF) of replies valid under the JSON ``schema``."""
    return _gbnf(json.dumps(schema))  # key order kept: it is the order keys are written in


def grammar_for(schema: Mapping[str, Any]) -> LlamaGrammar:
    """The grammar of ``schema`` for ``create_chat_completion(grammar=...)``."""
    from llama_cpp.llama_grammar import LlamaGrammar

    return LlamaGrammar.from_string(gbnf_for(schema), verbose=False)


@lru_cache(maxsize=64)
def _gbnf(schema_json: str) -> str:
    from llama_cpp.llama_grammar import SchemaConverter

    class _Converter(SchemaConverter):  # type: ignore[misc]
        def _format_literal(self, literal: str) -> str:
            return gbnf_literal(literal)

    converter = _Converter(  # type: ignore[no-untyped-call]
        prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False
    )
    schema = converter.resolve_refs(json.loads(schema_json), "stdin")
    converter.visit(schema, "")  # type: ignore[no-untyped-call]
    grammar: str = converter.format_grammar()  # type: ignore[no-untyped-call]
    return grammar
