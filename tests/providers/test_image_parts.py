"""Pictures in a user message (``model_config.messages``), in OpenAI's, Anthropic's and MCP's shapes: sent to every
wire format as its spec writes a picture (the fakes check each field, and the bytes), refused with a clear error where
they are malformed or no vendor could read them, passed over where one target cannot take them (Gemini and a URL),
counted by budgets at the most tokens a vendor bills one as rather than as their base64, and never stored."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from magsag_mcp import errors as E
from magsag_mcp.call_request import _messages, estimate_input_tokens
from magsag_mcp.ledger import UsageFilters
from magsag_mcp.service import Service
from magsag_mcp.types import LLMRequest, Target
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY
from tests.fakes.openai_server import FakeOpenAI as ServedOpenAI

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI
from .test_wire import CASES, IDS, last_body, setup

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parents[2] / "catalog"
QUESTION = "What is in this screenshot?"


def png(width: int, height: int, padding: int = 0) -> bytes:
    """A PNG of ``width`` x ``height`` black pixels, with a private chunk of ``padding`` bytes (a large file)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    filler = bytes((i * 7 + 3) % 251 for i in range(padding))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + (chunk(b"prVt", filler) if padding else b"")
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg(width: int, height: int) -> bytes:
    """A JPEG's header (SOI, JFIF, a baseline frame of one component) and its end: what the size is read from."""
    jfif = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    frame = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + jfif + frame + b"\xff\xd9"


def webp(width: int, height: int) -> bytes:
    """A lossless WebP's header (RIFF, VP8L and its size bits)."""
    bits = (width - 1) | ((height - 1) << 14)
    body = b"VP8L" + struct.pack("<I", 5) + b"\x2f" + struct.pack("<I", bits) + b"\x00"
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


#: a 1 x 1 GIF, whole
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
SHOT = base64.b64encode(png(4, 3)).decode()
SHOT_URL = "data:image/png;base64," + SHOT
WEB_URL = "https://pictures.example.com/q3/shot.png"

#: a picture in each shape a caller sends: (the part, what the message then carries)
SHAPES = {
    "openai": {"type": "image_url", "image_url": {"url": SHOT_URL, "detail": "high"}},
    "anthropic": {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": SHOT}},
    "mcp": {"type": "image", "data": SHOT, "mimeType": "image/png"},
}


def _asking(part: dict[str, Any]) -> LLMRequest:
    return LLMRequest(
        _messages([{"role": "user", "content": [{"type": "text", "text": QUESTION}, part]}]), max_tokens=64
    )


def _sent_parts(case_name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The parts the body's first user turn was sent with."""
    if case_name == "google":
        return body["contents"][0]["parts"]
    if case_name in ("openai-responses", "local"):
        return body["input"][0]["content"]
    turns = body["messages"]
    return next(t for t in turns if t["role"] == "user")["content"]


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_picture_goes_to_every_wire_as_its_spec_writes_it(case, serve, transport, shape):
    # Before: a picture in a user message was sent as the JSON text of the list, the base64 read as words
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "A bar chart of Q3."})
    result = await provider.complete(_asking(SHAPES[shape]), target)
    assert result.text == "A bar chart of Q3."
    assert fake.violations == []
    parts = _sent_parts(case.name, last_body(fake))
    detail = "high" if shape == "openai" else None
    if case.name == "google":
        assert parts == [{"text": QUESTION}, {"inlineData": {"mimeType": "image/png", "data": SHOT}}]
    elif case.name == "anthropic":
        source = {"type": "base64", "media_type": "image/png", "data": SHOT}
        assert parts == [{"type": "text", "text": QUESTION}, {"type": "image", "source": source}]
    elif case.name in ("openai-responses", "local"):
        picture = {"type": "input_image", "image_url": SHOT_URL, "detail": detail or "auto"}
        assert parts == [{"type": "input_text", "text": QUESTION}, picture]
    else:
        image_url = {"url": SHOT_URL, **({"detail": detail} if detail else {})}
        assert parts == [{"type": "text", "text": QUESTION}, {"type": "image_url", "image_url": image_url}]


@pytest.mark.parametrize("case", [c for c in CASES if c.name != "google"], ids=[i for i in IDS if i != "google"])
async def test_a_picture_by_its_https_url_goes_as_the_url_the_vendor_fetches(case, serve, transport):
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "A chart."})
    await provider.complete(_asking({"type": "image_url", "image_url": {"url": WEB_URL}}), target)
    assert fake.violations == []
    [_, picture] = _sent_parts(case.name, last_body(fake))
    if case.name == "anthropic":
        assert picture == {"type": "image", "source": {"type": "url", "url": WEB_URL}}
    elif case.name in ("openai-responses", "local"):
        assert picture == {"type": "input_image", "image_url": WEB_URL, "detail": "auto"}
    else:
        assert picture == {"type": "image_url", "image_url": {"url": WEB_URL}}


@pytest.mark.parametrize(
    ("raw", "media_type"),
    [(jpeg(640, 480), "image/jpeg"), (GIF, "image/gif"), (webp(320, 200), "image/webp")],
    ids=["jpeg", "gif", "webp"],
)
async def test_each_picture_type_every_vendor_takes_is_read_and_sent(serve, transport, raw, media_type):
    [case] = [c for c in CASES if c.name == "anthropic"]
    fake, provider, target = await setup(case, serve, transport)
    data = base64.b64encode(raw).decode()
    await provider.complete(
        _asking({"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{data}"}}), target
    )
    assert fake.violations == []
    [_, picture] = _sent_parts("anthropic", last_body(fake))
    assert picture["source"] == {"type": "base64", "media_type": media_type, "data": data}


#: a shape of a picture that is wrong, the fake it is posted to, and where
WRONG_SHAPES = {
    "chat-url-as-string": (
        "openai",
        "/v1/chat/completions",
        {"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": SHOT_URL}]}]},
    ),
    "chat-detail-unknown": (
        "openai",
        "/v1/chat/completions",
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": SHOT_URL, "detail": "max"}}]}
            ],
        },
    ),
    "chat-not-base64": (
        "openai",
        "/v1/chat/completions",
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,%%"}}]}
            ],
        },
    ),
    "responses-no-detail": (
        "openai",
        "/v1/responses",
        {"model": "gpt-4o", "input": [{"role": "user", "content": [{"type": "input_image", "image_url": SHOT_URL}]}]},
    ),
    "anthropic-no-media-type": (
        "anthropic",
        "/v1/messages",
        {
            "model": "claude-3-5-sonnet-20241022",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": SHOT}}]}],
        },
    ),
    "anthropic-bmp": (
        "anthropic",
        "/v1/messages",
        {
            "model": "claude-3-5-sonnet-20241022",
            "max_tokens": 10,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": SHOT}}
                    ],
                }
            ],
        },
    ),
    "anthropic-type-mismatch": (
        "anthropic",
        "/v1/messages",
        {
            "model": "claude-3-5-sonnet-20241022",
            "max_tokens": 10,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": SHOT}}
                    ],
                }
            ],
        },
    ),
    "gemini-no-mime-type": (
        "gemini",
        "/v1beta/models/gemini-1.5-pro:generateContent",
        {"contents": [{"role": "user", "parts": [{"inlineData": {"data": SHOT}}]}]},
    ),
    "gemini-not-base64": (
        "gemini",
        "/v1beta/models/gemini-1.5-pro:generateContent",
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "no base64!"}}]}]},
    ),
    "gemini-web-url": (
        "gemini",
        "/v1beta/models/gemini-1.5-pro:generateContent",
        {"contents": [{"role": "user", "parts": [{"fileData": {"fileUri": WEB_URL}}]}]},
    ),
}
FAKES = {
    "openai": (FakeOpenAI, {"Authorization": "Bearer ky7Q-a2mZ9x"}),
    "anthropic": (FakeAnthropic, {"x-api-key": "ky7Q-a2mZ9x", "anthropic-version": "2023-06-01"}),
    "gemini": (FakeGemini, {"x-goog-api-key": "ky7Q-a2mZ9x"}),
}


@pytest.mark.parametrize("name", sorted(WRONG_SHAPES))
async def test_the_fakes_refuse_a_picture_written_wrong(serve, name):
    # the fakes check a picture's fields as the specs define them (required fields, enums) and its bytes, so that a
    # wire format that wrote one wrong fails a test
    vendor, path, body = WRONG_SHAPES[name]
    make, headers = FAKES[vendor]
    fake = make("ky7Q-a2mZ9x")
    url = await serve(fake)
    async with aiohttp.ClientSession() as session, session.post(url + path, json=body, headers=headers) as resp:
        assert resp.status == 400, await resp.text()
    assert fake.violations, name


@pytest.mark.parametrize(
    ("part", "said"),
    [
        ({"type": "image_url", "image_url": {"url": "data:image/bmp;base64," + SHOT}}, "'image/bmp' is not a picture"),
        ({"type": "image_url", "image_url": {"url": "data:image/svg+xml;base64," + SHOT}}, "image/png, image/jpeg"),
        ({"type": "image_url", "image_url": {"url": "data:image/png," + SHOT}}, "data:<media type>;base64,"),
        ({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR w0KGgo"}}, "is not base64"),
        ({"type": "image_url", "image_url": {"url": "data:image/gif;base64," + SHOT}}, "the data is an image/png"),
        ({"type": "image_url", "image_url": {"url": "data:image/png;base64,QWxsIHRleHQgaGVyZQ=="}}, "no PNG, JPEG"),
        ({"type": "image_url", "image_url": {"url": "http://pictures.example.com/a.png"}}, "must be an https URL"),
        ({"type": "image_url", "image_url": {"url": "file:///tmp/shot.png"}}, "must be an https URL"),
        ({"type": "image_url", "image_url": {"url": "https://"}}, "must be an https URL"),  # (the scheme, no URL)
        ({"type": "image_url", "image_url": SHOT_URL}, "must be an object with the picture's url"),
        ({"type": "image_url", "image_url": {"url": SHOT_URL, "detail": "max"}}, "detail must be one of auto, low"),
        ({"type": "image_url", "image_url": {"url": SHOT_URL, "size": 3}}, "unknown: size"),
        ({"type": "input_image", "file_id": "file-q3x7", "detail": "auto"}, "names a file_id"),
        ({"type": "image", "source": {"type": "file", "file_id": "file-q3x7"}}, "names a file_id"),
        ({"type": "image", "source": {"type": "base64", "data": SHOT}}, "needs data and media_type"),
        ({"type": "image", "data": SHOT}, "needs data (base64) and mimeType"),
        ({"type": "image"}, "no picture"),
    ],
)
def test_a_picture_that_cannot_be_sent_is_refused_saying_what_is_wrong_and_the_fix(part, said):
    content = [{"type": "text", "text": QUESTION}, part]
    with pytest.raises(E.PayloadError) as info:
        _messages([{"role": "user", "content": content}])
    message = info.value.message
    assert "model_config.messages[0].content[1]" in message and said in message, message
    assert SHOT not in message  # (the data is what the caller sent, and may be megabytes)


def test_beside_a_picture_a_part_that_is_no_text_is_refused():
    content = [{"type": "image_url", "image_url": {"url": SHOT_URL}}, {"url": "https://q3.example.com", "score": 3}]
    with pytest.raises(E.PayloadError, match=r"messages\[0\]\.content\[1\] is neither a text part"):
        _messages([{"role": "user", "content": content}])


async def test_a_picture_alone_is_a_turn_of_its_own(serve, transport):
    # a user message of a picture and no text still says something: Claude is sent it (not dropped as empty, its
    # prefill taken for the last turn)
    [case] = [c for c in CASES if c.name == "anthropic"]
    fake, provider, target = await setup(case, serve, transport)
    messages = _messages([{"role": "user", "content": [SHAPES["mcp"]]}])
    await provider.complete(LLMRequest(messages, max_tokens=32), target)
    assert fake.violations == []
    assert last_body(fake)["messages"] == [
        {"role": "user", "content": [{"type": "image", "source": SHAPES["anthropic"]["source"]}]}
    ]


@pytest.mark.parametrize("picture", ["url", "gif"])
async def test_gemini_is_refused_a_picture_it_cannot_take_naming_the_fix(serve, transport, picture):
    [case] = [c for c in CASES if c.name == "google"]
    fake, provider, target = await setup(case, serve, transport)
    gif = "data:image/gif;base64," + base64.b64encode(GIF).decode()
    request = _asking({"type": "image_url", "image_url": {"url": WEB_URL if picture == "url" else gif}})
    assert provider.capabilities(target).missing(request.needs()) == [
        "image_urls" if picture == "url" else "gif_images"
    ]
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(request, target)
    assert ("data: URL" if picture == "url" else "PNG, JPEG or WebP") in info.value.message
    assert fake.requests == []


async def test_a_cascade_passes_gemini_over_for_a_picture_by_url_and_the_next_target_reads_it(
    fake_openai: ServedOpenAI, serve, tmp_path
):
    gemini = FakeGemini("ky7Q-a2mZ9x")
    env = {
        "OPENAI_BASE_URL": fake_openai.url + "/v1",
        "OPENAI_API_KEY": DEFAULT_KEY,
        "GEMINI_API_KEY": "ky7Q-a2mZ9x",
        "GEMINI_BASE_URL": await serve(gemini),
    }
    fake_openai.queue(R.reply("A chart of Q3."))
    content = [{"type": "text", "text": QUESTION}, {"type": "image_url", "image_url": {"url": WEB_URL}}]
    mc = {
        "model": "google:gemini-1.5-pro",
        "fallbacks": ["openai:gpt-4o"],
        "messages": [{"role": "user", "content": content}],
    }
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        out = await svc.invoke_skill("skill.analysis", {"data": "Q3", "model_config": mc}, run_id="r-url")
        explained = svc.explain("skill.analysis", {"data": "Q3", "model_config": mc})
        mc_alone = {**mc, "fallbacks": []}
        with pytest.raises(E.UnsupportedFeatureError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "Q3", "model_config": mc_alone}, run_id="r-gemini")
    assert out.text == "A chart of Q3." and gemini.requests == []
    skipped = str(out.trace)
    assert "image_urls" in skipped and "data: URL" in skipped, skipped
    assert [t["missing_features"] for t in explained["targets"]] == [["image_urls"], []]
    assert "data: URL" in info.value.message


async def test_a_model_that_reads_no_pictures_moves_the_cascade_on(fake_openai: ServedOpenAI, tmp_path):
    # OpenAI's 400 "Invalid content type. image_url is only supported by certain models." (target_refusals.py) is the
    # model's lack, not the caller's data's: the next target reads the picture
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    fake_openai.queue(R.reply("A chart of Q3."))
    content = [{"type": "text", "text": QUESTION}, SHAPES["openai"]]
    mc = {
        "model": "openai:o1-preview",
        "fallbacks": ["openai:gpt-4o"],
        "messages": [{"role": "user", "content": content}],
    }
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        out = await svc.invoke_skill("skill.analysis", {"data": "Q3", "model_config": mc}, run_id="r-moves")
    assert out.text == "A chart of Q3."
    assert [r.body["model"] for r in fake_openai.requests] == ["o1-preview", "gpt-4o"]
    [refused, answered] = out.to_dict()["attempts"]
    assert "only supported by certain models" in refused["error_message"] and answered["outcome"] == "ok"


#: a screenshot of 1,024 x 768 pixels in a file of some 600 kB (800,000 characters of base64; the fake takes a body of
#: 1 MB at most)
BIG = base64.b64encode(png(1024, 768, padding=600_000)).decode()


@pytest.mark.parametrize(
    ("target", "most"),
    [
        (None, 2833 + 5667 * 4),  # any vendor's most: GPT-4o mini's, 4 tiles of 512 px
        (Target("openai", "gpt-4o-mini"), 2833 + 5667 * 4),
        (Target("openai", "gpt-4o"), 3779),  # the patch models' most (a gateway may serve any model as any name)
        (Target("anthropic", "claude-3-5-sonnet-20241022"), 1049),  # 1024 x 768 / 750
        (Target("google", "gemini-1.5-pro"), 2240),
    ],
    ids=["any", "gpt-4o-mini", "gpt-4o", "claude", "gemini"],
)
def test_budgets_count_a_picture_at_the_most_its_vendor_bills_not_its_base64(target, most):
    # Before (phase 1 refused it; before that, its JSON text went as words): ~400,000 tokens of it
    text_only = LLMRequest(_messages([{"role": "user", "content": QUESTION}]))
    with_picture = _asking({"type": "image_url", "image_url": {"url": "data:image/png;base64," + BIG}})
    assert estimate_input_tokens(with_picture, target) - estimate_input_tokens(text_only, target) == most
    assert most < len(BIG) // 20


async def test_the_ledger_keeps_no_picture(fake_openai: ServedOpenAI, tmp_path):
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    fake_openai.queue(R.reply("A chart of Q3."))
    content = [
        {"type": "text", "text": QUESTION},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + BIG}},
    ]
    mc = {"model": "openai:gpt-4o", "messages": [{"role": "user", "content": content}]}
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        out = await svc.invoke_skill("skill.analysis", {"data": "Q3", "model_config": mc}, run_id="r-kept")
        [run] = await svc.query_runs(UsageFilters(run_id="r-kept"))
    assert out.text == "A chart of Q3." and run["status"] == "ok", run
    [sent] = [r.body for r in fake_openai.requests]
    assert sent["messages"][-1]["content"][1]["image_url"]["url"].endswith(BIG[-64:])
    piece = BIG[len(BIG) // 2 : len(BIG) // 2 + 48].encode()
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert stored and piece not in stored


async def test_an_mcp_clients_screenshot_reaches_claude_through_invoke_skill(serve, tmp_path):
    # an MCP client hands on a tool's ImageContent as it came; model_config.messages' description says it may
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    claude = FakeAnthropic("ky7Q-a2mZ9x")
    env = {"ANTHROPIC_API_KEY": "ky7Q-a2mZ9x", "ANTHROPIC_BASE_URL": await serve(claude)}
    claude.queue({"text": "A chart of Q3."})
    content = [{"type": "text", "text": QUESTION}, SHAPES["mcp"]]
    mc = {"model": "anthropic:claude-3-5-sonnet-20241022", "messages": [{"role": "user", "content": content}]}
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env=env)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        result = await client.call_tool(
            "invoke_skill", {"skill_id": "skill.analysis", "payload": {"data": "Q3"}, "model_config": mc}
        )
    schema = json.dumps(tools["invoke_skill"].input_schema)
    assert "ImageContent {type: image, data, mimeType}" in schema and "{type: image_url, image_url: {url:" in schema
    assert not result.is_error, result
    assert claude.violations == []
    sent = claude.requests[-1]["body"]["messages"][-1]["content"]
    assert sent[-1] == {"type": "image", "source": SHAPES["anthropic"]["source"]}


def _cut_png() -> bytes:
    whole = png(4, 3)
    return whole[: whole.index(b"IEND") - 4]  # (the IDAT whole, the IEND chunk gone: a copy cut off)


@pytest.mark.parametrize(
    ("raw", "media_type"),
    [
        (_cut_png(), "image/png"),
        (png(640, 480)[:60], "image/png"),  # (cut inside its IDAT)
        (png(640, 480)[:24], "image/png"),  # (its header alone: signature and IHDR's size, 24 bytes)
        (png(4, 3)[:-1], "image/png"),  # (its IEND chunk's CRC a byte short)
        (jpeg(640, 480)[:-2], "image/jpeg"),  # (no EOI after the frame)
        (webp(320, 200)[:-1], "image/webp"),  # (shorter than its RIFF header says)
    ],
    ids=["png-no-iend", "png-cut-in-idat", "png-header-alone", "png-iend-crc-short", "jpeg-no-eoi", "webp-short"],
)
def test_a_picture_cut_short_is_refused_before_any_vendor_is_sent_it(raw, media_type):
    # Before: its header alone was read, and each target of a cascade was sent it to answer 400
    url = f"data:{media_type};base64," + base64.b64encode(raw).decode()
    with pytest.raises(E.PayloadError) as info:
        _messages([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}])
    assert "content[0].image_url.url" in info.value.message
    assert "stops short of its end" in info.value.message and "the whole file" in info.value.message


def _png_saying(width: int, height: int) -> bytes:
    """A whole PNG (IHDR, one empty IDAT, IEND) whose header says ``width`` x ``height``."""
    whole = png(1, 1)
    return whole[:16] + struct.pack(">II", width, height) + whole[24:]


@pytest.mark.parametrize(
    ("width", "height"), [(2**32 - 1, 2**32 - 1), (70_000, 10), (0, 480), (640, 0)], ids=["max", "wide", "w0", "h0"]
)
def test_a_header_saying_no_size_a_picture_has_is_refused_not_counted(width, height):
    # Before: 4,294,967,295 px a side was taken, and a budget reserved some 8 x 10^15 tokens for Gemini's tiles of it
    # (for any target but Claude: the OpenAI and compatible ones count any vendor's most); 0 px was taken as a picture
    url = "data:image/png;base64," + base64.b64encode(_png_saying(width, height)).decode()
    with pytest.raises(E.PayloadError) as info:
        _messages([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}])
    assert f"its header says {width:,} x {height:,} px" in info.value.message
    assert "1 to 65,535 px a side" in info.value.message


def test_the_largest_side_taken_is_counted_within_bounds():
    url = "data:image/png;base64," + base64.b64encode(_png_saying(65_535, 65_535)).decode()
    request = _asking({"type": "image_url", "image_url": {"url": url}})
    text_only = LLMRequest(_messages([{"role": "user", "content": QUESTION}]))
    assert estimate_input_tokens(request) - estimate_input_tokens(text_only) == 258 * 86 * 86  # (Gemini's tiles)


@pytest.mark.parametrize(
    "head", ["image/png;base64", "image/png;BASE64", "IMAGE/PNG;Base64", "image/png;charset=utf-8;base64"]
)
async def test_a_data_url_rfc_2397_allows_is_sent_as_the_vendors_write_one(serve, transport, head):
    # Before: a parameter before ";base64" (RFC 2397's, a "charset=" some encoders write) was refused as no data URL
    [case] = [c for c in CASES if c.name == "openai"]
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "A chart."})
    await provider.complete(_asking({"type": "image_url", "image_url": {"url": f"data:{head},{SHOT}"}}), target)
    assert fake.violations == []
    [_, picture] = _sent_parts(case.name, last_body(fake))
    assert picture == {"type": "image_url", "image_url": {"url": SHOT_URL}}


@pytest.mark.parametrize("head", ["image/png;charset;base64", "image/png;base64;charset=utf-8", "image/png;;base64"])
def test_a_data_url_whose_parameters_are_not_rfc_2397s_is_refused(head):
    with pytest.raises(E.PayloadError, match="data:<media type>;base64,<the picture's bytes"):
        _messages([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": f"data:{head},{SHOT}"}}]}])


def test_many_pictures_are_each_counted_at_the_most_their_vendor_bills():
    pictures = [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{BIG}"}}] * 12
    request = LLMRequest(_messages([{"role": "user", "content": [{"type": "text", "text": QUESTION}, *pictures]}]))
    text_only = LLMRequest(_messages([{"role": "user", "content": QUESTION}]))
    claude = Target("anthropic", "claude-3-5-sonnet-20241022")
    assert estimate_input_tokens(request, claude) - estimate_input_tokens(text_only, claude) == 12 * 1049
    assert estimate_input_tokens(request) - estimate_input_tokens(text_only) == 12 * (2833 + 5667 * 4)


def test_a_plan_of_gemini_alone_for_a_picture_by_url_warns_with_the_fix_the_call_would_say(tmp_path):
    # Before: explain's warning said "google:gemini-1.5-pro cannot honour image_urls" and pointed at `magsag doctor`,
    # while the call itself said to send a data: URL
    from magsag_mcp import Magsag

    picture = {"type": "image_url", "image_url": {"url": WEB_URL}}
    payload = {
        "data": "x",
        "model_config": {
            "model": "google:gemini-1.5-pro",
            "messages": [{"role": "user", "content": [{"type": "text", "text": QUESTION}, picture]}],
        },
    }
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"GEMINI_API_KEY": "gk7Q2mZ9xWp"}) as mg:
        [warning] = mg.skills.explain("skill.analysis", payload)["warnings"]
        with pytest.raises(E.AllTargetsFailed) as failed:
            mg.skills.invoke("skill.analysis", payload)
    fix = "send each picture as a data: URL (data:image/png;base64,...), which every vendor takes"
    said = f"google:gemini-1.5-pro cannot honour image_urls (the call needs it); {fix}"
    assert said in warning, warning
    assert f"cannot honour image_urls (the call needs it); {fix}" in failed.value.message


def test_a_jpeg_cut_inside_a_segments_length_is_no_picture_not_a_crash():
    # (three bytes of a segment left: its marker and half its length; walked as a whole segment, struct raised)
    from magsag_mcp.images import image_size

    assert image_size(b"\xff\xd8\xff\xe0\x00") is None
    url = "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8\xff\xe0\x00").decode()
    with pytest.raises(E.PayloadError, match="no PNG, JPEG, GIF or WebP picture"):
        _messages([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}])
