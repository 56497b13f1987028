"""The public SQL views agree with the `locked` query at every height."""

from __future__ import annotations

from sqlalchemy import text

from indexer.db import queries
from indexer.db.engine import make_engine
from indexer.db.migrate import migrate
from indexer.db.store import Store
from indexer.sync import Syncer
from tests.integration.test_sync import _build
from tests.support.chain import FakeChain
from tests.support.toy import ToyAdapter


def test_locked_history_view_matches_queries_at_every_height(db_url: str) -> None:
    chain = FakeChain()
    _build(chain)
    engine = make_engine(db_url)
    migrate(engine)
    Syncer(chain, Store(engine), [ToyAdapter()], "regtest").sync(1, 10)
    with engine.connect() as conn:
        hist = conn.execute(text("SELECT height, locked_sat FROM locked_history "
                                 "WHERE protocol = 'toy' ORDER BY height")).all()
        now = conn.execute(text("SELECT locked_sat, positions FROM locked_now "
                                "WHERE protocol = 'toy'")).one()
        current = conn.execute(text("SELECT COUNT(*) FROM current_positions")).scalar()
        expected = {h: queries.locked_summary(conn, "toy", h)["locked_sat"] for h in range(1, 11)}
    last = 0
    seen = dict(hist)
    for h in range(1, 11):
        last = int(seen.get(h, last))
        assert last == expected[h], h
    assert int(now[0]) == expected[10] and int(now[1]) == current == 1
