"""Non-text tool results: images and sounds carried as content, never as base64 text.

A tool returns an :class:`Image` or :class:`Audio` (alone or in a list with text), or a
LangChain standard content block (``{"type": "image", "base64": ..., "mime_type": ...}``);
an MCP tool's image and audio content arrive the same way. The text a model reads names
each such item with a short placeholder (``[image/png, 1.2 KiB]``); the item itself travels
beside the text as a *media part*, a plain JSON-able dict with MCP's field names
(``{"type": "image", "mimeType": "image/png", "data": <base64>}``), which the tool-call log
keeps whole. Whether a model gets the parts as content blocks depends on the model
(:func:`model_modalities`).
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

from langchain_core.language_models import BaseChatModel

__all__ = [
    "Audio",
    "Image",
    "MediaPart",
    "Modalities",
    "content_blocks",
    "media_placeholder",
    "model_modalities",
    "render_pieces",
    "split_content",
]

MediaKind = Literal["image", "audio"]


class MediaPart(TypedDict):
    """An image or a sound from a tool, as the tool-call log keeps it (MCP's field names)."""

    type: MediaKind
    mimeType: str  # noqa: N815 - MCP's spelling
    data: str
    """The bytes, base64-encoded."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Image:
    """An image a ``@tool`` function returns: ``return Image(data=png, mime_type="image/png")``."""

    data: bytes
    mime_type: str = "image/png"

    @classmethod
    def from_file(cls, path: str | Path) -> Image:
        """The image in file ``path`` (the MIME type guessed from its name)."""
        return cls(data=Path(path).read_bytes(), mime_type=_guess(path, "image/png"))

    def part(self) -> MediaPart:
        """This image as a media part."""
        return _part("image", self.data, self.mime_type)


@dataclass(frozen=True, slots=True, kw_only=True)
class Audio:
    """A sound a ``@tool`` function returns: ``return Audio(data=wav, mime_type="audio/wav")``."""

    data: bytes
    mime_type: str = "audio/wav"

    @classmethod
    def from_file(cls, path: str | Path) -> Audio:
        """The sound in file ``path`` (the MIME type guessed from its name)."""
        return cls(data=Path(path).read_bytes(), mime_type=_guess(path, "audio/wav"))

    def part(self) -> MediaPart:
        """This sound as a media part."""
        return _part("audio", self.data, self.mime_type)


def _part(kind: MediaKind, data: bytes, mime_type: str) -> MediaPart:
    return {"type": kind, "mimeType": mime_type, "data": base64.b64encode(data).decode("ascii")}


def _guess(path: str | Path, default: str) -> str:
    return mimetypes.guess_type(str(path))[0] or default


def media_placeholder(part: MediaPart) -> str:
    """The short text that stands for ``part`` in a result: ``[image/png, 1.2 KiB]``."""
    return f"[{part['mimeType']}, {_size(_decoded_size(part['data']))}]"


def _decoded_size(data: str) -> int:
    return len(data) * 3 // 4 - data[-2:].count("=") if data else 0


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def _block_part(block: Mapping[str, Any]) -> MediaPart | None:
    """An image/audio block with inline base64 data as a media part.

    Either a LangChain standard block (``base64``, ``mime_type``) or a media part already
    (MCP's ``data``, ``mimeType``).
    """
    kind = block.get("type")
    data = block.get("base64", block.get("data"))
    mime = block.get("mime_type", block.get("mimeType"))
    if kind not in ("image", "audio") or not isinstance(data, str) or not isinstance(mime, str):
        return None
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    return {"type": "image" if kind == "image" else "audio", "mimeType": mime, "data": data}


def split_content(value: object) -> tuple[list[str | MediaPart], bool]:
    """A tool's return value as text pieces and media parts, in order.

    Returns the pieces and whether ``value`` held any media at all (when not, the caller
    renders the value as before: a string as is, anything else as JSON).
    """
    items: Sequence[object]
    if isinstance(value, (Image, Audio, Mapping)):
        items = [value]
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return [], False
    pieces: list[str | MediaPart] = []
    found = False
    for item in items:
        part = (
            item.part()
            if isinstance(item, (Image, Audio))
            else _block_part(item)
            if isinstance(item, Mapping)
            else None
        )
        if part is not None:
            pieces.append(part)
            found = True
        elif isinstance(item, Mapping) and item.get("type") == "text":
            pieces.append(str(item.get("text", "")))
        elif isinstance(item, str):
            pieces.append(item)
        else:
            return [], False  # a list of other values is a value, not content
    return pieces, found


def render_pieces(pieces: Sequence[str | MediaPart]) -> tuple[str, list[MediaPart]]:
    """The text of ``pieces`` (media parts as placeholders) and the media parts."""
    texts: list[str] = []
    media: list[MediaPart] = []
    for piece in pieces:
        if isinstance(piece, str):
            texts.append(piece)
        else:
            texts.append(media_placeholder(piece))
            media.append(piece)
    return "\n".join(texts), media


@dataclass(frozen=True, slots=True, kw_only=True)
class Modalities:
    """Which media a model takes, and where (see :func:`model_modalities`)."""

    image: bool = False
    audio: bool = False
    image_in_tool_message: bool = False
    """Images may go inside a ``ToolMessage``; else they follow in a user message."""


def model_modalities(model: object) -> Modalities:
    """What ``model`` accepts, from its LangChain model profile.

    A chat model's ``profile`` (langchain-core 1.x) says ``image_inputs`` and
    ``audio_inputs``; ``image_tool_message`` says whether images may sit in a tool message
    (when the profile does not say, images follow in a user message). A model without a
    profile is taken as text-only. Override with ``model.profile = {...}``.
    """
    profile = getattr(model, "profile", None) if isinstance(model, BaseChatModel) else None
    if not isinstance(profile, Mapping):
        return Modalities()
    image = bool(profile.get("image_inputs"))
    return Modalities(
        image=image,
        audio=bool(profile.get("audio_inputs")),
        image_in_tool_message=image and bool(profile.get("image_tool_message")),
    )


def content_blocks(
    media: Sequence[MediaPart], modalities: Modalities
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """LangChain standard content blocks for the media the model takes.

    Returns the blocks to put in the tool message and those to send after it in a user
    message; media the model does not take are left out (their placeholders stay in the
    text).
    """
    in_tool: list[dict[str, Any]] = []
    after: list[dict[str, Any]] = []
    for part in media:
        block = {"type": part["type"], "base64": part["data"], "mime_type": part["mimeType"]}
        if part["type"] == "image" and modalities.image:
            (in_tool if modalities.image_in_tool_message else after).append(block)
        elif part["type"] == "audio" and modalities.audio:
            after.append(block)
    return in_tool, after
