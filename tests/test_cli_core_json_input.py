"""JSON the user gives the CLI (--payload, --payload-file, --context, a summary) that cannot be taken as meant."""

from __future__ import annotations

import json

import pytest

from magsag_mcp.cli import main
from tests.conftest import CATALOG


def test_a_payload_file_that_is_not_json_text_is_an_input_error(cli_env, capsys, tmp_path):
    binary = tmp_path / "payload.bin"
    binary.write_bytes(b"\xff\xfe\x00binary")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    for path, needle in ((binary, "is not UTF-8 text; give it a JSON file"), (deep, "is nested too deeply to read")):
        assert main(["invoke", "skill.analysis", "--payload-file", str(path)]) == 2
        assert needle in capsys.readouterr().err


@pytest.mark.parametrize("command", ["invoke", "explain"])
def test_an_empty_context_is_refused_not_taken_for_no_context(cli_env, capsys, command):
    """`--context "$CTX"` with CTX unset: the empty context was read as no context at all, so a call meant to be
    confined to a data class (`{"data_class": "pii_processing"}`) went wherever routing sends any call, and the
    plan `explain` printed was the unconfined one, with no word. An empty --context is bad input naming it."""
    payload = json.dumps({"data": "x", "model_config": {"model": "fake:echo"}})
    with pytest.raises(SystemExit) as exited:
        main([command, "skill.analysis", "--payload", payload, "--context", ""])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --context: is empty" in err and "leave the option out" in err
    assert not (cli_env / "cli.db").exists()  # nothing was called, nor recorded


@pytest.mark.parametrize("option", ["--payload", "--context"])
def test_a_json_option_holding_an_integer_too_long_to_read_is_an_input_error_not_a_traceback(cli_env, capsys, option):
    """Python reads no integer of more than 4,300 digits: json.loads raised a bare ValueError, with no `msg` or
    `pos`, and the error message that read them was an AttributeError traceback (exit 1, a call failed)."""
    digits = "1" * 5000
    argv = ["explain", "skill.analysis", "--payload", '{"data": "x"}', option, f'{{"n": {digits}}}']
    assert main(argv) == 2
    message = json.loads(capsys.readouterr().err)["error"]["message"]
    assert message.startswith(f"{option} holds an integer of 5000 digits, too long to read")
    assert "write it as a string" in message and digits not in message


def test_a_summary_holding_an_integer_too_long_to_read_is_bad_input_to_the_gate(cli_env, capsys, tmp_path):
    """The same ValueError from `flow gate`'s reading of the summary was a traceback, and exit 1: the gate's "fail",
    where a summary it cannot read is bad input (2)."""
    summary = tmp_path / "summary.json"
    summary.write_text('{"model_stats": {}, "totals": {"calls": ' + "1" * 5000 + "}}")
    assert main(["flow", "gate", str(summary), "--policy", str(CATALOG / "policies" / "model_governance.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gate: {summary} holds an integer of 5000 digits, too long to read; the summary must be")


@pytest.mark.parametrize(
    ("option", "text", "key"),
    [
        ("--payload", '{"data": "the report", "model_config": {"model": "fake:echo"}, "data": ""}', "data"),
        ("--context", '{"data_class": "pii_processing", "tier": "economy", "data_class": null}', "data_class"),
        ("--payload", '{"data": "x", "model_config": {"model": "fake:echo", "model": "gpt-4o"}}', "model"),
    ],
)
def test_a_key_written_twice_in_a_json_option_is_refused_not_the_first_dropped(cli_env, capsys, option, text, key):
    """JSON keeps the last of a key written twice: a payload's field, or a context's data class, written a second
    time further down a long --payload or --payload-file, replaced the first without a word (a call confined to
    pii_processing sent as unconfined), as the catalog refuses a YAML key written twice. It is bad input, named."""
    args = {"--payload": '{"data": "x"}', option: text}
    assert main(["explain", "skill.analysis", *(a for item in args.items() for a in item)]) == 2
    message = json.loads(capsys.readouterr().err)["error"]["message"]
    assert message == f"{option} holds the key {key!r} twice (JSON keeps only the last): write it once"


@pytest.mark.parametrize(
    ("option", "text", "said"),
    [
        ("--payload", '{"data": NaN}', "--payload holds NaN, which is no JSON (RFC 8259 has no NaN or Infinity)"),
        ("--payload", '{"data": [1, -Infinity]}', "--payload holds -Infinity, which is no JSON"),
        ("--payload", '{"data": 1e999}', "--payload holds the number 1e999, too large for any float"),
        ("--context", '{"tier": NaN}', "--context holds NaN, which is no JSON"),
    ],
)
def test_a_json_option_holding_nan_or_infinity_is_refused_not_sent_as_text(cli_env, capsys, option, text, said):
    # Python's json takes NaN, Infinity and 1e999 (as inf): a pandas dump's `{"data": NaN}` was called, the model
    # asked to analyse "NaN" (and the call paid for), where RFC 8259 JSON, as every other reader's, has no such value
    payload = text if option == "--payload" else '{"data": "x"}'
    argv = ["invoke", "skill.analysis", "--payload", payload]
    if option == "--context":
        argv += ["--context", text]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err and ("write null, or the value as a string" in err or "write it as a string" in err)
    assert not (cli_env / "cli.db").exists()  # nothing was called, nor recorded


@pytest.mark.parametrize(
    ("argv", "stdin", "said"),
    [
        (["--payload", ""], b"", "--payload is empty (an unset shell variable?)"),
        (["--payload", " \n"], b"", "--payload is empty (an unset shell variable?)"),
        (["--payload-file", "-"], b"", "--payload-file - is empty: nothing came on stdin (did the command piping"),
        (["--payload-file", "-"], b"\xef\xbb\xbf\r\n", "--payload-file - is empty: nothing came on stdin"),
        (["--payload-file", "EMPTY"], b"", "--payload-file EMPTY is empty (a file not written yet?)"),
    ],
)
def test_an_empty_payload_is_said_to_be_empty_not_json_expecting_a_value(
    cli_env, capsys, monkeypatch, tmp_path, argv, stdin, said
):
    """`--payload "$PAYLOAD"` with PAYLOAD unset, `make_payload | magsag invoke ... --payload-file -` where
    make_payload failed, or a file left empty: "--payload is not valid JSON (Expecting value at char 0)", which
    sends one looking for a typo in JSON that is not there."""
    import io
    import sys

    (tmp_path / "EMPTY").write_bytes(stdin)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    assert main(["invoke", "skill.analysis", *argv]) == 2
    message = json.loads(capsys.readouterr().err)["error"]["message"]
    assert message.startswith(said), message
    assert "Expecting value" not in message and 'pass an object like \'{"data": "..."}\'' in message
    assert not (cli_env / "cli.db").exists()  # nothing was called, nor recorded


def test_an_empty_summary_on_stdin_is_said_to_be_empty_to_the_gate(cli_env, capsys, monkeypatch):
    """`magsag flow summarize | magsag flow gate - --policy P` where summarize failed (its error on stderr, nothing on
    stdout): the gate said "not JSON: Expecting value: line 1 column 1 (char 0)"."""
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    policy = str(CATALOG / "policies" / "model_governance.yaml")
    assert main(["flow", "gate", "-", "--policy", policy]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gate: the summary on stdin is empty: nothing came on stdin (did the command piping"), err
    assert "Expecting value" not in err


def test_a_payload_files_json_mistake_is_placed_by_line_and_column(cli_env, capsys, monkeypatch, tmp_path):
    """A payload file of many lines whose JSON lacks a comma was told "--payload-file is not valid JSON (Expecting ','
    delimiter at char 38)", a 0-based offset into the whole file, to be counted out by hand; and one line of --payload
    was told a place one short of the column an editor shows. Placed as an editor counts now: a line and a column in a
    file of lines, the character (from 1) in one line. Nothing is called or recorded."""
    (tmp_path / "payload.json").write_text('{\n  "data": "Q3 revenue 1.2M"\n  "model_config": {"model": "gpt-4o"}\n}\n')
    monkeypatch.chdir(tmp_path)
    assert main(["invoke", "skill.analysis", "--payload-file", "payload.json"]) == 2
    in_file = json.loads(capsys.readouterr().err)["error"]["message"]
    assert main(["invoke", "skill.analysis", "--payload", '{"data": "x" "more": 1}']) == 2
    in_line = json.loads(capsys.readouterr().err)["error"]["message"]
    said = "--payload-file is not valid JSON (Expecting ',' delimiter at line 3, column 3); "
    assert in_file.startswith(said), in_file
    assert in_line.startswith("--payload is not valid JSON (Expecting ',' delimiter at character 14); "), in_line
    assert not (cli_env / "cli.db").exists()


def test_a_byte_order_mark_before_an_inline_payload_is_no_part_of_it(cli_env, capsys, monkeypatch, tmp_path):
    """`--payload "$(cat payload.json)"` of a file Notepad saved begins with a byte order mark, which --payload-file
    takes off as no part of the JSON; --payload was told "Unexpected UTF-8 BOM (decode using utf-8-sig) at character
    1", Python's advice. It is read as the file is, and a mistake after it is placed as an editor shows it (CRLF lines
    counted as lines)."""
    code = main(["invoke", "skill.analysis", "--payload", '\ufeff{\r\n  "data": "x"\r\n  "more": 1\r\n}'])
    said = json.loads(capsys.readouterr().err)["error"]["message"]
    assert code == 2 and said.startswith("--payload is not valid JSON (Expecting ',' delimiter at line 3, column 3); ")
    assert "BOM" not in said
    assert main(["invoke", "skill.analysis", "--payload", '\ufeff{"data": "x" "more": 1}']) == 2
    said = json.loads(capsys.readouterr().err)["error"]["message"]
    assert said.startswith("--payload is not valid JSON (Expecting ',' delimiter at character 14); "), said
    assert not (cli_env / "cli.db").exists()
