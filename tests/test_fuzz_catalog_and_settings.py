"""Fuzzing the catalog's YAML and the MAGSAG_* settings: a mutated file or value gets a clear refusal, never a crash.

Each case mutates one file of a copy of the shipped catalog (skills, routing, policies, prices, agents) with a fixed
seed: a field of its YAML dropped, retyped, nested, duplicated or given an unknown neighbour, or its text cut, a
YAML special put in (a tab, an anchor, an alias, a tag, a flow bracket, a BOM, a document marker), a line repeated
or two swapped. ``magsag catalog validate`` must end 0 or 1, without a traceback or a bug's wording, and a refusal
names a file of the catalog; ``Service.open`` (the server's start-up) must open or raise an error of errors.py's tree
that names one. Each MAGSAG_ setting given odd values must let the service open or be refused by a ConfigError that
names the variable, the value of a key never in it.

``FUZZ_CATALOG_CASES`` sets the cases (80 in CI); ``FUZZ_SEED`` draws other ones.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from magsag_mcp import errors as E
from magsag_mcp.cli import main
from magsag_mcp.service import Service
from tests.conftest import CATALOG
from tests.providers.fuzz_answers_helpers import BUG_WORDS, ODD_VALUES

CASES = int(os.environ.get("FUZZ_CATALOG_CASES", "80"))
SEED = os.environ.get("FUZZ_SEED", "63")

#: what is put into a file's text somewhere
YAML_SPECIALS = [
    "\t",
    ":",
    "- ",
    "&a ",
    "*a",
    "*nowhere",
    "!!python/object/apply:os.system ['echo x']\n",
    "!!binary x",
    "{",
    "[",
    "'",
    '"',
    "\x00",
    "\ufeff",
    "%YAML 1.1\n",
    "\n---\n",
    "\n...\n",
    "? ",
    "<<: *a\n",
    "1e999",
    "-1",
    "9" * 400,
    "\ud800",
    "#",
    "|",
    ">-",
    "@",
    "`",
]


def _paths(value: Any, here: tuple = ()) -> list[tuple]:
    out = [here]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*here, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*here, i))
    return out


def mutate_document(doc: Any, rng: random.Random) -> Any:
    """``doc`` (a JSON-safe copy of a YAML document) with one field dropped, retyped, nested or given a neighbour."""
    paths = [p for p in _paths(doc) if p]
    if not paths:
        return rng.choice(ODD_VALUES)
    path = rng.choice(paths)
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    last = path[-1]
    how = rng.randrange(5)
    if how == 0:
        del parent[last]
    elif how == 1:
        parent[last] = rng.choice(ODD_VALUES)
    elif how == 2:
        parent[last] = rng.choice([[parent[last]], {"value": parent[last]}])
    elif how == 3 and isinstance(parent, list):
        parent.insert(last, json.loads(json.dumps(parent[last])))
    elif isinstance(parent, dict):
        parent[rng.choice(["extra", "id", "models", "default", "x" * 200, "", "null"])] = rng.choice(ODD_VALUES)
    else:
        parent.append(rng.choice(ODD_VALUES))
    return doc


def mutate_text(text: str, rng: random.Random) -> str:
    how = rng.randrange(5)
    at = rng.randrange(len(text) + 1)
    lines = text.split("\n")
    if how == 0:
        return text[:at]
    if how in (1, 2):
        return text[:at] + rng.choice(YAML_SPECIALS) + text[at:]
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    if how == 3:
        lines.insert(i, lines[j])
    else:
        lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def mutated(text: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        doc = json.loads(json.dumps(yaml.safe_load(text), default=str))
        return yaml.safe_dump(mutate_document(doc, rng), allow_unicode=True, sort_keys=False)
    return mutate_text(text, rng)


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8", "surrogatepass"))


def _catalog_problem(out: str, rc: int, names: set[str]) -> str | None:
    lowered = out.lower()
    if rc not in (0, 1):
        return f"exit {rc}"
    if "traceback" in lowered or any(w in lowered for w in BUG_WORDS):
        return "a traceback or a bug's wording"
    if rc == 1 and not any(n in out for n in names):
        return "a refusal that names no file of the catalog"
    return None


def test_mutated_catalog_files_are_refused_by_validate_naming_the_file(tmp_path, capsys, cli_env):
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    files = sorted(catalog.rglob("*.yaml"))
    originals = {f: f.read_text() for f in files}
    names = {f.name for f in files} | {"routing", "skills", "policies", "prices", "agents"}
    rng = random.Random(f"catalog-{SEED}")
    problems = []
    for i in range(CASES):
        target = rng.choice(files)
        text = mutated(originals[target], rng)
        _write(target, text)
        try:
            rc = main(["catalog", "validate", "--catalog", str(catalog)])
        except BaseException as exc:  # (SystemExit too: validate returns its code)
            rc, out = -1, f"{type(exc).__name__}: {exc}"
        else:
            captured = capsys.readouterr()
            out = captured.out + captured.err
        problem = _catalog_problem(out, rc, names)
        if problem is not None:
            problems.append(f"#{i} {target.name}: {problem}: {out[-600:]!r}\n  text: {text[:400]!r}")
        _write(target, originals[target])
    assert not problems, f"{len(problems)} of {CASES}:\n" + "\n".join(problems[:6])


@pytest.mark.anyio
@pytest.mark.usefixtures("restored_secrets")
async def test_a_service_opens_on_a_mutated_catalog_or_refuses_it_naming_the_file(tmp_path):
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    files = sorted(catalog.rglob("*.yaml"))
    originals = {f: f.read_text() for f in files}
    names = {f.name for f in files} | {"routing", "skills", "policies", "prices", "agents"}
    rng = random.Random(f"open-{SEED}")
    problems = []
    for i in range(max(CASES // 4, 1)):
        target = rng.choice(files)
        text = mutated(originals[target], rng)
        _write(target, text)
        try:
            svc = await Service.open(catalog=catalog, db=tmp_path / "open.db", env={"MAGSAG_PROVIDER": "fake"})
        except E.MagsagError as exc:
            if not any(n in exc.message for n in names) or any(w in exc.message.lower() for w in BUG_WORDS):
                problems.append(f"#{i} {target.name}: {type(exc).__name__}: {exc.message[:400]}")
        except Exception as exc:  # what escaped the error tree is the problem reported
            problems.append(f"#{i} {target.name}: escaped as {type(exc).__name__}: {exc!r:.300}\n  {text[:300]!r}")
        else:
            await svc.aclose()
        _write(target, originals[target])
    assert not problems, "\n".join(problems[:6])


#: the settings magsag reads, and values of every kind for them
SETTINGS = [
    "MAGSAG_MAX_RETRIES",
    "MAGSAG_RETRY_BASE_DELAY",
    "MAGSAG_RETRY_MAX_DELAY",
    "MAGSAG_CALL_DEADLINE",
    "MAGSAG_CONNECT_TIMEOUT",
    "MAGSAG_READ_TIMEOUT",
    "MAGSAG_LEDGER_SYNC",
    "MAGSAG_PROVIDER",
    "MAGSAG_MODEL",
    "MAGSAG_ALLOWED_BASE_URLS",
    "MAGSAG_BILLED_COST_HOSTS",
    "MAGSAG_CALL_BASE_URLS",
    "MAGSAG_COMPAT_BASE_URL",
    "MAGSAG_LOCAL_LLM_BASE_URL",
    "MAGSAG_COMPAT_API_KEY",
    "MAGSAG_LOCAL_LLM_API_KEY",
    "MAGSAG_MCP_AGENT",
    "MAGSAG_MCP_LOG_LEVEL",
]
VALUES = [
    "",
    " ",
    "0",
    "-1",
    "1",
    "3",
    "0.0001",
    "1e999",
    "-1e999",
    "nan",
    "inf",
    "NaN",
    "1_000",
    "0x10",
    "１２",
    "9" * 400,
    "abc",
    "true",
    "off",
    "NORMAL",
    "full",
    "fake",
    "openai",
    "fake:echo",
    "gpt-4o",
    ":",
    "http://127.0.0.1:9/v1",
    "https://user:pw@host/v1",
    "ftp://x",
    "http://[::1",
    "*",
    ",,,",
    "a\x00b",
    "\u202e",
    "x" * 5000,
]
#: a key's value, which no refusal may show
SECRET_VALUE = "sk-fz63-s3cRq9Lm2Wx7Kb4Np8Tv"


@pytest.mark.anyio
@pytest.mark.usefixtures("restored_secrets")
async def test_any_setting_opens_the_service_or_is_refused_naming_the_variable(tmp_path):
    rng = random.Random(f"settings-{SEED}")
    problems = []
    for i in range(CASES):
        env = {"MAGSAG_PROVIDER": "fake"}
        for name in rng.sample(SETTINGS, rng.randrange(1, 3)):
            # (a key's value is a key, or none: one that is a model's name, "gpt-4o", is a secret that every text and
            # the catalog's every model holding it are refused for, for the rest of the process)
            env[name] = rng.choice([SECRET_VALUE, ""]) if name.endswith("_KEY") else rng.choice(VALUES)
        try:
            svc = await Service.open(catalog=CATALOG, db=tmp_path / f"s{i}.db", env=env)
        except E.MagsagError as exc:
            said = exc.message
            if not any(n in said for n in env if n != "MAGSAG_PROVIDER" or env[n] != "fake") or SECRET_VALUE in said:
                problems.append(f"#{i} {env!r:.300}: {type(exc).__name__}: {said[:300]}")
            elif any(w in said.lower() for w in BUG_WORDS):
                problems.append(f"#{i} {env!r:.300}: worded as a bug: {said[:300]}")
        except Exception as exc:  # what escaped the error tree is the problem reported
            problems.append(f"#{i} {env!r:.300}: escaped as {type(exc).__name__}: {exc!r:.300}")
        else:
            await svc.aclose()
    assert not problems, "\n".join(problems[:8])
