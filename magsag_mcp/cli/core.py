"""``magsag invoke``, ``explain``, ``run``, ``doctor`` and ``catalog validate``."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

import anyio

from ..call_ids import new_run_id
from ..errors import MagsagError, redact
from ..signals import stopped_by_sigterm
from . import CommandGroups, exit_code, given, print_error, print_json
from .json_input import PAYLOAD_FILE_HELP, json_object, payload_given


def _check_names(args: argparse.Namespace) -> None:
    """--agent and --run-id refused as the command line names them, before anything is opened: the service's
    refusal names the call's fields, MCP's arguments (`run_id 'a\\tb' holds the control character U+0009`)."""
    from ..text import check_name

    for field in ("agent", "run_id"):
        check_name(getattr(args, field, None), "--" + field.replace("_", "-"))


def _invoke(args: argparse.Namespace) -> int:
    from ..invoke_result import shown_answer
    from ..service import Service

    _check_names(args)
    payload = payload_given(args)
    context = json_object(args.context, "--context") if args.context else None
    # the run's id made here when none is given, so that a call stopped by Ctrl-C or SIGTERM (recorded as cancelled,
    # with what it spent) can be named: stopped, it printed no result, and its run was found only by its time
    run_id = args.run_id or new_run_id()

    async def go() -> dict[str, Any]:
        async with await Service.open(catalog=args.catalog, db=args.db) as svc:
            result = await svc.invoke_skill(args.skill_id, payload, agent=args.agent, run_id=run_id, context=context)
            # printed, it leaves the process: less a key the vendor's answer quotes, as MCP's invoke_skill sends it
            return shown_answer(result.to_dict(), result.call_keys)

    try:
        print_json(anyio.run(stopped_by_sigterm, go))
    except KeyboardInterrupt:
        print(redact(stopped_run(run_id)), file=sys.stderr)
        raise
    except MagsagError as exc:
        print_error(exc)
        return exit_code(exc)
    return 0


def _explain(args: argparse.Namespace) -> int:
    from ..result_dicts import RouteExplanationDict
    from ..service import Service

    _check_names(args)
    payload = payload_given(args)
    context = json_object(args.context, "--context") if args.context else None

    async def go() -> RouteExplanationDict:
        # a plan reads no spend: a --db with no ledger yet gets none (a mistyped one then passed for a ledger), and
        # an empty file (one an install made for MAGSAG_DB) is none yet either, left as it is
        async with await Service.open(
            catalog=args.catalog, db=args.db, create_ledger=False, empty_ledger_ok=True, reading=True
        ) as svc:
            return await svc.explain_asking(args.skill_id, payload, context=context, agent=args.agent)

    print_json(anyio.run(go))
    return 0


def _run_agent(args: argparse.Namespace) -> int:
    from ..answer_keys import answer_without_known_keys
    from ..api import Magsag
    from ..api_skills import gathered
    from ..redaction import call_keys_known

    _check_names(args)
    payload = payload_given(args)
    with Magsag(catalog=args.catalog, db=args.db, agent=args.agent_id, run_id=args.run_id) as mg:
        # an agent the catalog lacks is refused before a run begins: its error names no run (none is recorded, and
        # `data query --run-id` with the id it named found nothing)
        mg.runner.registry.agent(args.agent_id)
        given: set[str] = set()
        mg.runner.call_keys = given  # (its calls' own credentials, looked for in what it returns)
        try:
            # stdout is the run's JSON (`magsag run a | jq`): what the agent prints goes to stderr
            with contextlib.redirect_stdout(sys.stderr):
                result = mg.runner.run_agent(args.agent_id, payload, run_id=mg.run_id)
        except KeyboardInterrupt:
            print(redact(stopped_run(mg.run_id)), file=sys.stderr)
            raise
        except MagsagError as exc:
            _as_the_runs(exc, mg)
            # less the credentials the run's calls gave themselves (forgotten as each ended), as a result printed: what
            # it says (the agent's own, quoting an answer) and the paid answer it carries (a dict: no call_keys on it)
            with call_keys_known(gathered(given)):
                exc.redact_again()
            if exc.result is not None:
                exc.result = answer_without_known_keys(exc.result, call_keys=gathered(given))
            raise
        except Exception as exc:  # the agent's own code failed: show its frames, not ours
            # (what it says of a call's answer may quote a credential that call gave itself, and then forgot)
            with call_keys_known(gathered(given)):
                _print_agent_failure(
                    args.agent_id, exc, mg.service.catalog.root / "agents", mg.run_id, spend=_runs_cost(mg)
                )
            return 1
        # the agent's result may quote a vendor's answer, and one quoting the key it was sent with loses it here
        print_json(answer_without_known_keys(result, call_keys=gathered(given)))
        # stdout stays the agent's JSON; the run's id (its delegated runs record it as their parent) is
        # what `magsag budget --run-id` and `flow summarize --run-id` take for the whole run
        print(f"run_id: {mg.run_id}", file=sys.stderr)
    return 0


def stopped_run(run_id: str) -> str:
    """What a command stopped by Ctrl-C or SIGTERM mid-run says on stderr: the run it stopped, and where what the run
    spent is (a call in flight is recorded as cancelled, with the tokens a vendor may still bill)."""
    return f"magsag: stopped; run_id: {run_id} (what it spent is in the ledger: magsag data query --run-id {run_id})"


def _as_the_runs(exc: MagsagError, mg: Any) -> None:
    """The error of an agent's run says the run's id and cost, not its failed call's (which a failed call's
    error carries: a SAG's delegated run, and that one call): the run's id (stdout is empty) is what finds its
    calls, the runs it delegated included, and `magsag budget --run-id` counts them all, as its cost does."""
    exc.details["run_id"] = mg.run_id
    exc.details.update(_runs_cost(mg))


def _runs_cost(mg: Any) -> dict[str, Any]:
    """What the agent's whole run cost, its delegated runs included: ``cost_usd`` (null with ``cost_unknown``
    when any attempt's cost is unknown), for the JSON error of a run that failed, however it failed."""
    try:
        spend = mg.obs.cost_detail()
    except MagsagError:  # the ledger cannot say: no figure rather than the failed call's
        spend = {"cost_complete": False}
    complete = bool(spend.get("cost_complete"))
    return {"cost_usd": spend["known_usd"] if complete else None, "cost_unknown": not complete}


def _print_agent_failure(
    agent_id: str,
    exc: BaseException,
    agents_dir: Path,
    run_id: str | None = None,
    *,
    spend: dict[str, Any] | None = None,
) -> None:
    """The traceback from the agent's first frame on (magsag's frames above it only say how it was
    called), then the usual JSON error, with the run's id and ``spend`` (what it cost, as a MagsagError of
    the run says it), or at a terminal its summary, as :func:`~magsag_mcp.cli.print_error` decides. Both are
    redacted: an agent may put anything in a message."""
    import traceback

    import magsag_mcp

    from ..agent_failures import agent_error_message
    from .error_summary import stderr_is_terminal, summary

    package = str(Path(magsag_mcp.__file__).parent)
    agents = str(agents_dir)  # the bundled catalog's agents live inside the package

    def agents_own(filename: str) -> bool:
        return not filename.startswith(package) or filename.startswith(agents)

    frames = traceback.extract_tb(exc.__traceback__)
    first = next((i for i, f in enumerate(frames) if agents_own(f.filename)), len(frames))
    lines = ["Traceback (the agent's code):\n", *traceback.format_list(frames[first:])]
    lines += traceback.format_exception_only(type(exc), exc)
    sys.stderr.write(redact("".join(lines)))
    where = frames[first] if first < len(frames) else (frames[-1] if frames else None)
    error = {
        "type": "agent_error",
        "message": redact(agent_error_message(agent_id, exc)),  # as its run's record says it
        "agent": agent_id,
    }
    if run_id is not None:
        error["run_id"] = run_id
    error.update(spend or {})
    if where is not None:
        error["where"] = f"{where.filename}:{where.lineno} in {where.name}"
    if stderr_is_terminal():  # a person: the summary every command's error gets there, under the traceback
        print("\n".join(summary(error)), file=sys.stderr)
    else:  # a file, a pipe, a script's capture: the JSON it parses
        print_json({"error": error}, stream=sys.stderr)


def _doctor(args: argparse.Namespace) -> int:
    from ..doctor import diagnose

    # a catalog that cannot be loaded is among the problems reported (exit 1), not bad input that stops the report
    report = anyio.run(lambda: diagnose(args.catalog, args.db, probe=args.probe))
    failed = report.get("probe_failed", [])
    code = 1 if failed or report["problems"] else 0
    if args.json:
        print_json(report)
        return code
    print(f"catalog : {report['catalog']}")
    none = " (an empty file, no ledger yet: the first call makes it one)" if report["db_empty"] else ""
    if not report["db_exists"] and not none:
        makes = ", and no call can make it: see the problem"
        makes = " yet: the first call makes it" if report["db_makeable"] else makes
        none = f" (none there{makes})"
    print(f"ledger  : {report['db']}{none}")
    print(f"sync    : {report['ledger_sync']['mode']} (MAGSAG_LEDGER_SYNC): {report['ledger_sync']['said']}")
    print(f"breaker : {report['breaker']['said']}")
    metrics = report["metrics"]
    where = f"at {metrics['url']} (served by {metrics['served_by']}), " if metrics.get("url") else ""
    print(f"metrics : {where}{metrics['said']}")
    wide = max((len(info.get("wire", "")) for info in report["providers"].values()), default=0)
    # where each provider's calls go, between its wire and its status (a status is each line's end)
    url_wide = max((len(info.get("base_url") or "") for info in report["providers"].values()), default=0)
    for name, info in report["providers"].items():
        reach = report.get("reachable", {}).get(name)
        if info.get("unavailable"):
            status = f"not configured: {info['unavailable']}"  # the probe's own note would say it twice
        elif reach is None or reach == "reachable":
            status = "ready" if reach is None else "ready (reachable)"
            if reach is None and info.get("base_url_set") is False:
                # local at its default URL, which no one set: a newcomer with no Ollama read "ready" as a model there
                status = (
                    "ready if a local server (Ollama, vLLM, LM Studio) listens at its default URL; --probe tries it"
                )
        else:  # e.g. "answered HTTP 401" (a wrong key) or "unreachable: ...": configured, yet not ready
            status = f"configured, but {reach}"
            if name not in failed and info.get("base_url_set") is False:  # local at its default URL, unasked
                status += " (not counted: nothing sets its URL or sends calls to it)"
        url = info.get("base_url") or ""
        print(f"  {name:<10} {info.get('wire', ''):<{wide}} {url:<{url_wide}} {status}")
    if (local := report.get("local_models")) is not None:
        more = f" and {local['more']} more" if local["more"] else ""
        served = f"serves {', '.join(local['models'])}{more}" if local["models"] else "serves no model yet"
        print(f"local   : the server at {local['base_url']} {served}")
    for k, v in report["overrides"].items():
        print(f"override: {k}={v}")
    for scheme, proxy in report["network"]["proxies"].items():
        print(f"proxy   : {scheme}: {proxy}")
    for k, v in report["network"]["ca"].items():
        print(f"ca      : {k}={v}")
    for note in report["notes"]:
        print(f"note    : {note}")
    for problem in report["problems"]:
        print(f"problem: {problem}")
    if failed:
        print(f"doctor: configured but failing the probe: {', '.join(failed)}")
    return code


def _validate(args: argparse.Namespace) -> int:
    from ..catalog import find_catalog, validate_catalog
    from ..catalog_cap_checks import request_cap_notes
    from ..catalog_price_checks import price_notes
    from ..plurals import counted

    # a ./catalog without skills/ (the guide's policy file written in a new project) is checked, and what it lacks
    # listed (exit 1), as when it is named: every other command refuses it, exit 2, and validate refused it so too
    root = find_catalog(args.catalog, partial_ok=True)
    problems = validate_catalog(root)
    # notes, not problems (doctor's too): they do not fail validate, as the catalog works as written
    notes = [redact(note) for note in price_notes(root) + request_cap_notes(root)]
    if problems:
        print(f"{root}: {counted(len(problems), 'problem')}")
        for p in problems:
            print(f"  - {p}")
    else:
        print(f"{root}: ok")
    for note in notes:
        print(f"note: {note}")
    return 1 if problems else 0


def _skills(args: argparse.Namespace) -> int:
    from ..catalog import load_catalog

    skills = load_catalog(args.catalog).skill_list()
    if args.json:
        print_json(skills)
        return 0
    for skill in skills:
        print(f"{skill['id']}  payload: {', '.join(skill['payload_fields']) or '(none)'}  ({skill['output']})")
        print(f"    {skill['description']}")
    return 0


def register(groups: CommandGroups) -> None:
    top = groups.top
    for name, func, helptext, description in (
        (
            "invoke",
            _invoke,
            "invoke a skill and print the result as JSON",
            "Invoke a skill: its payload is checked against the skill's input schema, the call is routed along its "
            "chain (retries, then fallbacks), held to the catalog's policies and budgets before anything is sent, "
            "and recorded in the ledger, failed or not. The result (output, model, usage, cost, trace) is printed "
            "as JSON; an error is printed as JSON on stderr (at a terminal, what failed and its fix).",
        ),
        (
            "explain",
            _explain,
            "print the routing plan for a skill call, calling nothing",
            "Print, as JSON, the routing plan for a skill call: the targets it would try in order, which of them "
            "a policy or a missing key rules out and why, and the most each could cost; nothing is called, spent "
            "or recorded.",
        ),
    ):
        p = groups.add(top, name, help=helptext, description=description)
        p.add_argument("skill_id", help="e.g. skill.analysis (`magsag catalog skills` lists them)")
        src = p.add_mutually_exclusive_group()
        src.add_argument("--payload", default="{}", help="the payload as a JSON object")
        src.add_argument("--payload-file", type=given, help=PAYLOAD_FILE_HELP)
        # empty (`--context "$CTX"`, CTX unset) is refused: it was read as no context, a data class's confinement lost
        p.add_argument("--context", type=given, help='call context as JSON, e.g. \'{"preferred_model": "gpt-4o"}\'')
        if name == "invoke":
            p.add_argument(
                "--agent", type=given, help="the call's agent, recorded in the ledger, whose daily limit then applies"
            )
            p.add_argument(
                "--run-id",
                type=given,
                help="the run the call is recorded under (default: a new one): an existing run's id joins it, under "
                "its run limit (a delegated run's: its parent's, as `magsag budget --run-id` shows)",
            )
        else:
            p.add_argument("--agent", type=given, help="the call's agent, whose daily limit then applies")
        p.set_defaults(func=func)
    p = groups.add(
        top,
        "run",
        help="run a MAG or SAG agent from the catalog",
        description="Run a MAG or SAG agent of the catalog's agents/ with a payload: its calls (and the runs it "
        "delegates) are routed, governed and recorded under one run id. Its result is printed as JSON on stdout; "
        "what the agent prints, and the run id, go to stderr.",
    )
    p.add_argument("agent_id", help="an agent's id in the catalog's agents/")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--payload", default="{}", help="the payload as a JSON object")
    src.add_argument("--payload-file", type=given, help=PAYLOAD_FILE_HELP)
    p.add_argument(
        "--run-id", type=given, help="the run's id, which its delegated runs record as their parent (default: new)"
    )
    p.set_defaults(func=_run_agent)
    p = groups.add(top, "doctor", help="which providers are configured (never printing a key)")
    p.add_argument(
        "--probe",
        action="store_true",
        help=(
            "also try to reach each configured provider; exit 1 if one fails (local only when its URL is set, "
            "or MAGSAG_PROVIDER / MAGSAG_MODEL send calls to it)"
        ),
    )
    p.description = (
        "Which providers are configured (never printing a key) and the base URL each one's calls go to, where the "
        "catalog and ledger are, the proxies "
        "(never their credentials), NO_PROXY and CA bundles in use, and any MAGSAG_PROVIDER / MAGSAG_MODEL / "
        "MAGSAG_ALLOWED_BASE_URLS setting or provider base URL (OPENAI_BASE_URL, ...) calls would refuse, a misspelt "
        "MAGSAG_* variable, which nothing reads (PROVDER for PROVIDER, DB_PATH for DB), and the problems "
        "`magsag catalog validate` lists (exit 1); a note names each skill no configured provider can serve."
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="the report as JSON: providers, network, problems, notes, and with --probe reachable and probe_failed",
    )
    p.set_defaults(func=_doctor)
    cat = groups.group("catalog", help="check the catalog, list its skills")
    p = groups.add(
        cat,
        "validate",
        reads=("catalog",),
        help="list every problem in the catalog with its file",
        description="Check the catalog (skills, routing, agents, policies, prices) and list every problem found, "
        "each with its file and what to fix; exit 1 if there is one, 0 if it is ok.",
    )
    p.set_defaults(func=_validate)
    p = groups.add(
        cat,
        "skills",
        reads=("catalog",),
        help="the skills: id, payload fields and description",
        description="List the catalog's skills: each one's id, payload fields, output and description.",
    )
    p.add_argument("--json", action="store_true", help="everything, input schemas included, as JSON")
    p.set_defaults(func=_skills)
