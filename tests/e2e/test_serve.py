"""`lockedbtc serve`: the JSON API answers what the CLI answers, nothing but GET/HEAD is
accepted, nothing secret leaks, and the dashboard renders in headless Chromium with its
chart and tables filled (on the demo database)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from indexer.app import locked_report, open_store
from indexer.config import Settings
from indexer.db import queries
from indexer.serve.server import make_server
from tests.e2e.cli import LOCKEDBTC
from tests.e2e.test_analytics import PNG_MAGIC, make_demo_db

SECRET = "s3cr3t-rpc-pass"
REQUIRE_CHROMIUM = os.environ.get("LOCKEDBTC_REQUIRE_CHROMIUM", "") not in ("", "0", "false")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_demo_db(tmp_path_factory.mktemp("demo") / "demo.sqlite3")


@pytest.fixture(scope="module")
def settings(demo: str) -> Settings:
    # an RPC URL with a password the server must never show
    return Settings(db=demo, rpc=f"http://user:{SECRET}@127.0.0.1:1")


@pytest.fixture(scope="module")
def base(settings: Settings) -> Iterator[str]:
    server = make_server(open_store(settings), settings, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def get_json(url: str) -> Any:
    status, headers, body = fetch(url)
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/json")
    return json.loads(body)


# ---------------------------------------------------------------------------- the API


def test_api_answers_what_the_cli_answers(base: str, settings: Settings) -> None:
    store = open_store(settings)
    expected = locked_report(store, settings, None, None)
    assert get_json(f"{base}/api/locked") == json.loads(json.dumps(expected))
    at = get_json(f"{base}/api/locked?height=600&protocol=powpeg")
    assert at["height"] == 600 and [p["protocol"] for p in at["protocols"]] == ["powpeg"]

    status = get_json(f"{base}/api/status")
    assert status["chain"] == "regtest" and status["tip_height"] is None
    assert status["indexed_height"] == expected["height"]
    assert set(status["adapters"]) >= {"babylon", "stacks", "powpeg", "coredao"}

    hist = get_json(f"{base}/api/history?interval=block")
    assert hist["points"][-1]["total_sat"] == expected["total_sat"]
    assert get_json(f"{base}/api/history?interval=cycle")["cycle_length"] == 10

    positions = get_json(f"{base}/api/positions?protocol=coredao")
    assert positions == queries.positions(store.engine, "coredao", expected["height"])
    everything = get_json(f"{base}/api/positions?protocol=powpeg&all=1")
    assert len(everything) > len(get_json(f"{base}/api/positions?protocol=powpeg"))

    events = get_json(f"{base}/api/events?protocol=stacks&kind=block_commit")
    assert [e["txid"] for e in events] == [
        e["txid"] for e in queries.events(store.engine, "stacks", kinds=["block_commit"])]
    latest = get_json(f"{base}/api/events?latest=1&limit=3")
    heights = [e["height"] for e in latest]
    assert len(latest) == 3 and heights == sorted(heights)
    assert heights[-1] == max(e["height"] for e in get_json(f"{base}/api/events?limit=10000"))
    assert get_json(f"{base}/api/insights/stacks")["summary"]["commits"] > 0


def test_bad_requests_are_400_or_404_with_a_reason(base: str) -> None:
    for path, code in [("/api/positions", 400), ("/api/history?interval=hour", 400),
                       ("/api/locked?height=abc", 400), ("/api/locked?height=99999", 400),
                       ("/api/events?protocol=x%27%20OR%201=1--", 400),
                       ("/api/history?protocol=nosuch", 404), ("/api/nosuch", 404),
                       ("/etc/passwd", 404)]:
        status, headers, body = fetch(base + path)
        assert status == code, (path, body)
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body)["error"]


def test_read_only_get_and_head_only(base: str, settings: Settings) -> None:
    before = get_json(f"{base}/api/locked")
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"):
        status, headers, _ = fetch(f"{base}/api/locked", method)
        assert status == 405, method
        assert headers["Allow"] == "GET, HEAD"
    status, headers, body = fetch(f"{base}/api/locked", "HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0
    assert get_json(f"{base}/api/locked") == before


def test_no_secret_in_any_answer(base: str) -> None:
    for path in ("/", "/api/status", "/api/locked", "/api/history", "/api/nosuch",
                 "/api/events?limit=10000", "/api/positions?protocol=stacks&all=1"):
        _status, headers, body = fetch(base + path)
        assert SECRET.encode() not in body
        assert "Python" not in headers.get("Server", "")
        assert "script-src" not in headers["Content-Security-Policy"]  # no script at all


def test_serve_command_binds_loopback_and_stops_on_sigterm(demo: str) -> None:
    proc = subprocess.Popen([*LOCKEDBTC, "--db", demo, "serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "LOCKEDBTC_LOG_LEVEL": "WARNING"})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:"), line
        url = line.split()[1]
        assert get_json(f"{url}api/status")["chain"] == "regtest"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_empty_database_page_says_so(tmp_path: Path) -> None:
    s = Settings(db=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    server = make_server(open_store(s), s, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        status, _, body = fetch(f"{url}/")
        assert status == 200 and b"nothing indexed yet" in body
        assert fetch(f"{url}/api/locked")[0] == 404
        assert get_json(f"{url}/api/status")["indexed_height"] is None
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------- the page


class _Dom(HTMLParser):
    """What the test looks for in the rendered DOM: the chart's areas and table rows."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict[str, str | None]]] = []
        self.areas: list[dict[str, str | None]] = []
        self.rows: dict[str, list[list[str]]] = {}
        self.cell: list[str] | None = None
        self.row: list[str] | None = None
        self.table: str | None = None
        self.chart = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "svg" and a.get("id") == "locked-chart":
            self.chart = True
        if tag == "path" and a.get("class") == "area":
            self.areas.append(a)
        if tag == "table":
            self.table = a.get("id")
        if tag == "tr" and self.table:
            self.row = []
        if tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        if tag == "tr" and self.row is not None and self.table:
            self.rows.setdefault(self.table, []).append(self.row)
            self.row = None
        if tag == "table":
            self.table = None


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if REQUIRE_CHROMIUM:
        pytest.fail("LOCKEDBTC_REQUIRE_CHROMIUM is set but no chromium is on PATH")
    pytest.skip("headless Chromium not found (apt-get install chromium); "
                "set LOCKEDBTC_REQUIRE_CHROMIUM=1 to make this a failure")


def chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_dashboard_renders_in_headless_chromium(base: str, settings: Settings,
                                                tmp_path: Path) -> None:
    res = chromium(f"{base}/", tmp_path / "profile", "--dump-dom")
    assert res.returncode == 0, res.stderr[-2000:]
    dom = _Dom()
    dom.feed(res.stdout)
    expected = locked_report(open_store(settings), settings, None, None)

    assert dom.chart, "no chart"
    drawn = {a["data-protocol"] for a in dom.areas}
    assert drawn >= {"stacks", "powpeg", "coredao"}
    assert all((a.get("d") or "").count("L") > 4 for a in dom.areas)

    head, *body = dom.rows["locked-table"]
    assert head[:2] == ["protocol", "locked BTC"]
    shown = {r[0]: r[1] for r in body}
    for p in expected["protocols"]:
        whole, frac = divmod(p["locked_sat"], 100_000_000)
        assert shown[p["protocol"]] == f"{whole:,}.{frac:08d}"
    assert shown["total"].replace(",", "").replace(".", "").lstrip("0") == str(
        expected["total_sat"])

    events = dom.rows["events-table"][1:]
    assert 0 < len(events) <= 20
    assert events[0][0] == str(max(int(e[0]) for e in events))  # newest first
    assert "regtest" in res.stdout


def test_dashboard_screenshot(base: str, tmp_path: Path) -> None:
    shot = tmp_path / "dashboard.png"
    res = chromium(f"{base}/?interval=block", tmp_path / "profile", "--window-size=1000,1000",
                   f"--screenshot={shot}")
    assert res.returncode == 0, res.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 20_000
