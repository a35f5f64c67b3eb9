"""Keys of vendors the process was never given, removed by their shape (key_shapes' _VENDOR_KEY): what a ``compat``
endpoint's user holds besides OpenAI's and Anthropic's (Groq, xAI, Perplexity, NVIDIA, Hugging Face, Replicate,
GitHub, Together, Fireworks, Cerebras, ...), quoted in a gateway's error, a log line or a call's name; and the names,
ids and hashes shaped like none of them, kept."""

from __future__ import annotations

import random
import string

import pytest

from magsag_mcp.key_shapes import _SHAPES_READ
from magsag_mcp.redaction import holds_secret, redact

pytestmark = pytest.mark.usefixtures("restored_secrets")

_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"


def _random(n: int, alphabet: str = _ALNUM, seed: int = 0) -> str:
    chooser = random.Random(f"{n}{alphabet}{seed}")
    return "".join(chooser.choice(alphabet) for _ in range(n))


#: each vendor's key as the vendor issues it (prefix, alphabet and length)
VENDOR_KEYS = {
    "groq": "gsk_" + _random(52),
    "xai": "xai-" + _random(80),
    "perplexity": "pplx-" + _random(48),
    "nvidia": "nvapi-" + _random(64, _ALNUM + "-_"),
    "hugging face": "hf_" + _random(34, string.ascii_letters),
    "replicate": "r8_" + _random(37),
    "github classic": "ghp_" + _random(36),
    "github oauth": "gho_" + _random(36),
    "github fine-grained": "github_pat_" + _random(22) + "_" + _random(59),
    "gitlab": "glpat-" + _random(20),
    # GitLab's routable tokens: a payload, a version and a checksum's tail, after dots (the tail was kept)
    "gitlab routable": "glpat-" + _random(27, _ALNUM + "-_") + ".01." + _random(9, _HEX + "xyz"),
    "gitlab routable, one dot": "glpat-" + _random(36, _ALNUM + "-_") + ".01" + _random(7, "0123456789abcdefghij"),
    "together": "tgp_v1_" + _random(43, _ALNUM + "-_"),
    "fireworks": "fw_3ZxW" + _random(20),
    "cerebras": "csk-" + _random(48, string.ascii_lowercase + string.digits),
    "anyscale": "esecret_" + _random(26),
    "jina": "jina_" + _random(60),
    "langsmith": "lsv2_pt_" + _random(32, _HEX) + "_" + _random(10, _HEX),
}


@pytest.mark.parametrize("key", VENDOR_KEYS.values(), ids=VENDOR_KEYS.keys())
@pytest.mark.parametrize(
    "written",
    [
        "401 Unauthorized: invalid credentials {} for this endpoint",
        '{{"error": {{"message": "rejected {}"}}}}',
        "headers=['content-type: x\\n{}']",  # a log line's %r of a value after an escaped line break
        "echoed Bearer{}",  # the header's space dropped
        "quoted ({}).",
    ],
    ids=["prose", "json", "after-escape", "glued-to-bearer", "in-parentheses"],
)
def test_a_vendors_key_the_process_never_held_is_removed(key: str, written: str):
    text = written.format(key)
    out = redact(text)
    assert key[-12:] not in out and key[:12] not in out, out
    assert "[REDACTED]" in out


@pytest.mark.parametrize("key", VENDOR_KEYS.values(), ids=VENDOR_KEYS.keys())
def test_a_name_holding_a_vendors_key_is_refused(key: str):
    assert holds_secret(f"skill.{key}") and holds_secret(key)


@pytest.mark.parametrize(
    "text",
    [
        "load hf_model with hf_hub_download, then hf_ModelForSequenceClassification",
        "xai-grok-2-1212 and pplx-70b-online answered; gsk_sample is the demo's name",
        "nvapi-key missing: set NVAPI_KEY; glpat-token-for-ci; tgp_v1_ keys; the github_pat_ prefix",
        "fw_update_2024_build failed; fw_Version2 shipped; r8_model and jina_embeddings_v3 loaded",
        "a csk-cluster-name-abcdefghij node; lsv2_pt_ prefix; ghp_ is GitHub's prefix",
        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "run 123e4567-e89b-12d3-a456-426614174000, commit 9c151e19d8a2b7f0e4c3a1b5d6e7f8091a2b3c4d",
        "snake_case_names_like_hf_download_model_weights_from_hub_cache_dir stay as written",
        "highlight the ghost of thought through the night",
        # slugs of words with a version or a date after a vendor's prefix whose alphabet holds "-" and "_"
        "see nvapi-docs-reference-v1-2024-embeddings and glpat-expires-2024-01-01-readonly-scope",
        "lsv2_pt_dataset_upload_batch_size_2024 and tgp_v1_readme_section_header_2 and github_pat_rotation_policy_v2",
    ],
)
def test_names_ids_and_hashes_shaped_like_no_vendors_key_are_kept(text: str):
    assert redact(text) == text
    assert not holds_secret(text)


def test_a_hugging_face_prefix_before_letters_of_one_case_or_another_length_is_no_key():
    # its tokens are 34 letters in both cases: a longer run or one case alone is a name glued to the prefix
    assert redact("hf_" + "a" * 34) == "hf_" + "a" * 34
    longer = "hf_" + _random(40, string.ascii_letters)
    assert redact(longer) == longer


@pytest.mark.parametrize("repeated", ["nvapi-", "hf_", "github_pat_", "gsk_" + "a" * 19 + " "])
def test_many_prefixes_without_a_key_are_kept(repeated: str):
    # each prefix's look ahead reads 64 characters at most (reading the rest of the run from each was quadratic)
    # (No time measured: the same text redacted unchanged is the check; test_redaction_linear counts instructions.)
    # The patterns read a text's first 64 KB (key_shapes._SHAPES_READ), and cut it past them from a prefix on
    # (test_key_shapes_bounded): the text here is as long as they read
    text = (repeated * 5000)[:_SHAPES_READ]
    assert redact(text) == text


@pytest.mark.parametrize(
    "before", ["", "snake_case " * 40, "a-b " * 40], ids=["at-start", "many-underscores", "many-dashes"]
)
@pytest.mark.parametrize("key", [VENDOR_KEYS["groq"], VENDOR_KEYS["xai"], VENDOR_KEYS["github fine-grained"]])
def test_a_vendors_key_is_found_however_many_separators_the_text_holds(before: str, key: str):
    # the prefixes are looked for where their "_" or "-" stands, or in the whole text past 32 of them
    out = redact(before + key)
    assert key[-12:] not in out and out.endswith("[REDACTED]"), out


@pytest.mark.parametrize("key", [VENDOR_KEYS["gitlab routable"], VENDOR_KEYS["gitlab routable, one dot"]])
def test_a_gitlab_routable_tokens_tail_after_its_dots_is_removed_with_it(key: str):
    tail = key.rpartition(".")[2]
    for text in (f"token {key} was revoked", f"Bearer {key}", f"revoked: {key}. Make a new one", f'"{key}"'):
        out = redact(text)
        assert tail not in out and ".01" not in out, out
    assert redact(f"revoked: {key}. Make a new one") == "revoked: [REDACTED]. Make a new one"
    assert holds_secret(f"run.{key}")
    # a classic token's sentence and a version after it keep their dots and words
    classic = VENDOR_KEYS["gitlab"]
    assert redact(f"use {classic}. v1.01.2 fixed it") == "use [REDACTED]. v1.01.2 fixed it"


@pytest.mark.parametrize("word", ["excellent", "Thanks", "0123", "_suffix"])
def test_a_gitlab_routable_tokens_tail_is_its_nine_digits_and_a_word_glued_after_it_is_kept(word: str):
    # GitLab's generator writes "glpat-<payload>.<version: 2>.<length: 2><crc32: 7>", base36 in lower case: the tail
    # took any run of letters and digits, and a word glued after the checksum was lost with it
    key = VENDOR_KEYS["gitlab routable"]
    assert redact(f"token {key}{word} revoked") == f"token [REDACTED]{word} revoked"
    # a version of letters is base36 too (zero-padded: "01" today), and its tail is removed with it
    lettered = key.replace(".01.", ".0a.")
    assert redact(f"token {lettered} revoked") == "token [REDACTED] revoked"
