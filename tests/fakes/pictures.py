"""What each vendor's API answers a spec-valid request whose picture it cannot take, beyond what its spec's schema
says (which the fakes check first: required fields, enums): the bytes' base64 and what they are, the media types the
vendor reads, a URL it would fetch, and a model that reads text alone. Read independently of magsag's own
``images.py``: the file's own magic bytes, the vendor's own lists.

Each function returns ``(message, is_violation)`` or None: a violation is a request no version of the API takes as
written (a field the vendor requires in practice, bytes that are no base64), which a test must fail on; else the
vendor's refusal of data it could not use (a model that takes no pictures, a media type it does not read)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

#: a data URL as OpenAI documents it: data:<image media type>;base64,<data>
_DATA_URL = re.compile(r"data:(?P<type>[^;,]*);base64,(?P<data>.*)", re.S)
#: what OpenAI and Anthropic read (Anthropic's Base64ImageSource enum, OpenAI's vision guide)
PICTURE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
#: what Gemini reads as a picture (its "Supported image formats": PNG, JPEG, WEBP, HEIC, HEIF; no GIF)
GEMINI_PICTURE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")
#: OpenAI's models that read text alone, which answer a picture with the refusal below
_TEXT_ONLY = re.compile(r"gpt-3\.5|o1-preview|o1-mini|o3-mini|gpt-4-0613|gpt-4$")


def _bytes(data: Any) -> bytes | None:
    if not isinstance(data, str) or not data:
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def _magic(raw: bytes) -> str | None:
    """The media type a file's first bytes say."""
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if raw.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if raw.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "image/webp"
    return None


def openai_picture_refusal(body: dict[str, Any], *, responses: bool = False) -> tuple[str, bool] | None:
    """Chat Completions' ``image_url`` parts (``messages[].content[]``) or the Responses API's ``input_image``
    parts (``input[].content[]``)."""
    turns = body.get("input") if responses else body.get("messages")
    for i, turn in enumerate(turns if isinstance(turns, list) else []):
        content = turn.get("content") if isinstance(turn, dict) else None
        if responses and isinstance(turn, dict) and turn.get("type") == "function_call_output":
            content = turn.get("output")  # (FunctionCallOutputItemParam.output: a string, or input parts)
        for j, part in enumerate(content if isinstance(content, list) else []):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in ("image_url", "input_image"):
                continue
            if _TEXT_ONLY.search(str(body.get("model", ""))):
                return f"Invalid content type. {kind} is only supported by certain models.", False
            url = part["image_url"]["url"] if kind == "image_url" else part.get("image_url")
            where = f"messages[{i}].content[{j}].image_url.url" if kind == "image_url" else f"input[{i}].content[{j}]"
            if not isinstance(url, str):
                return f"{where}: image_url must be a string URL", True
            if url.startswith("https://"):
                continue
            found = _DATA_URL.fullmatch(url)
            if found is None:
                return f"Invalid image URL: '{where}'. Expected a valid URL or a base64-encoded data URL.", True
            if found["type"] not in PICTURE_TYPES:
                return (
                    f"Invalid image URL: '{where}'. Expected a base64-encoded data URL with an image MIME type (e.g. "
                    f"'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got unsupported MIME type '{found['type']}'.",
                    False,
                )
            raw = _bytes(found["data"])
            if raw is None:
                return f"Invalid image URL: '{where}'. The data is not valid base64.", True
            if _magic(raw) is None:
                return "You uploaded an unsupported image. Please make sure your image is valid.", False
    return None


def anthropic_picture_refusal(body: dict[str, Any]) -> tuple[str, bool] | None:
    """Messages' ``image`` blocks: the base64 decodes and is the picture its ``media_type`` says."""
    for i, turn in enumerate(body.get("messages") or []):
        content = turn.get("content") if isinstance(turn, dict) else None
        blocks = [(f"{j}", block) for j, block in enumerate(content if isinstance(content, list) else [])]
        for j, block in list(blocks):  # (a tool_result's content takes image blocks too)
            inner = block.get("content") if isinstance(block, dict) and block.get("type") == "tool_result" else None
            blocks.extend((f"{j}.content.{k}", each) for k, each in enumerate(inner if isinstance(inner, list) else []))
        for j, block in blocks:
            if not isinstance(block, dict) or block.get("type") != "image":
                continue
            source = block["source"]
            if source.get("type") == "url":
                if not str(source.get("url", "")).startswith("https://"):
                    return f"messages.{i}.content.{j}.image.source.url: Only HTTPS URLs are supported.", True
                continue
            raw = _bytes(source.get("data"))
            if raw is None:
                return f"messages.{i}.content.{j}.image.source.base64.data: invalid base64 data", True
            if _magic(raw) != source.get("media_type"):
                return (
                    f"messages.{i}.content.{j}.image.source.base64.data: Image does not match the provided media "
                    f"type {source.get('media_type')}",
                    True,
                )
    return None


def gemini_picture_refusal(body: dict[str, Any]) -> tuple[str, bool] | None:
    """generateContent's ``inlineData`` (Blob) and ``fileData`` parts."""
    for i, content in enumerate(body.get("contents") or []):
        for j, part in enumerate(content.get("parts") or []):
            where = f"contents[{i}].parts[{j}]"
            if "fileData" in part:
                uri = str((part["fileData"] or {}).get("fileUri", ""))
                if not uri.startswith("https://generativelanguage.googleapis.com/v1beta/files/"):
                    return f"* GenerateContentRequest.{where}.file_data.file_uri: Invalid or unsupported file uri", True
            blob = part.get("inlineData")
            if blob is None:
                continue
            mime, data = blob.get("mimeType"), blob.get("data")
            if not mime:
                return f"* GenerateContentRequest.{where}.inline_data.mime_type: mime_type is not specified", True
            if _bytes(data) is None:
                return (
                    f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 decoding failed",
                    True,
                )
            if mime.startswith("image/") and mime not in GEMINI_PICTURE_TYPES:
                return f"Unsupported MIME type: {mime}", False
    return None
