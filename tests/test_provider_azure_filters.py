"""Azure OpenAI's content filters: a refused prompt and a withheld or cut answer name the filter that fired, an
answer or prompt it did not check says so, and a flagged answer is billed in the ledger while the fallback answers
(split from test_provider_azure.py)."""

from __future__ import annotations

import json

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.content_filters import fired_filters
from magsag_mcp.providers.openai import AzureProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import FakeOpenAI
from tests.llm_requests import ask
from tests.test_provider_azure import DEPLOYMENT, env_for

pytestmark = pytest.mark.anyio


def _filtered(**fired: str) -> dict:
    safe = {"filtered": False, "severity": "safe"}
    results: dict = {"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe}
    for name, level in fired.items():
        results[name] = (
            {"filtered": True, "detected": True} if level == "detected" else {"filtered": True, "severity": level}
        )
    return results


async def test_a_content_filter_400_names_the_filter_that_fired(fake_openai: FakeOpenAI, transport: Transport):
    # Azure's 400: the message says only that a filter fired; innererror.content_filter_result says which
    body = {
        "error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management "
            "policy. Please modify your prompt and retry.",
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": _filtered(violence="high", jailbreak="detected"),
            },
        }
    }
    fake_openai.queue(R.error(400, raw=json.dumps(body), content_type="application/json"))
    with pytest.raises(E.ContentFilteredError) as info:
        await AzureProvider(env_for(fake_openai), transport).complete(ask(), Target("azure", DEPLOYMENT))
    assert info.value.message.endswith("(filtered: violence (high), jailbreak (detected))"), info.value.message
    assert info.value.moves_on and not info.value.retryable


@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_withheld_by_the_filter_names_the_filter_that_fired(
    fake_openai: FakeOpenAI, transport: Transport, stream: bool
):
    fake_openai.queue(R.reply(None, finish="content_filter", filter_results=_filtered(sexual="medium")))
    env = env_for(fake_openai, AZURE_OPENAI_API_VERSION="2025-01-01-preview")
    with pytest.raises(E.ContentFilteredError) as info:
        await AzureProvider(env, transport).complete(ask(stream=stream), Target("azure", DEPLOYMENT))
    assert info.value.message.endswith("content filter (filtered: sexual (medium))"), info.value.message


@pytest.mark.parametrize("code", ["content_filter", None])
async def test_a_content_filter_400_in_the_specs_shape_names_the_filter_that_fired(
    fake_openai: FakeOpenAI, transport: Transport, code: str | None
):
    # The 2024-10-21 spec's errorResponse writes the inner error as inner_error.content_filter_results (the
    # service sends innererror.content_filter_result), and errorBase's code is optional: the inner
    # ResponsibleAIPolicyViolation alone says a filter refused the prompt, which another target may serve.
    error = {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
        "param": "prompt",
        "inner_error": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_results": _filtered(hate="medium"),
        },
    }
    if code:
        error["code"] = code
    fake_openai.queue(R.error(400, raw=json.dumps({"error": error}), content_type="application/json"))
    with pytest.raises(E.ContentFilteredError) as info:
        await AzureProvider(env_for(fake_openai), transport).complete(ask(), Target("azure", DEPLOYMENT))
    assert info.value.message.endswith("(filtered: hate (medium))"), info.value.message
    assert info.value.moves_on and not info.value.retryable


@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_the_filter_cut_short_says_so_and_which_filter(
    fake_openai: FakeOpenAI, transport: Transport, stream: bool
):
    # finish_reason content_filter after some text: Azure's filter stopped the answer part way. It came back as
    # if whole, without a word (and without the filter that fired): only finish_reason said it. Then it came back
    # with a warning, a success that tried no other target; it is content_filtered now, as Claude's refusal and
    # Gemini's SAFETY after some text are (see tests/providers/test_answer_ends.py), and billed.
    reply = R.reply("The first half of", finish="content_filter", filter_results=_filtered(violence="medium"))
    fake_openai.queue(reply)
    env = env_for(fake_openai, AZURE_OPENAI_API_VERSION="2025-01-01-preview")
    with pytest.raises(E.ContentFilteredError) as info:
        await AzureProvider(env, transport).complete(ask(stream=stream), Target("azure", DEPLOYMENT))
    message = info.value.message
    assert "content filter (filtered: violence (medium)); the part of the answer that came before it" in message
    assert "The first half" not in message and info.value.usage.output_tokens == 7


@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_the_content_filter_did_not_check_says_so(
    fake_openai: FakeOpenAI, transport: Transport, stream: bool
):
    # When Azure's filtering system is down or too slow, the request completes unfiltered, and only an error in the
    # choice's content_filter_results says so ("The contents are not filtered"). The answer came back as if it had
    # passed the filter, without a word.
    unchecked = {"error": {"code": "content_filter_error", "message": "The contents are not filtered"}}
    fake_openai.queue(R.reply("An answer", filter_results=unchecked))
    env = env_for(fake_openai, AZURE_OPENAI_API_VERSION="2025-01-01-preview")
    result = await AzureProvider(env, transport).complete(ask(stream=stream), Target("azure", DEPLOYMENT))
    assert (result.text, result.finish_reason) == ("An answer", "stop")
    assert result.warnings == [
        f"azure:{DEPLOYMENT}: the provider's content filter did not check the answer (content_filter_error: The "
        "contents are not filtered); it is returned unfiltered"
    ]


#: protected material code as a deployment whose filter annotates and does not block reports it (the 2024-10-21
#: spec's contentFilterDetectedWithCitationResult; the URL and license as Azure's docs show them)
CODE_FOUND = {
    "citation": {"URL": "https://github.com/example/sorting/blob/main/quicksort.py", "license": "EPL-1.0"},
    "detected": True,
    "filtered": False,
}


@pytest.mark.parametrize("stream", [False, True])
async def test_protected_code_the_filter_detected_and_let_through_is_said_with_its_source_and_license(
    fake_openai: FakeOpenAI, transport: Transport, stream: bool
):
    # A deployment whose filter annotates (and does not block) returns the answer, finish_reason "stop", and says in
    # the choice's content_filter_results alone that its code matches public code under a license: it came back as
    # the model's own, with no word of it, to be pasted into a product that may not meet that license.
    results = {**_filtered(), "protected_material_code": CODE_FOUND}
    results["protected_material_text"] = {"detected": False, "filtered": False}
    fake_openai.queue(R.reply("def quicksort(xs): ...", filter_results=results))
    env = env_for(fake_openai, AZURE_OPENAI_API_VERSION="2025-01-01-preview")
    result = await AzureProvider(env, transport).complete(ask(stream=stream), Target("azure", DEPLOYMENT))
    assert (result.text, result.finish_reason) == ("def quicksort(xs): ...", "stop")
    assert result.warnings == [
        f"azure:{DEPLOYMENT}: the provider's content filter detected protected_material_code "
        "(https://github.com/example/sorting/blob/main/quicksort.py, license EPL-1.0) in the answer and let it "
        "through (the deployment's filter annotates it, not blocks it); the answer is returned as it came: check it "
        "and the cited source's license before using it"
    ]
    # a category detected and filtered withholds the answer (as any filter that fired does), said by its name
    fake_openai.queue(
        R.reply(
            None,
            finish="content_filter",
            filter_results={"protected_material_text": {"detected": True, "filtered": True}},
        )
    )
    with pytest.raises(E.ContentFilteredError) as info:
        await AzureProvider(env, transport).complete(ask(stream=stream), Target("azure", DEPLOYMENT))
    assert info.value.message.endswith("(filtered: protected_material_text (detected))"), info.value.message
    # and protected code a filter that blocks withheld names the code it matched and its license
    blocked = {**CODE_FOUND, "filtered": True}
    fake_openai.queue(
        R.reply(None, finish="content_filter", filter_results={**_filtered(), "protected_material_code": blocked})
    )
    with pytest.raises(E.ContentFilteredError) as info:
        await AzureProvider(env, transport).complete(ask(stream=stream), Target("azure", DEPLOYMENT))
    assert info.value.message.endswith(
        "(filtered: protected_material_code (detected; https://github.com/example/sorting/blob/main/quicksort.py, "
        "license EPL-1.0))"
    ), info.value.message


@pytest.mark.parametrize("stream", [False, True])
async def test_the_license_is_asked_to_be_checked_only_where_the_citation_names_one(
    fake_openai: FakeOpenAI, transport: Transport, stream: bool
):
    # The advice to check "the cited source's license" came from the word anywhere in what was shown: a citation of a
    # URL holding it (a repository named license-checker) and no license field asked for a license there is none of
    code = {"citation": {"URL": "https://github.com/example/license-checker/blob/main/a.py"}, "detected": True}
    fake_openai.queue(R.reply("def check(): ...", filter_results={**_filtered(), "protected_material_code": code}))
    env = env_for(fake_openai, AZURE_OPENAI_API_VERSION="2025-01-01-preview")
    result = await AzureProvider(env, transport).complete(ask(stream=stream), Target("azure", DEPLOYMENT))
    [said] = result.warnings
    assert "(https://github.com/example/license-checker/blob/main/a.py) in the answer and let it through" in said
    assert said.endswith("the answer is returned as it came: check it before using it"), said
    # and a license named in its field is asked to be checked, whatever the URL says
    found = {**code, "citation": {**code["citation"], "license": "GPL-3.0"}}
    fake_openai.queue(R.reply("def check(): ...", filter_results={**_filtered(), "protected_material_code": found}))
    result = await AzureProvider(env, transport).complete(ask(stream=stream), Target("azure", DEPLOYMENT))
    assert result.warnings[0].endswith("check it and the cited source's license before using it"), result.warnings


def test_what_the_filter_says_is_quoted_on_one_line_without_control_characters_and_bounded():
    # A citation's URL and license, a category's name and severity, a blocklist's id and a filter's error are the
    # service's words (a gateway's, in front of it): a line break, an escape sequence (which sets the title of the
    # terminal that shows the warning, or clears it) or a carriage return went into the warning or the error as it
    # came, and a URL of 100 KB made a warning of 100 KB in the error (the warning's was cut at 400)
    from magsag_mcp.providers.content_filters import filter_note, let_through, not_checked

    hostile = "https://example.com/a\n\x1b]0;pwned\x07\rb" + "x" * 100_000
    code = {"citation": {"URL": hostile, "license": "MIT\x1b[2J"}, "detected": True, "filtered": False}
    results = {"protected_material_code": code, "odd\x1b[31m\ncategory": {"detected": True, "severity": "high\r"}}
    blocked = {
        "protected_material_code": {**code, "filtered": True},
        "violence": {"filtered": True, "severity": "high\x1b[0m\n" + "y" * 100_000},
        "custom_blocklists": {"filtered": True, "details": [{"filtered": True, "id": "list\x9b1m"}]},
    }
    unchecked = {"error": {"code": "content_filter_error", "message": "not\x1bc filtered\r\n"}}
    said = [
        let_through("azure", DEPLOYMENT, results),
        filter_note(blocked),
        not_checked("azure", DEPLOYMENT, unchecked),
    ]
    for text in said:
        assert text is not None and len(text) < 1_000, text
        assert not [c for c in text if not c.isprintable()], repr(text)
    assert "https://example.com/a \\x1b]0;pwned\\x07 b" in said[0] and "license MIT\\x1b[2J" in said[0]
    assert "custom_blocklists (list\\x9b1m)" in said[1]


def test_a_jailbreak_the_filter_detected_in_the_prompt_and_let_through_is_said():
    from magsag_mcp.providers.openai_chat import ChatCompletionsFormat

    body = R.chat_completion(DEPLOYMENT, R.reply("An answer"), azure=True)
    annotated = {**_filtered(), "jailbreak": {"detected": True, "filtered": False}}
    body["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": annotated}]
    result = ChatCompletionsFormat().parse_response(body, provider="azure", model=DEPLOYMENT)
    assert result.warnings == [
        f"azure:{DEPLOYMENT}: the provider's content filter detected jailbreak in the prompt and let it through (the "
        "deployment's filter annotates it, not blocks it); the answer is returned as it came: check it before using it"
    ]


def test_a_prompt_the_content_filter_did_not_check_says_so():
    from magsag_mcp.providers.openai_chat import ChatCompletionsFormat

    unchecked = {"error": {"code": "content_filter_error", "message": "The contents are not filtered"}}
    body = R.chat_completion(DEPLOYMENT, R.reply("An answer"), azure=True)
    body["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": unchecked}]
    result = ChatCompletionsFormat().parse_response(body, provider="azure", model=DEPLOYMENT)
    assert result.warnings == [
        f"azure:{DEPLOYMENT}: the provider's content filter did not check the prompt (content_filter_error: The "
        "contents are not filtered); it reached the model unfiltered"
    ]


async def test_an_answer_the_asynchronous_filter_flagged_after_it_streamed_is_withheld(
    fake_openai: FakeOpenAI, transport: Transport
):
    # Azure's asynchronous filter streams the text unchecked and flags it afterwards, in an annotation chunk whose
    # content_filter_offsets span text already sent. The flagged text came back as the answer, with a warning that
    # the filter had "stopped the answer part way" and that "the text is only what came before it": the very text
    # the filter flagged, passed on as vetted.
    reply = R.reply("Step one of it", finish="content_filter", flagged_after=_filtered(violence="high"))
    fake_openai.queue(reply)
    env = env_for(fake_openai, AZURE_OPENAI_API_VERSION="2025-01-01-preview")
    with pytest.raises(E.ContentFilteredError) as info:
        await AzureProvider(env, transport).complete(ask(stream=True), Target("azure", DEPLOYMENT))
    message = info.value.message
    assert "flagged the answer after it had streamed" in message and "(filtered: violence (high))" in message
    assert "Step one" not in message
    # billed, and priced from the usage the stream reported; another target may serve the call
    assert info.value.usage is not None and info.value.usage.output_tokens == 7
    assert info.value.moves_on and not info.value.retryable
    # annotations that flag nothing (every category safe) leave the answer as it is
    fake_openai.queue(R.reply("All fine here", flagged_after=R.azure_filters()))
    result = await AzureProvider(env, transport).complete(ask(stream=True), Target("azure", DEPLOYMENT))
    assert (result.text, result.finish_reason, result.warnings) == ("All fine here", "stop", [])


async def test_through_the_service_a_flagged_answer_is_billed_in_the_ledger_and_the_fallback_answers(
    fake_openai: FakeOpenAI, tmp_path
):
    from magsag_mcp.service import Service
    from tests.conftest import CATALOG

    flagged = _filtered(violence="high")
    fake_openai.queue(
        R.reply("Step one of it", finish="content_filter", flagged_after=flagged, usage=R.tokens(1000, 100)),
        R.reply("A safe answer", usage=R.tokens(10, 5)),
    )
    env = env_for(fake_openai, AZURE_OPENAI_API_VERSION="2025-01-01-preview")
    config = {"model": "azure:gpt-4o", "fallbacks": ["azure:gpt-4o-mini"], "stream": True}
    async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        called = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
        runs = await svc.query_runs()
    assert called.result.text == "A safe answer" and called.result.provider == "azure"
    assert any("after azure:gpt-4o failed (content_filtered)" in w for w in called.warnings)
    attempts = {a["model"]: a for run in runs for a in run["attempts"]}
    assert attempts["gpt-4o"]["error_class"] == "content_filtered"
    assert "Step one" not in attempts["gpt-4o"]["error_message"]
    # the flagged answer's tokens, at gpt-4o's $2.50 / $10 per million
    assert attempts["gpt-4o"]["cost_usd"] == "0.0035" and attempts["gpt-4o-mini"]["outcome"] == "ok"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "blocklists",
    [
        # as the service sends it (learn.microsoft.com, use-blocklists): the lists evaluated, each with its id
        {"filtered": True, "details": [{"filtered": True, "id": "pizza"}, {"filtered": False, "id": "competitors"}]},
        [{"filtered": True, "id": "pizza"}, {"filtered": False, "id": "competitors"}],  # earlier previews' list
    ],
)
async def test_an_answer_a_custom_blocklist_cut_names_the_blocklist(
    fake_openai: FakeOpenAI, transport: Transport, stream: bool, blocklists
):
    # Before: "(filtered: custom_blocklists)" at most, and nothing for the list shape: the operator was not told which
    # of their lists' terms to look for
    fake_openai.queue(
        R.reply(None, finish="content_filter", filter_results={**_filtered(), "custom_blocklists": blocklists})
    )
    env = env_for(fake_openai, AZURE_OPENAI_API_VERSION="2025-01-01-preview")
    with pytest.raises(E.ContentFilteredError) as info:
        await AzureProvider(env, transport).complete(ask(stream=stream), Target("azure", DEPLOYMENT))
    assert info.value.message.endswith("content filter (filtered: custom_blocklists (pizza))"), info.value.message


async def test_a_prompt_a_custom_blocklist_refused_names_the_blocklist(fake_openai: FakeOpenAI, transport: Transport):
    body = {
        "error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management "
            "policy. Please modify your prompt and retry.",
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {
                    "custom_blocklists": {"details": [{"filtered": True, "id": "pizza"}], "filtered": True}
                },
            },
        }
    }
    fake_openai.queue(R.error(400, raw=json.dumps(body), content_type="application/json"))
    with pytest.raises(E.ContentFilteredError) as info:
        await AzureProvider(env_for(fake_openai), transport).complete(ask(), Target("azure", DEPLOYMENT))
    assert info.value.message.endswith("(filtered: custom_blocklists (pizza))"), info.value.message


@pytest.mark.parametrize(
    ("blocklists", "said"),
    [
        # one list's detail not in a list: named as in one
        ({"filtered": True, "details": {"filtered": True, "id": "pizza"}}, ["custom_blocklists (pizza)"]),
        # a list named twice (evaluated on two parts): once
        ([{"filtered": True, "id": "pizza"}, {"filtered": True, "id": "pizza"}], ["custom_blocklists (pizza)"]),
        # an id with a line break in it: one line, as the message is
        ([{"filtered": True, "id": "pizza\nand pasta"}], ["custom_blocklists (pizza and pasta)"]),
        # ids that are no name (an object, true, blank): the category alone
        (
            {"filtered": True, "details": [{"filtered": True, "id": {"a": 1}}, {"filtered": True, "id": True}]},
            ["custom_blocklists"],
        ),
        ({"filtered": True, "details": [{"filtered": True, "id": "  "}, "pizza", None, 3]}, ["custom_blocklists"]),
        ({"filtered": True, "details": "pizza"}, ["custom_blocklists"]),
        ("pizza", []),
        (None, []),
        # many lists: the first five and how many more
        (
            [{"filtered": True, "id": f"list{i}"} for i in range(8)],
            ["custom_blocklists (list0, list1, list2, list3, list4 and 3 more)"],
        ),
    ],
)
def test_custom_blocklists_of_any_shape_are_named_by_their_ids_once_and_on_one_line(blocklists, said):
    # Before: a details object was ignored, a list named twice was named twice, an object's repr and a line break were
    # put into the message, and fifty lists made a message of fifty ids
    assert fired_filters({"custom_blocklists": blocklists}) == said
