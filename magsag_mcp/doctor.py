"""``magsag doctor``'s report: which providers are configured (never a key), where the catalog and the ledger are, the
network settings (proxies, CA bundles), the ledger's sync mode, the circuit breaker and ``/metrics``
(:mod:`.doctor_operations`), and every problem found, each with what to fix.

A catalog that cannot be loaded (malformed YAML, an agent naming a skill there is not) is a problem of the report, not
an error that stops it: the providers, the ledger and the network are diagnosed all the same, and ``doctor`` exits 1,
as for any problem it finds. Only what needs the loaded catalog (the skills no configured provider serves, the
targets ``MAGSAG_PROVIDER`` / ``MAGSAG_MODEL`` leave a skill) is left out, and a note says so. A setting that magsag-mcp
refuses as it opens (``MAGSAG_CALL_DEADLINE=abc``, which stops every other command, exit 2) is a problem of the report
too: each one is listed with its fix, and the rest of the report takes its default. So is a ledger that cannot be
opened (a file that is no SQLite database, a ledger a newer magsag-mcp migrated): its refusal is a problem, and every
other check is made all the same, the catalog's included (the service opens without the ledger for the report); with
the catalog unloadable too, the report is built from what needs neither.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from .catalog import catalog_variables, find_catalog, installed_catalog_note, validate_catalog
from .errors import CatalogError, LedgerError, redact_values
from .providers import ProviderSet, provider_names
from .redaction import redact, register_env_secrets
from .settings import (
    connect_timeout,
    read_timeout,
    refused_at_open,
    setting_problems,
    unread_variables,
)
from .transport import Timeouts, Transport
from .types import Target


async def diagnose(
    catalog: str | os.PathLike[str] | None,
    db: str | os.PathLike[str] | None,
    *,
    probe: bool = False,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The report of ``magsag doctor`` (with ``probe``: ``reachable`` and ``probe_failed`` too). It makes nothing:
    where there is no ledger yet it says so; an empty file at ``MAGSAG_DB`` (made by an install) is none yet either,
    and an empty one at ``db`` is refused as the reading commands refuse it (a path typed by hand)."""
    from .ledger.problems import NoLedger
    from .service import Service

    env = dict(os.environ if env is None else env)
    # a ./catalog without skills/ is reported as one that cannot be loaded (validate's problem of it, with its fix),
    # beside the rest of the report: refused as every other command refuses it, it stopped the report, exit 2
    catalog = find_catalog(catalog, env, partial_ok=True)
    refused = refused_at_open(env)
    for name in refused:  # each is a problem of the report; the rest is diagnosed as if it were unset
        del env[name]
    try:
        # a ledger that cannot be opened leaves the service open without it: the catalog's checks are made all the
        # same (they were left out, and a note said so, as for a catalog that cannot be loaded)
        service = await Service.open(
            catalog=catalog,
            db=db,
            env=env,
            create_ledger=False,
            empty_ledger_ok=not db,
            reading=True,
            ledger_refusal_kept=True,
        )
    except (CatalogError, LedgerError) as exc:  # (a catalog is loaded first: with both bad, its error is the one)
        if isinstance(exc, NoLedger):  # (an empty file at a --db typed by hand: refused, as reading commands do)
            raise
        report = await _without_service(catalog, db, env, exc, probe)
    else:
        async with service:
            report = service.doctor()
            if service.unopened_ledger is not None:
                report["problems"].append(service.unopened_ledger)
                report["notes"] += _unchecked_notes(service.catalog.root, service.ledger.path, False, True)
            if probe:
                report["reachable"] = await service.probe()
                report["probe_failed"] = service.probe_failures(report["reachable"])
                if report["reachable"].get("local") == "reachable":
                    await _local_models(report, service)
    if refused:
        report["problems"][:0] = refused.values()
        report["notes"].append(
            f"magsag-mcp refuses to open with {', '.join(refused)} as set: every call, `magsag-mcp` and every "
            "command that opens it fail until the problems listed are fixed; the rest of this report takes "
            f"{'its' if len(refused) == 1 else 'their'} default"
        )
    return report


async def _local_models(report: dict[str, Any], service: Any) -> None:
    """The reachable local server's models (``local_models``), and a note of each configured local target naming a
    model it lacks: every call sent there fails, told the same fix."""
    from .doctor_local import local_models

    local = await local_models(service.providers.get("local"), service.named_targets())
    if local is None:
        return
    report["local_models"] = local
    for label, fix in local["missing"].items():
        report["notes"].append(
            f"{label}, a target the catalog or MAGSAG_PROVIDER / MAGSAG_MODEL names, is not among the local "
            f"server's models; each call sent to it fails: {fix}"
        )


async def _without_service(
    catalog: str | os.PathLike[str] | None,
    db: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None,
    exc: CatalogError | LedgerError,
    probe: bool,
) -> dict[str, Any]:
    """The report when the service cannot open, ``exc`` saying why: a catalog that cannot be loaded (its problems, as
    ``magsag catalog validate`` lists them, each with its file and key) or a ledger that cannot be opened (its
    refusal, with its fix), beside everything the service would have reported that needs neither. A ledger that then
    fails to open too (the catalog's error came first) is listed all the same: it stopped the report, exit 2."""
    from .env_routing import override_providers
    from .ledger import Ledger, default_db_path
    from .ledger.connection import ledger_sync_from_env

    env = dict(os.environ if env is None else env)
    register_env_secrets(env)
    root = find_catalog(catalog, env)
    # as Service.open builds them: a bad timeout setting is refused here as there, before the ledger opens
    transport = Transport(timeouts=Timeouts(connect=connect_timeout(env), read=read_timeout(env)), env=env)
    try:
        path = Path(db).expanduser() if db else default_db_path(env)
        ledger = Ledger(path, sync=ledger_sync_from_env(env), create=False, blank_is_absent=not db, reading=True)
        try:
            unopened = await _ledger_refusal(ledger)
            providers = ProviderSet(env, transport)
            # (what refused it is listed, whatever it was; compared redacted, as validate_catalog lists them: a problem
            # quoting a key was listed twice, once from each)
            problems = validate_catalog(root, env)
            if isinstance(exc, CatalogError):
                problems += [p for p in map(redact, exc.problems) if p not in problems]
            notes = _unchecked_notes(root, path, isinstance(exc, CatalogError), unopened is not None)
            problems += [unopened] if unopened else []
            report = report_of(env, providers, transport, ledger, root, problems, notes)
            if probe:
                report["reachable"] = await probe_providers(providers)
                report["probe_failed"] = providers.probe_failures(report["reachable"], override_providers(env))
        finally:
            await ledger.close()
    finally:
        await transport.aclose()
    return report


async def _ledger_refusal(ledger: Any) -> str | None:
    """Open ``ledger``; why it cannot be opened (its refusal's message, with its fix), or None once it is open."""
    from .ledger.problems import NoLedger

    try:
        await ledger.open()
    except NoLedger:
        raise
    except LedgerError as exc:
        return exc.message
    return None


def _unchecked_notes(root: Path, ledger_path: Path, catalog_failed: bool, ledger_failed: bool) -> list[str]:
    """What a report without a service says it left out, and why: every call fails until what it names is fixed."""
    unchecked = (
        "what needs the catalog (the skills no configured provider serves, what MAGSAG_PROVIDER / "
        "MAGSAG_MODEL leave a skill's calls) was not checked"
    )
    notes = []
    if catalog_failed:
        notes.append(
            f"the catalog at {root} cannot be loaded, so magsag-mcp cannot start and every call fails until the "
            f"problems listed are fixed; {unchecked}"
        )
    if ledger_failed:  # (the catalog is checked all the same where it loaded: see diagnose)
        notes.append(
            f"the ledger at {ledger_path} cannot be opened, so magsag-mcp cannot start and every call and report "
            f"fails until the problem listed is fixed{f'; {unchecked}' if catalog_failed else ''}"
        )
    return notes


def report_of(
    env: Mapping[str, str],
    providers: ProviderSet,
    transport: Transport,
    ledger: Any,
    catalog_root: Path,
    catalog_problems: list[str],
    catalog_notes: Collection[str],
    catalog_targets: Collection[Target] | None = None,
) -> dict[str, Any]:
    """The report, with ``catalog_problems`` (what calls would fail on in the catalog and the overrides) and
    ``catalog_notes`` (what may fail, the skills no configured provider serves) found by whoever loaded it, and
    ``catalog_targets`` (every target it names and the overrides make; None: unknown, no catalog loaded), by which a
    key that the vendor's own API refuses and none of them sends there is a note, not a problem."""
    from .doctor_operations import operations_report
    from .ledger.connection import relative_ledger_note, unmakeable_ledger_problem, where_ledger_is
    from .ledger.copies import copy_note

    path = ledger.copied_from or ledger.path  # not the copy it read (see copies.py)
    misspelt, unread = unread_variables(env, catalog_variables(catalog_root))  # (its ${VAR} are read too)
    # none there yet, and none the first call can make (a folder on its path is a file, or not writable)
    unmakeable = unmakeable_ledger_problem(path, env) if ledger.absent and not ledger.blank else None
    # the ledger's sync mode, the breaker, /metrics (where and who may read it; never the scrape token)
    operations, operations_problems = operations_report(env)
    provider_problems, provider_notes = providers.setting_problems(), providers.setting_notes()
    for problem, note in providers.unsent_foreign_keys(catalog_targets) if catalog_targets is not None else ():
        provider_problems.remove(problem)
        provider_notes.append(note)
    report = {
        "catalog": str(catalog_root),
        # absolute: a relative MAGSAG_DB names a file in whatever folder a process runs in (see the note)
        "db": str(where_ledger_is(path)),
        "db_exists": not ledger.absent,
        "db_empty": ledger.blank,
        "db_makeable": unmakeable is None,
        "providers": providers.describe(),
        "overrides": {k: v for k in ("MAGSAG_PROVIDER", "MAGSAG_MODEL") if (v := env.get(k))},
        "network": transport.describe(),
        **operations,
        "problems": misspelt
        + setting_problems(env, None if catalog_targets is None else lambda: catalog_targets)
        + provider_problems
        + transport.proxies.problems()
        + catalog_problems
        + ([ledger.read_only_error().message] if ledger.read_only else [])
        + ([unmakeable] if unmakeable else [])
        + operations_problems,
        "notes": [
            n
            for n in (installed_catalog_note(catalog_root), relative_ledger_note(path, env), copy_note(ledger))
            if n
        ]
        + unread
        + provider_notes
        + list(catalog_notes),
    }
    # redacted whole: doctor's output goes into tickets and CI logs, and a key pasted into a variable that names
    # a model or a file (a client's config with two values swapped: MAGSAG_MODEL, MAGSAG_DB, SSL_CERT_FILE) is
    # what it is run to find
    return redact_values(report)


async def probe_providers(providers: ProviderSet) -> dict[str, str]:
    """Try each configured provider's cheapest endpoint; unconfigured ones are reported as such."""
    out: dict[str, str] = {}
    for name in provider_names():
        provider = providers.get(name)
        reason = provider.unavailable(Target(name, "probe"))
        out[name] = f"not configured ({reason})" if reason else await provider.probe()
    return out
