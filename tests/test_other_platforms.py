"""What the package does where the machine is not Linux: Windows (no fork, no fcntl, no statvfs, no signal handlers on
its event loop, a console or pipe encoding that is the ANSI code page) and macOS, each run here as far as this machine
can stand in for it (a POSIX module or attribute hidden, a non-UTF-8 locale)."""

from __future__ import annotations

import codecs
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from magsag_mcp.cli import main

ROOT = Path(__file__).resolve().parent.parent

#: the standard library's modules that Windows has not
POSIX_MODULES = ("fcntl", "resource", "pwd", "grp", "termios", "tty", "pty", "syslog")
#: the os and signal attributes that Windows has not (os.fchmod came to Windows in Python 3.13)
POSIX_OS_ATTRIBUTES = (
    "register_at_fork", "fork", "forkpty", "statvfs", "fstatvfs", "getuid", "geteuid", "getgid", "getegid",
    "getpgid", "killpg", "setsid", "getloadavg", "sched_getaffinity", "mkfifo", "chown", "lchown", "fchown",
    "fchmod", "sync", "WNOHANG", "O_NONBLOCK", "O_NOFOLLOW", "O_CLOEXEC",
)  # fmt: skip
POSIX_SIGNALS = ("SIGHUP", "SIGUSR1", "SIGUSR2", "SIGKILL", "SIGQUIT", "SIGALRM", "SIGPIPE", "SIGCHLD")


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=600,
    )


def test_every_module_imports_without_what_only_posix_has() -> None:
    """Each module of the package imported where fcntl, resource, pwd, ... are missing, and os and signal lack what
    Windows lacks. Its dependencies (the MCP SDK, aiohttp, uvicorn), which choose by sys.platform, are imported first
    with all of it there: only the package's own imports are put to the test. os.register_at_fork, called at import
    by price_data unguarded, made `import magsag_mcp.service` fail with an AttributeError there."""
    listing = _python(
        """
        import importlib, pkgutil, sys, magsag_mcp
        # (but magsag_mcp.__main__, which runs the server as it is imported)
        names = [m.name for m in pkgutil.walk_packages(magsag_mcp.__path__, "magsag_mcp.")]
        names.remove("magsag_mcp.__main__")
        for name in names:
            importlib.import_module(name)
        print("\\n".join(names))
        print("--")
        print("\\n".join(sorted(m for m in sys.modules if not m.startswith(("magsag_mcp", "__main__")))))
        """
    )
    assert listing.returncode == 0, listing.stderr
    ours, _, theirs = listing.stdout.partition("--\n")
    imported = _python(
        f"""
        import importlib, os, signal, sys
        for name in {theirs.split()!r}:
            try:
                importlib.import_module(name)
            except Exception:
                pass
        for name in {POSIX_MODULES!r}:
            sys.modules[name] = None
        for name in {POSIX_OS_ATTRIBUTES!r}:
            if hasattr(os, name):
                delattr(os, name)
        for name in {POSIX_SIGNALS!r}:
            if hasattr(signal, name):
                delattr(signal, name)
        failed = []
        for name in {ours.split()!r}:
            try:
                importlib.import_module(name)
            except Exception as exc:
                failed.append(f"{{name}}: {{type(exc).__name__}}: {{exc}}")
        print("\\n".join(failed))
        """
    )
    assert imported.returncode == 0, imported.stderr
    assert len(ours.split()) > 100  # (the whole package was listed)
    assert imported.stdout.strip() == ""


def _ascii_locale() -> dict[str, str]:
    """A process whose stdio encoding is not UTF-8, as a pipe's on Windows is (the ANSI code page): Python's UTF-8
    mode and its C locale coercion off, in the C locale (ASCII)."""
    return {"LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}


#: a name past ASCII, as an agent's may be (written escaped: the C locale's command line carries ASCII alone)
NAME = "caf\\u00e9 \\u6771\\u4eac"


def _server_log(log_format: str) -> str:
    """What the server's logging (as magsag-mcp configures it) writes to stderr for a record naming ``café 東京``, in a
    process whose locale is ASCII, read as the UTF-8 an MCP client and a log collector read it as."""
    logged = _python(
        f"""
        import logging
        from magsag_mcp.mcp_server.log_format import configure_logging
        configure_logging("INFO", {log_format!r})
        logging.getLogger("magsag_mcp.mcp").info("agent %s answered", {NAME!r}.encode().decode("unicode_escape"))
        """,
        **_ascii_locale(),
    )
    assert logged.returncode == 0, logged.stderr
    return logged.stderr


def test_a_json_log_line_is_json_in_utf8_whatever_the_locale() -> None:
    """Under a locale that is not UTF-8 (Windows' pipes: the ANSI code page), a JSON log line was written in it: a name
    past ASCII became ``caf\\xe9``, no JSON, and the collector dropped the record."""
    (line,) = _server_log("json").splitlines()
    assert json.loads(line)["message"] == "agent café 東京 answered"


def test_a_text_log_line_is_utf8_whatever_the_locale() -> None:
    """The client's log for the server (Claude Desktop's mcp-server-NAME.log) is read as UTF-8: the name as written."""
    assert "agent café 東京 answered" in _server_log("text")


@pytest.mark.anyio
async def test_a_full_disk_is_told_where_there_is_no_statvfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows has no os.statvfs: the free space was never known there, and a ledger that could not be opened on a full
    disk was said as a bare "disk I/O error; check the path and its permissions" (the modes, not the disk). The space
    is read as shutil reads it, which Windows answers (GetDiskFreeSpaceExW): stood in for here by a disk with none
    left, and os without statvfs."""
    import collections
    import shutil
    import sqlite3

    from magsag_mcp.errors import LedgerError
    from magsag_mcp.ledger import Ledger, opening

    db = tmp_path / "full.db"
    async with Ledger(db):
        pass

    def shm_cannot_grow(conn: object) -> None:
        exc = sqlite3.OperationalError("disk I/O error")
        exc.sqlite_errorcode = 4874  # SQLITE_IOERR_SHMSIZE: what a full disk gives at the first read
        raise exc

    monkeypatch.setattr(opening, "migrate", shm_cannot_grow)
    monkeypatch.delattr(os, "statvfs")
    full = collections.namedtuple("usage", "total used free")(2**40, 2**40, 0)
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: full)
    with pytest.raises(LedgerError, match=r"is on a full disk \(disk I/O error\): free some space there"):
        await Ledger(db, create=False).open()


def test_a_catalog_file_powershell_wrote_in_utf16_is_read(tmp_path: Path) -> None:
    """Windows PowerShell 5.1's ``>`` and ``Out-File`` write UTF-16 with a byte order mark (so does Notepad's
    "Unicode"): a catalog's skill or a policy file saved so was refused, "is not UTF-8 text (byte 0xff at 0)". YAML
    reads UTF-16 and UTF-32 as it reads UTF-8, and so does the catalog now, as --payload-file reads JSON."""
    import shutil

    from magsag_mcp.catalog import load_catalog
    from magsag_mcp.governance.policy_files import load_policy_file

    catalog = tmp_path / "catalog"
    shutil.copytree(ROOT / "catalog", catalog)
    skill = catalog / "skills" / "summarization.yaml"
    text = skill.read_text(encoding="utf-8").replace("Summarise text", "Résumé of text")
    skill.write_bytes(text.encode("utf-16"))  # (Python's utf-16: a byte order mark, then the machine's order)
    policies = catalog / "policies" / "model_governance.yaml"
    policies.write_bytes(policies.read_text(encoding="utf-8").encode("utf-32"))

    loaded = load_catalog(catalog, env={})
    assert loaded.skills["skill.summarization"].description.startswith("Résumé of text")
    assert "production_models" in [p.name for p in load_policy_file(policies).policies]


@pytest.mark.parametrize("argv", [["flow", "summarize"], ["data", "query", "--format", "csv"]])
def test_an_output_another_program_has_open_says_to_close_it(ledger_db, tmp_path, monkeypatch, capsys, argv) -> None:
    """On Windows a file Excel shows (last week's audit.csv) can be neither renamed over nor written: the rename fails
    (access denied), then the write in place with a sharing violation, which Python gives errno EACCES. The fix said
    was "give --output a file in a folder this user may write to", in a folder the user could write. Stood in for
    here by the errors Windows raises (an OSError's winerror is Windows' own code)."""
    import errno
    import shutil

    out = tmp_path / "audit.csv"
    out.write_text("kept\n")
    real_replace, real_copy = os.replace, shutil.copyfile

    def access_denied(src, dst, *a, **k):
        if Path(dst) == out:
            raise PermissionError(errno.EACCES, "Access is denied", str(dst))
        return real_replace(src, dst, *a, **k)

    def in_use(src, dst, *a, **k):
        if Path(dst) == out:
            exc = PermissionError(errno.EACCES, "The process cannot access the file because it is being used by "
                                  "another process", str(dst))  # fmt: skip
            exc.winerror = 32  # type: ignore[attr-defined]  # ERROR_SHARING_VIOLATION
            raise exc
        return real_copy(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", access_denied)
    monkeypatch.setattr(shutil, "copyfile", in_use)
    assert main([*argv, "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write --output {out}: The process cannot access the file" in err
    assert "another program has it open (a spreadsheet showing the last export?): close it there" in err
    assert "folder this user may write to" not in err
    assert out.read_text() == "kept\n"


#: a token for the tests (a made-up one)
TOKEN = "Qz7rVb2kXw9mNc4tLp6dHs"


@pytest.mark.parametrize(
    "written",
    [
        (TOKEN + "\r\n").encode("utf-16"),  # Windows PowerShell 5.1: python -c ... > token.txt
        codecs.BOM_UTF8 + (TOKEN + "\r\n").encode(),  # its Set-Content -Encoding UTF8
        (TOKEN + "\n").encode("utf-32"),
    ],
    ids=["utf-16", "utf-8-mark", "utf-32"],
)
def test_a_token_file_powershell_wrote_is_read(tmp_path: Path, written: bytes) -> None:
    """The refusals say to write the token file with the output of a python command; run in Windows PowerShell 5.1,
    ``> token.txt`` writes it in UTF-16, which was refused as "characters other than ASCII"."""
    from magsag_mcp.mcp_server.token_setting import token_setting

    secret = tmp_path / "token.txt"
    secret.write_bytes(written)
    assert token_setting({"MAGSAG_MCP_TOKEN_FILE": str(secret)})[0] == TOKEN


def test_a_token_file_past_ascii_is_refused_in_utf16_too(tmp_path: Path) -> None:
    from magsag_mcp.errors import ConfigError
    from magsag_mcp.mcp_server.token_setting import token_setting

    secret = tmp_path / "token.txt"
    secret.write_bytes("Qz7r\u00e9Vb2k".encode("utf-16"))
    with pytest.raises(ConfigError, match="characters other than ASCII"):
        token_setting({"MAGSAG_MCP_TOKEN_FILE": str(secret)})


def _refusals(tmp_path: Path) -> list[str]:
    """What each refusal of a token says."""
    from magsag_mcp.errors import ConfigError
    from magsag_mcp.mcp_server.http import check_binding
    from magsag_mcp.mcp_server.token_setting import token_setting

    said = []
    for host, token in (("127.0.0.1", " "), ("127.0.0.1", "Qz7r\u00e9Vb2k"), ("0.0.0.0", "Qz7rVb2k")):
        with pytest.raises(ConfigError) as refused:
            check_binding(host, token)
        said.append(refused.value.message)
    for name, content in (("empty", b""), ("past-ascii", "Qz7r\u00e9Vb2k".encode())):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ConfigError) as refused:
            token_setting({"MAGSAG_MCP_TOKEN_FILE": str(tmp_path / name)})
        said.append(refused.value.message)
    return said


def test_the_command_a_token_refusal_names_runs_in_every_shell(tmp_path: Path) -> None:
    """The refusals named python -c 'import secrets; ...': cmd.exe passes single quotes on as they are, and Python
    ran "'import secrets;", a SyntaxError. In double quotes the command runs in cmd, PowerShell and POSIX shells."""
    import re
    import shlex

    for message in _refusals(tmp_path):
        (command,) = re.findall(r'python -c "[^"]*"', message)
        argv = shlex.split(command)  # (as a POSIX shell, cmd and PowerShell split this one alike: no ' \ $ or `)
        assert not set("'\\$`") & set(command)
        made = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, check=True).stdout.strip()
        assert len(made) >= 32


def test_a_catalog_variable_is_found_in_any_case_on_windows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On Windows a variable's name is the same in any case, and Python keeps os.environ's names in upper case: the
    service reads the catalog with a copy of it, where ``${MyGateway_URL}``, written as the user set the variable, was
    "not set". Elsewhere names keep their case, as before."""
    from magsag_mcp.catalog_yaml import read_yaml

    routing = tmp_path / "routing.yaml"
    routing.write_text("base_url: ${MyGateway_URL}\n", encoding="utf-8")
    copy_of_environ = {"MYGATEWAY_URL": "http://gw7.internal:8080"}  # dict(os.environ) on Windows
    read: dict[str, list[str]] = {}
    for system in ("nt", "posix"):
        problems: list[str] = []
        with monkeypatch.context() as patched:  # (undone before the asserts: pytest's report reads os.name too)
            patched.setattr(os, "name", system)
            read[system] = [read_yaml(routing, copy_of_environ, problems)["base_url"], *problems]
    assert read["nt"] == ["http://gw7.internal:8080"]
    not_set = f"{routing}: ${{MyGateway_URL}} is not set; export MyGateway_URL or write ${{MyGateway_URL:-default}}"
    assert read["posix"] == ["${MyGateway_URL}", not_set]


@pytest.mark.anyio
async def test_names_resolve_where_aiodns_refuses_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """aiohttp resolves with aiodns where it is installed (aiohttp[speedups]); aiodns before 3.3 refuses Windows'
    default event loop, the ProactorEventLoop, as it is made, and every call failed there before it was sent. The
    system's resolver, in a thread, is used then. Stood in for by a DefaultResolver that refuses as aiodns does."""
    import aiohttp

    from magsag_mcp.resolver import BoundedResolver

    class RefusesTheLoop(aiohttp.ThreadedResolver):
        def __init__(self) -> None:
            raise RuntimeError("aiodns needs a SelectorEventLoop on Windows. See more: https://github.com/saghul/aiodns/issues/86")

    monkeypatch.setattr(aiohttp, "DefaultResolver", RefusesTheLoop)
    resolver = BoundedResolver(30.0, "30 s")
    try:
        found = await resolver.resolve("localhost", 8080)
    finally:
        await resolver.close()
    assert found and {answer["port"] for answer in found} == {8080}
