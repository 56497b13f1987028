"""Security: secrets (RPC password, cookie contents, database password) never reach logs
(DEBUG included), error lines or `status` output; every SQL statement the indexer and the
adapters run is parameterized (a source scan: no SQL built by string formatting, except a
short, reviewed list of constant DDL/PRAGMA statements); config and params files are
validated with one clear line naming the file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from regtest.harness import Harness
from regtest.node import TestNode
from tests.conftest import REPO
from tests.reliability.support import pg_role_schema, run
from tests.unit.fake_core import free_port

RPC_SECRET = "Rpc5ecretPassw0rd"
DB_SECRET = "Db5ecretPassw0rd"


def _no_secret(text: str, *secrets: str) -> None:
    for s in secrets:
        assert s not in text, f"secret {s[:3]}… leaked:\n{text}"


@pytest.fixture
def node() -> TestNode:
    n = TestNode(port=0, rpcuser="alice", rpcpassword=RPC_SECRET).start()
    h = Harness(n.url)
    h.mine(5)
    h.rpc.close()
    return n


@pytest.mark.postgres
def test_no_secret_in_debug_logs_errors_or_status(node: TestNode) -> None:
    try:
        with pg_role_schema(DB_SECRET) as (db, _, _):
            common = ["--rpc", node.url, "--db", db]
            outputs = []
            for args in (["backfill", "--to", "5"], ["status", "--json"], ["status"],
                         ["locked", "--json"]):
                res = run([*args, *common], level="DEBUG")
                assert res.returncode == 0, res.stderr
                outputs.append(res.stdout + res.stderr)
            assert "DEBUG" in outputs[0]  # the logs really were at DEBUG
            # Errors: unreachable database and wrong RPC password, at DEBUG.
            bad_db = db.replace("127.0.0.1:5432", f"127.0.0.1:{free_port()}")
            res = run(["status", "--rpc", node.url, "--db", bad_db], level="DEBUG")
            assert res.returncode == 2
            outputs.append(res.stdout + res.stderr)
            res = run(["backfill", "--to", "5", "--rpc", node.url.replace(RPC_SECRET, "x"),
                       "--db", db], level="DEBUG")
            assert res.returncode == 2
            outputs.append(res.stdout + res.stderr)
    finally:
        node.stop()
    for text in outputs:
        _no_secret(text, RPC_SECRET, DB_SECRET)


def test_cookie_contents_never_printed(tmp_path: Path) -> None:
    with TestNode(port=0, datadir=tmp_path / "node") as node:
        assert node.cookie_file is not None
        secret = node.cookie_file.read_text().split(":", 1)[1].strip()
        common = ["--rpc", f"http://127.0.0.1:{node.port}", "--cookie-file",
                  str(node.cookie_file), "--db", f"sqlite:///{tmp_path}/c.sqlite3"]
        outs = []
        for args in (["backfill", "--to", "0"], ["status", "--json"]):
            res = run([*args, *common], level="DEBUG")
            assert res.returncode == 0, res.stderr
            outs.append(res.stdout + res.stderr)
    # The node is gone: the error path, at DEBUG, with the cookie still read.
    res = run(["status", "--rpc-retry-seconds", "0.3", *common], level="DEBUG")
    assert res.returncode == 2
    for text in [*outs, res.stdout + res.stderr]:
        _no_secret(text, secret)


def test_secrets_in_a_config_file_stay_out_of_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "lockedbtc.toml"
    cfg.write_text(f'db = "postgresql://bob:{DB_SECRET}@127.0.0.1:{free_port()}/x"\n'
                   f'rpc = "http://alice:{RPC_SECRET}@127.0.0.1:{free_port()}"\n')
    for args in (["locked"], ["status", "--rpc-retry-seconds", "0.3"]):
        res = run([*args, "--config", str(cfg)], level="DEBUG")
        assert res.returncode == 2, res.stderr
        _no_secret(res.stdout + res.stderr, RPC_SECRET, DB_SECRET)


# ---------------------------------------------------------------------------- SQL


#: (file, reason) of the statements allowed to be built with string formatting: constant
#: DDL/PRAGMA with no bind parameters possible, and nothing from outside the program.
ALLOWED_FORMATTED_SQL = {
    ("indexer/db/engine.py", "PRAGMA busy_timeout"): "an int() of a module constant",
}
_SQL_CALLS = {"text", "execute", "exec_driver_sql", "executemany", "executescript"}


def _formatted(node: ast.expr) -> bool:
    """True when `node` builds a string at run time (f-string, %, .format, +)."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return not (isinstance(node.left, ast.Constant) and isinstance(node.right, ast.Constant))
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("format", "join"))


def test_every_sql_statement_is_parameterized() -> None:
    offenders = []
    scanned = 0
    for top in ("indexer", "adapters"):
        for path in sorted((REPO / top).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            tree = ast.parse(path.read_text(), filename=rel)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                name = (node.func.attr if isinstance(node.func, ast.Attribute)
                        else node.func.id if isinstance(node.func, ast.Name) else "")
                if name not in _SQL_CALLS:
                    continue
                scanned += 1
                code = ast.unparse(node.args[0])
                allowed = any(f == rel and needle in code
                              for f, needle in ALLOWED_FORMATTED_SQL)
                if _formatted(node.args[0]) and not allowed:
                    offenders.append(f"{rel}:{node.lineno}: {ast.unparse(node)[:100]}")
    assert scanned > 10  # the scan found the statements at all
    assert not offenders, "SQL built by string formatting:\n" + "\n".join(offenders)


def test_sql_scan_catches_a_formatted_statement() -> None:
    bad = ast.parse('conn.execute(text(f"SELECT * FROM t WHERE x = {x}"))').body[0]
    assert isinstance(bad, ast.Expr) and isinstance(bad.value, ast.Call)
    inner = bad.value.args[0]
    assert isinstance(inner, ast.Call) and _formatted(inner.args[0])
    assert not _formatted(ast.parse('"SELECT 1"', mode="eval").body)


# ---------------------------------------------------------------------------- config files


@pytest.mark.parametrize("name, content, needle", [
    ("c.toml", "db = [", "not valid TOML"),
    ("c.json", "[1, 2]", "object at the top level"),
    ("c.toml", 'dbb = "sqlite:///x"', "unknown key"),
    ("c.toml", 'confirmations = "six"', "confirmations"),
    ("c.toml", "confirmations = -1", "confirmations"),
    ("c.toml", 'rpc_retry_seconds = "soon"', "rpc_retry_seconds"),
])
def test_bad_config_file_is_one_line(tmp_path: Path, name: str, content: str,
                                     needle: str) -> None:
    cfg = tmp_path / name
    cfg.write_text(content)
    res = run(["locked", "--config", str(cfg)])
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines


@pytest.mark.parametrize("content, needle", [
    ('{"powpeg": []}', "must be an object"),
    ('{"stacks": {"magic": 5}}', "stacks"),
    ('{"coredao": {"chain_id": "x"}}', "coredao"),
    ("[]", "object at the top level"),
])
def test_bad_params_file_is_one_line(node: TestNode, tmp_path: Path, content: str,
                                     needle: str) -> None:
    params = tmp_path / "params.json"
    params.write_text(content)
    try:
        res = run(["backfill", "--to", "1", "--rpc", node.url, "--params", str(params),
                   "--db", f"sqlite:///{tmp_path}/p.sqlite3"])
    finally:
        node.stop()
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0] and str(params) in lines[0], lines
    _no_secret(res.stderr, RPC_SECRET)
