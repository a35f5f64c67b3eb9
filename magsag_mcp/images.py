"""Pictures in a user message (``model_config.messages[i].content[j]``): read from the three shapes callers send
(OpenAI's ``image_url`` part, the canonical one; Anthropic's ``image`` block; an MCP ``ImageContent`` an MCP client
hands on), checked (a media type every vendor takes, a data URL and its base64 whole, an https URL), and bounded in
the tokens each vendor bills one as (:func:`image_tokens_at_most`), which budgets reserve in place of its base64's.

A URL is handed to the vendor, which fetches it; the router never does."""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Mapping
from typing import Any

from .errors import PayloadError
from .types import Image

#: the media types OpenAI, Anthropic (Base64ImageSource.media_type's enum) and Gemini all take for a picture
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
#: OpenAI's ``image_url.detail`` (Chat Completions' enum; the Responses API's ``original`` is no Chat value)
DETAILS = ("auto", "low", "high")
#: the longest side a picture is taken with: a JPEG's, GIF's and WebP's headers can say no more (a PNG's can say
#: 2^31 - 1), and a picture past it, 4 gigapixels, is no screenshot any vendor reads
MAX_SIDE = 65_535
#: the shape a refusal shows
_EXAMPLE = "{'type': 'image_url', 'image_url': {'url': 'data:image/png;base64,...'}}"


def read_image(part: Mapping[str, Any], where: str) -> Image:
    """The picture of a content part ``part`` at ``where`` (``...messages[i].content[j]``), in any of the shapes
    callers send; PayloadError naming what is wrong with it and how to write it. The data is never quoted."""
    kind = part.get("type")
    if kind == "image_url":
        spec = part.get("image_url")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("url"), str):
            raise PayloadError(f"{where}.image_url must be an object with the picture's url, e.g. {_EXAMPLE}")
        _only(spec, ("url", "detail"), f"{where}.image_url")
        return _from_url(spec["url"], f"{where}.image_url.url", _detail(spec.get("detail"), f"{where}.image_url"))
    if kind == "input_image":  # (the Responses API's: image_url is the URL itself)
        if part.get("file_id") is not None:
            raise PayloadError(_no_file_ids(where))
        if not isinstance(part.get("image_url"), str):
            raise PayloadError(f"{where}.image_url must be the picture's URL (https, or a data: URL)")
        return _from_url(part["image_url"], f"{where}.image_url", _detail(part.get("detail"), where))
    if isinstance(part.get("source"), Mapping):  # Anthropic's image block
        return _from_source(part["source"], f"{where}.source")
    if "data" in part or "mimeType" in part:  # MCP's ImageContent
        data, media_type = part.get("data"), part.get("mimeType")
        if not isinstance(data, str) or not isinstance(media_type, str):
            raise PayloadError(f"{where} (MCP's ImageContent) needs data (base64) and mimeType, e.g. 'image/png'")
        return _from_bytes(media_type, data, where, f"{where}.mimeType")
    raise PayloadError(
        f"{where} is an image part with no picture: give {_EXAMPLE} (or an https URL as url), Anthropic's "
        "{'type': 'image', 'source': {'type': 'base64', 'media_type': ..., 'data': ...}}, or MCP's "
        "{'type': 'image', 'data': ..., 'mimeType': ...}"
    )


def _only(spec: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    unknown = sorted(str(key) for key in spec if key not in keys)
    if unknown:
        raise PayloadError(f"{where} takes {', '.join(keys)}; unknown: {', '.join(unknown)}")


def _detail(value: Any, where: str) -> str | None:
    if value is None or value in DETAILS:
        return value
    raise PayloadError(f"{where}.detail must be one of {', '.join(DETAILS)}, got {_short(value)}")


def _no_file_ids(where: str) -> str:
    return (
        f"{where} names a file_id, a file uploaded to one vendor, which no other target can read: send the picture "
        "itself as a data: URL (data:image/png;base64,...)"
    )


def _from_source(source: Mapping[str, Any], where: str) -> Image:
    kind = source.get("type")
    if kind == "base64":
        data, media_type = source.get("data"), source.get("media_type")
        if not isinstance(data, str) or not isinstance(media_type, str):
            raise PayloadError(f"{where} (type base64) needs data and media_type, e.g. 'image/png'")
        return _from_bytes(media_type, data, where, f"{where}.media_type")
    if kind == "url" and isinstance(source.get("url"), str):
        return _from_url(source["url"], f"{where}.url", None)
    if kind == "file":
        raise PayloadError(_no_file_ids(where))
    raise PayloadError(
        f"{where}.type must be 'base64' (with media_type and data) or 'url' (with url), got {_short(kind)}"
    )


def _from_url(url: str, where: str, detail: str | None) -> Image:
    if url[:5].lower() == "data:":
        head, comma, data = url[5:].partition(",")
        media_type, *params = head.split(";")
        # (RFC 2397 lets a media type carry parameters before ";base64", such as a "charset=" some encoders write:
        # the vendors are sent data:<type>;base64,<data> alone, Image.as_url's, so they are dropped here)
        if not comma or not params or params[-1].lower() != "base64" or not all("=" in p for p in params[:-1]):
            raise PayloadError(
                f"{where} is a data URL the vendors do not read: write it data:<media type>;base64,<the picture's "
                "bytes in base64>, e.g. data:image/png;base64,iVBORw0KGgo..."
            )
        return _from_bytes(media_type, data, where, where, detail)
    if url[:8].lower() != "https://" or len(url) <= 8:
        raise PayloadError(
            f"{where} must be an https URL the vendor fetches the picture from, or the picture itself as a data: URL "
            f"(data:image/png;base64,...); got {_short(url)}"
        )
    return Image(url=url, detail=detail)


def _from_bytes(media_type: str, data: str, where: str, type_where: str, detail: str | None = None) -> Image:
    media_type = media_type.strip().lower()
    if media_type == "image/jpg":  # (a common misspelling, the same pictures)
        media_type = "image/jpeg"
    if media_type not in IMAGE_TYPES:
        raise PayloadError(
            f"{type_where}: {_short(media_type)} is not a picture every vendor takes; send one of "
            f"{', '.join(IMAGE_TYPES)}"
        )
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError(
            f"{where}: the picture's data is not base64 (A-Z, a-z, 0-9, + and /, padded with = to a multiple of 4 "
            "characters, nothing else): encode its bytes with standard base64"
        ) from None
    sniffed = image_size(raw)
    if sniffed is None:
        raise PayloadError(
            f"{where}: the data is no PNG, JPEG, GIF or WebP picture that can be read (its header is not one): "
            "send the picture's file bytes, base64-encoded"
        )
    found, width, height = sniffed
    if found != media_type:
        # (Anthropic refuses it, 400 "Image does not match the provided media type"; the others may misread it)
        raise PayloadError(f"{type_where} says {media_type}, but the data is an {found} picture: say {found}")
    if not 0 < width <= MAX_SIDE or not 0 < height <= MAX_SIDE:
        # (the size bounds the tokens a budget reserves for it: a header saying 4,294,967,295 px a side, which a
        # PNG's can, made Gemini's tiles some 8 x 10^15 tokens)
        raise PayloadError(
            f"{where}: its header says {width:,} x {height:,} px, which no picture a vendor reads is (1 to "
            f"{MAX_SIDE:,} px a side): the file is damaged, or scale the picture down"
        )
    if not _whole(found, raw):
        # (every vendor refuses it, 400, once the router has sent it, and a cascade tried it on each target)
        raise PayloadError(
            f"{where}: the {found} picture's data stops short of its end (a file cut off in copying or encoding): "
            "send the whole file's bytes, base64-encoded"
        )
    return Image(media_type=media_type, data=data, detail=detail, width=width, height=height)


def image_size(raw: bytes) -> tuple[str, int, int] | None:
    """The media type, width and height a picture's header says (PNG, GIF, JPEG, WebP), or None."""
    if raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR" and len(raw) >= 24:
        width, height = struct.unpack(">II", raw[16:24])
        return "image/png", width, height
    if raw[:6] in (b"GIF87a", b"GIF89a") and len(raw) >= 10:
        width, height = struct.unpack("<HH", raw[6:10])
        return "image/gif", width, height
    if raw[:2] == b"\xff\xd8":
        return _jpeg_size(raw)
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return _webp_size(raw)
    return None


def _whole(media_type: str, raw: bytes) -> bool:
    """Whether the picture's bytes reach the end its format marks (a PNG's IEND chunk, a JPEG's EOI marker after its
    frame header, the length a WebP's RIFF header gives); a GIF is taken as it is."""
    if media_type == "image/png":
        at = 8
        while at + 8 <= len(raw):  # each chunk: length, type, data, CRC
            (length,) = struct.unpack(">I", raw[at : at + 4])
            if raw[at + 4 : at + 8] == b"IEND":
                return at + 12 <= len(raw)
            at += 12 + length
        return False
    if media_type == "image/jpeg":
        frame = _jpeg_frame(raw)
        return frame is not None and raw.find(b"\xff\xd9", frame) >= 0
    if media_type == "image/webp":
        return len(raw) >= 8 + int.from_bytes(raw[4:8], "little")
    return True


#: the JPEG markers that start a frame (SOF0..SOF15 but DHT, JPG and DAC), whose header holds the size
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(raw: bytes) -> tuple[str, int, int] | None:
    at = _jpeg_frame(raw)
    if at is None:
        return None
    height, width = struct.unpack(">HH", raw[at + 5 : at + 9])
    return "image/jpeg", width, height


def _jpeg_frame(raw: bytes) -> int | None:
    """Where a JPEG's frame header (its SOF marker) is, walking the segments before it; None if none is whole."""
    at = 2
    while at + 4 <= len(raw):
        if raw[at] != 0xFF:
            return None
        marker = raw[at + 1]
        if marker == 0xFF:  # (fill bytes before a marker)
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            at += 2
            continue
        (length,) = struct.unpack(">H", raw[at + 2 : at + 4])
        if marker in _SOF and at + 9 <= len(raw):
            return at
        at += 2 + length
    return None


def _webp_size(raw: bytes) -> tuple[str, int, int] | None:
    chunk = raw[12:16]
    if chunk == b"VP8 " and raw[23:26] == b"\x9d\x01\x2a" and len(raw) >= 30:
        width, height = struct.unpack("<HH", raw[26:30])
        return "image/webp", width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and raw[20:21] == b"\x2f" and len(raw) >= 25:
        bits = int.from_bytes(raw[21:25], "little")
        return "image/webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(raw) >= 30:
        width = int.from_bytes(raw[24:27], "little") + 1
        height = int.from_bytes(raw[27:30], "little") + 1
        return "image/webp", width, height
    return None


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else f"(a {type(value).__name__} of {len(shown):,} characters)"


# The tokens a picture is billed as, by each vendor's published rule (an upper bound; a budget errs high):
#
# - OpenAI, the tiling models (GPT-4o, GPT-4.1, o1, o3): fit in 2048x2048, shortest side to 768, 512 px tiles, a base
#   plus a rate per tile; GPT-4o mini bills 2,833 + 5,667 a tile (its tokens cost less), the most per picture. The
#   patch models (GPT-4.1 mini and nano, o4-mini): 32 px patches, at most 1,536, times up to 2.46 (nano): 3,779.
# - Anthropic: width x height / 750, a picture past 1568 px on its long edge scaled down first (some 1,600 at most);
#   counted from the size as sent, not scaled, up to 4,800 (past the most of the models that read larger pictures),
#   and 4,800 for a URL (its size unknown).
# - Gemini: 258 a 768 px tile (a picture of 384 px or less on both sides is one), and 1,120 a picture for Gemini 3
#   at its default (high) media resolution; taken as at most 2,240 (ultra high) or the tiles of the picture unscaled.
_MINI_BASE, _MINI_TILE = 2833, 5667
_PATCH_MOST = 3779
_CLAUDE_URL = 4800
_GEMINI_LEAST = 2240


def _openai_tiles(width: int | None, height: int | None) -> int:
    if width is None or height is None:
        return 8  # 768 x 2048, the most a picture is scaled to
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        w, h = w * 2048 / max(w, h), h * 2048 / max(w, h)
    if min(w, h) > 768:
        w, h = w * 768 / min(w, h), h * 768 / min(w, h)
    return max(1, math.ceil(w / 512)) * max(1, math.ceil(h / 512))


def _openai(image: Image, model: str) -> int:
    if "4o-mini" in model:
        return _MINI_BASE + _MINI_TILE * _openai_tiles(image.width, image.height)
    return _PATCH_MOST  # (a tiling model's 85 + 170 x 8 tiles, 1,445, is less)


def _anthropic(image: Image) -> int:
    if image.width is None or image.height is None:
        return _CLAUDE_URL
    return min(_CLAUDE_URL, max(1, math.ceil(image.width * image.height / 750)))


def _gemini(image: Image) -> int:
    if image.width is None or image.height is None:
        return _GEMINI_LEAST  # (Gemini is sent no URL: see images_by_url)
    tiles = math.ceil(image.width / 768) * math.ceil(image.height / 768)
    return max(_GEMINI_LEAST, 258 * tiles)


def image_tokens_at_most(image: Image, provider: str | None, model: str = "") -> int:
    """The most tokens ``provider``'s ``model`` bills ``image`` as; with no provider, or one that may serve any vendor's
    models (Azure's deployments, compatible and local servers), the most any vendor's rule gives."""
    if provider == "anthropic":
        return _anthropic(image)
    if provider == "google":
        return _gemini(image)
    # (OpenAI's too: a gateway at OPENAI_BASE_URL may serve any vendor's model under any name; the name says only
    # whether GPT-4o mini's rule, the most per picture, is the one)
    openai = _openai(image, model if provider == "openai" else "4o-mini")
    return max(openai, _anthropic(image), _gemini(image))
