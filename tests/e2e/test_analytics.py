"""`history`, `insights` and the supply fields of `locked`, run as the real console script
on the demo database (every scenario replayed and indexed), plus a small hand-built Babylon
database; and the operator side: the metrics endpoint and the progress reporter."""

from __future__ import annotations

import csv
import io
import json
import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from indexer.daemon import DaemonStats
from indexer.db import tables as t
from indexer.db.engine import make_engine
from indexer.db.migrate import migrate
from indexer.metrics import serve_metrics
from indexer.progress import ProgressReporter
from indexer.supply import issued_supply
from indexer.sync import Progress
from tests.e2e.cli import ok_json, run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FP_01NODE = "4209feea09cd799cae01a0dfc94a2791cf1701e5e5430ec490b169afdb1cc220"
FP_OTHER = "ab" * 32


def make_demo_db(path: Path) -> str:
    """The `lockedbtc demo` database; returns its URL."""
    from regtest.demo import run_demo

    run_demo(str(path), quiet=True)
    return f"sqlite:///{path}"


def make_babylon_db(url: str) -> str:
    """A small mainnet database with a few Babylon stakes whose numbers the tests know."""
    engine = make_engine(url)
    migrate(engine)
    base, t0 = 864_790, 1_725_000_000
    stakes = [  # (height, staker, fp, staking_time, sat, status, spent_height)
        (864_790, "01" * 32, FP_01NODE, 64_000, 50_000_000, "active", None),
        (864_791, "02" * 32, FP_01NODE, 64_000, 2_000_000_000, "active", None),
        (864_791, "01" * 32, FP_OTHER, 1_000, 300_000_000, "active", 864_795),
        (864_792, "03" * 32, FP_OTHER, 64_000, 500_000, "overflow", None),
    ]
    with engine.begin() as conn:
        conn.execute(insert(t.meta).values(key="chain", value="main"))
        for h in range(base, base + 11):
            conn.execute(insert(t.blocks).values(height=h, hash=f"{h:064x}",
                                                 prev_hash=f"{h - 1:064x}",
                                                 time=t0 + 600 * (h - base)))
        conn.execute(insert(t.cursors).values(adapter="babylon", height=base + 10,
                                              hash=f"{base + 10:064x}"))
        for i, (h, staker, fp, st, sat, status, spent) in enumerate(stakes):
            data = {"staker_pk": staker, "finality_provider_pk": fp, "staking_time": st,
                    "params_version": 1, "status": status}
            txid = f"{i + 1:064x}"
            conn.execute(insert(t.events).values(
                protocol="babylon", height=h, tx_index=i + 1, seq=0, txid=txid, kind="stake",
                amount_sat=sat, data=json.dumps(data)))
            conn.execute(insert(t.positions).values(
                protocol="babylon", txid=txid, vout=0, value_sat=sat, height=h,
                created_height=h, tx_index=i + 1, status=status, locked=True,
                data=json.dumps(data), spent_height=spent,
                spent_txid=None if spent is None else "ff" * 32))
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_demo_db(tmp_path_factory.mktemp("demo") / "demo.sqlite3")


@pytest.fixture(scope="module")
def babylon_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_babylon_db(f"sqlite:///{tmp_path_factory.mktemp('bbn') / 'bbn.sqlite3'}")


def assert_png(path: Path) -> None:
    """A real, non-trivial PNG that an image reader opens."""
    import matplotlib.image

    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert 5_000 < len(data) < 400_000
    img = matplotlib.image.imread(str(path))
    assert img.shape[0] >= 300 and img.shape[1] >= 600
    assert img.std() > 0.01  # not a blank canvas


# ---------------------------------------------------------------------------- locked


def test_locked_reports_the_share_of_issued_supply(demo: str) -> None:
    report = ok_json(["--db", demo, "locked", "--json"])
    assert {"chain", "height", "total_sat", "protocols"} <= set(report)  # contract keys kept
    supply = issued_supply(report["height"], "regtest")
    assert report["supply_sat"] == supply
    assert report["share_of_supply"] == pytest.approx(report["total_sat"] / supply)
    for line in report["protocols"]:
        assert {"protocol", "locked_sat", "positions"} <= set(line)
        assert line["share_of_supply"] == pytest.approx(line["locked_sat"] / supply)
    assert report["total_sat"] > 0


# ---------------------------------------------------------------------------- history


def test_history_points_equal_locked_at_their_height(demo: str) -> None:
    hist = ok_json(["--db", demo, "history", "--interval", "block", "--json"])
    assert hist["chain"] == "regtest"
    assert set(hist["protocols"]) >= {"stacks", "powpeg", "coredao"}
    points = hist["points"]
    assert len(points) >= 5
    assert [p["height"] for p in points] == sorted({p["height"] for p in points})
    # the series changes between points and agrees with `locked --at-height` at each
    for p in (points[0], points[len(points) // 2], points[-1]):
        locked = ok_json(["--db", demo, "locked", "--json", "--at-height", str(p["height"])])
        assert p["locked_sat"] == {x["protocol"]: x["locked_sat"] for x in locked["protocols"]}
        assert p["total_sat"] == locked["total_sat"]
        assert p["supply_sat"] == locked["supply_sat"]
    assert len({p["total_sat"] for p in points}) > 3


def test_history_by_day_and_week_uses_block_time(demo: str) -> None:
    tip = ok_json(["--db", demo, "locked", "--json"])
    for interval in ("day", "week"):
        hist = ok_json(["--db", demo, "history", "--interval", interval, "--json"])
        labels = [p["label"] for p in hist["points"]]
        assert labels == sorted(labels) and len(set(labels)) == len(labels)
        assert all(len(label) == 10 and label[4] == "-" for label in labels)  # YYYY-MM-DD
        assert hist["points"][-1]["height"] == tip["height"]
        assert hist["points"][-1]["total_sat"] == tip["total_sat"]
    weeks = ok_json(["--db", demo, "history", "--interval", "week", "--json"])["points"]
    days = ok_json(["--db", demo, "history", "--interval", "day", "--json"])["points"]
    assert len(weeks) < len(days)


def test_history_by_cycle_from_stored_block_commits_or_a_given_length(demo: str) -> None:
    hist = ok_json(["--db", demo, "history", "--interval", "cycle", "--json"])
    # the stacks scenario: first burn height 100, 10-block cycles, read back from events
    assert hist["cycle_length"] == 10
    last = hist["points"][-1]
    assert last["label"] == f"cycle {(last['height'] - 100) // 10}"
    assert last["first_height"] == 100 + 10 * ((last["height"] - 100) // 10)
    own = ok_json(["--db", demo, "history", "--interval", "cycle", "--cycle-length", "100",
                   "--cycle-start", "0", "--protocol", "coredao", "--json"])
    assert own["protocols"] == ["coredao"] and own["cycle_length"] == 100
    assert own["points"][-1]["label"] == f"cycle {last['height'] // 100}"


def test_history_csv_range_and_plot(demo: str, tmp_path: Path) -> None:
    png = tmp_path / "history.png"
    res = run(["--db", demo, "history", "--interval", "block", "--from", "300", "--to", "1000",
               "--csv", "--plot", str(png)])
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert rows[0]["height"] == "300" and rows[-1]["height"] == "1000"
    assert {"label", "coredao_sat", "powpeg_sat", "total_sat", "supply_sat",
            "share_of_supply"} <= set(rows[0])
    for r in rows:
        parts = sum(int(r[k]) for k in r if k.endswith("_sat") and k not in
                    ("total_sat", "supply_sat"))
        assert parts == int(r["total_sat"])
    assert_png(png)


def test_history_text_and_operator_errors(demo: str) -> None:
    res = run(["--db", demo, "history", "--interval", "week"])
    assert res.returncode == 0 and "of supply" in res.stdout and "coredao" in res.stdout
    res = run(["--db", demo, "history", "--protocol", "nosuch"])
    assert res.returncode == 2
    assert "nosuch" in res.stderr and "Traceback" not in res.stderr
    res = run(["--db", demo, "history", "--from", "5000", "--to", "10"])
    assert res.returncode == 2 and "empty range" in res.stderr


# ---------------------------------------------------------------------------- insights


def test_stacks_insights_sum_the_block_commits(demo: str, tmp_path: Path) -> None:
    ins = ok_json(["--db", demo, "insights", "stacks", "--json"])
    commits = ok_json(["--db", demo, "events", "--protocol", "stacks", "--kind",
                       "block_commit", "--json"])
    valid = [c for c in commits if c.get("valid", True)]
    assert ins["summary"]["commits"] == len(valid) > 0
    assert ins["summary"]["committed_sat"] == sum(c["amount_sat"] for c in valid)
    by_cycle: dict[int, int] = {}
    for c in valid:
        by_cycle[c["reward_cycle"]] = by_cycle.get(c["reward_cycle"], 0) + c["amount_sat"]
    assert {r["reward_cycle"]: r["committed_sat"] for r in ins["tables"]["cycles"]} == by_cycle
    miners = ins["tables"]["miners"]
    assert sum(m["share"] for m in miners) == pytest.approx(1.0)
    assert miners == sorted(miners, key=lambda m: -m["committed_sat"])
    assert {m["miner"] for m in miners} == {c["miner_chain"] for c in valid}
    png = tmp_path / "stacks.png"
    res = run(["--db", demo, "insights", "stacks", "--csv", "--table", "miners",
               "--plot", str(png)])
    assert res.returncode == 0, res.stderr
    assert len(list(csv.DictReader(io.StringIO(res.stdout)))) == len(miners)
    assert_png(png)


def test_powpeg_insights_flows_per_month(demo: str, tmp_path: Path) -> None:
    ins = ok_json(["--db", demo, "insights", "powpeg", "--json"])
    evs = ok_json(["--db", demo, "events", "--protocol", "powpeg", "--json"])
    pegin = sum(e["amount_sat"] for e in evs if e["kind"] == "pegin")
    pegout = sum(e["amount_sat"] for e in evs if e["kind"] == "pegout")
    months = ins["tables"]["months"]
    assert sum(m["pegin_sat"] for m in months) == pegin == ins["summary"]["pegin_sat"] > 0
    assert sum(m["pegout_sat"] for m in months) == pegout > 0
    assert ins["summary"]["net_sat"] == pegin - pegout
    assert all(len(m["month"]) == 7 for m in months)  # YYYY-MM from block time
    png = tmp_path / "powpeg.png"
    res = run(["--db", demo, "insights", "powpeg", "--csv", "--plot", str(png)])
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [r["month"] for r in rows] == [m["month"] for m in months]
    assert_png(png)


def test_babylon_insights(babylon_db: str, tmp_path: Path) -> None:
    ins = ok_json(["--db", babylon_db, "insights", "babylon", "--json"])
    s = ins["summary"]
    assert s["stakes"] == 4 and s["unique_stakers"] == 3
    assert s["unique_stakers_locked"] == 3  # staker 01 still has its first stake
    assert s["locked_sat"] == 50_000_000 + 2_000_000_000 + 500_000  # one stake was spent
    fps = {r["finality_provider_pk"]: r for r in ins["tables"]["finality_providers"]}
    assert fps[FP_01NODE]["moniker"] == "01node"  # from the shipped registry
    assert fps[FP_01NODE]["locked_sat"] == 2_050_000_000
    assert fps[FP_01NODE]["share"] == pytest.approx(2_050_000_000 / s["locked_sat"])
    assert fps[FP_OTHER]["moniker"] is None and fps[FP_OTHER]["staked_total_sat"] == 300_500_000
    amounts = {r["bin"]: r["count"] for r in ins["tables"]["amounts"]}
    assert amounts["0 - 0.01 BTC"] == 1 and amounts["0.1 - 1 BTC"] == 1
    assert amounts["1 - 10 BTC"] == 1 and amounts["10 - 100 BTC"] == 1
    durations = {r["bin"]: r["count"] for r in ins["tables"]["durations"]}
    assert durations[">= 1 year"] == 3 and durations["1 day - 1 week"] == 1
    fill = ins["tables"]["cap_fill"]
    assert [r["cumulative_active_sat"] for r in fill] == [
        50_000_000, 2_350_000_000, 2_350_000_000]
    assert fill[-1]["overflow_sat"] == 500_000
    earlier = ok_json(["--db", babylon_db, "insights", "babylon", "--at-height", "864790",
                       "--json"])
    assert earlier["summary"]["stakes"] == 1
    png = tmp_path / "babylon.png"
    res = run(["--db", babylon_db, "insights", "babylon", "--csv", "--table", "durations",
               "--plot", str(png)])
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == "bin,min_blocks,max_blocks,count,amount_sat"
    assert_png(png)
    res = run(["--db", babylon_db, "insights", "babylon", "--csv", "--table", "nosuch"])
    assert res.returncode == 2 and "finality_providers" in res.stderr


def test_babylon_insights_on_the_demo_agree_with_events_and_locked(demo: str) -> None:
    ins = ok_json(["--db", demo, "insights", "babylon", "--json"])
    stakes = ok_json(["--db", demo, "events", "--protocol", "babylon", "--kind", "stake",
                      "--json"])
    locked = ok_json(["--db", demo, "locked", "--protocol", "babylon", "--json"])
    assert ins["summary"]["stakes"] == len(stakes) > 0
    assert ins["summary"]["unique_stakers"] == len({s["staker_pk"] for s in stakes})
    fps = ins["tables"]["finality_providers"]
    assert sum(r["locked_sat"] for r in fps) == locked["total_sat"] == ins["summary"]["locked_sat"]
    assert sum(r["count"] for r in ins["tables"]["amounts"]) == len(stakes)
    assert sum(r["amount_sat"] for r in ins["tables"]["durations"]) == sum(
        s["amount_sat"] for s in stakes)


def test_history_and_insights_queries_on_sqlite_and_postgresql(db_url: str) -> None:
    from indexer import history, insights

    engine = make_engine(make_babylon_db(db_url))
    hist = history.history(engine, "main", interval="block")
    assert [(p["height"], p["total_sat"]) for p in hist["points"]] == [
        (864_790, 50_000_000), (864_791, 2_350_000_000), (864_792, 2_350_500_000),
        (864_795, 2_050_500_000), (864_800, 2_050_500_000)]
    assert hist["points"][-1]["supply_sat"] == issued_supply(864_800)
    days = history.history(engine, "main", interval="day", low=864_790)
    assert [p["label"] for p in days["points"]] == ["2024-08-30"]
    ins = insights.babylon(engine, "main")
    assert ins["summary"]["unique_stakers"] == 3
    assert ins["summary"]["locked_sat"] == 2_050_500_000
    engine.dispose()


def test_babylon_registry_file_option(babylon_db: str, tmp_path: Path) -> None:
    reg = tmp_path / "fps.json"
    reg.write_text(json.dumps({FP_OTHER: {"moniker": "Other FP"}}))
    ins = ok_json(["--db", babylon_db, "insights", "babylon", "--fp-registry", str(reg),
                   "--json"])
    names = {r["finality_provider_pk"]: r["moniker"]
             for r in ins["tables"]["finality_providers"]}
    assert names == {FP_01NODE: None, FP_OTHER: "Other FP"}
    res = run(["--db", babylon_db, "insights", "stacks"])
    assert res.returncode == 2 and "stacks has not been indexed" in res.stderr


# ---------------------------------------------------------------------------- operator


def test_metrics_endpoint_serves_prometheus_text() -> None:
    stats = DaemonStats(indexed_height=100, tip_height=105, rollbacks=2, blocks=50,
                        seconds=10.0, caught_up=True)
    server = serve_metrics(stats, 0)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            body = resp.read().decode()
        values = dict(line.split(" ", 1) for line in body.splitlines()
                      if line and not line.startswith("#"))
        assert values["lockedbtc_indexed_height"] == "100"
        assert values["lockedbtc_tip_height"] == "105"
        assert values["lockedbtc_lag_blocks"] == "5"
        assert values["lockedbtc_rollbacks_total"] == "2"
        assert float(values["lockedbtc_blocks_per_second"]) == 5.0
        assert values["lockedbtc_caught_up"] == "1"
        assert "# TYPE lockedbtc_blocks_indexed_total counter" in body
        stats.indexed_height = 105  # the endpoint reads the live stats
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
            assert "lockedbtc_lag_blocks 0" in resp.read().decode()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{url}/secrets", timeout=10)
        assert err.value.code == 404
    finally:
        server.shutdown()
        server.server_close()


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_log_lines_otherwise(caplog: Any) -> None:
    tty = _Tty()
    bar = ProgressReporter(1, 100, stream=tty)
    bar(Progress(50, 100, 50, 5.0))
    bar.finish()
    out = tty.getvalue()
    assert out.startswith("\r[") and "50/100" in out and "10.0 blocks/s" in out
    assert "ETA 0:00:05" in out and out.endswith("\n")

    plain = io.StringIO()
    with caplog.at_level(logging.INFO, logger="indexer.progress"):
        rep = ProgressReporter(1, 100, stream=plain)
        rep(Progress(50, 100, 50, 5.0))
        rep(Progress(100, 100, 100, 10.0))
        rep.finish()
    assert plain.getvalue() == ""  # no control characters in a log file or a pipe
    msgs = [r.getMessage() for r in caplog.records if r.name == "indexer.progress"]
    assert msgs[0].startswith("indexed 50/100") and "ETA" in msgs[0]
    assert msgs[-1].startswith("indexed 100/100")

    quiet_tty = _Tty()
    caplog.clear()
    q = ProgressReporter(1, 100, stream=quiet_tty, quiet=True)
    q(Progress(50, 100, 50, 5.0))
    q.finish()
    assert quiet_tty.getvalue() == "" and not caplog.records
