"""SQLAlchemy Core mirrors of the tables that `sql/` creates (the SQL files are the truth;
a test checks the two agree)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Integer, MetaData, Table, Text

metadata = MetaData()

meta = Table("meta", metadata,
             Column("key", Text, primary_key=True),
             Column("value", Text, nullable=False))

blocks = Table("blocks", metadata,
               Column("height", Integer, primary_key=True),
               Column("hash", Text, nullable=False, unique=True),
               Column("prev_hash", Text, nullable=False),
               Column("time", BigInteger, nullable=False))

cursors = Table("cursors", metadata,
                Column("adapter", Text, primary_key=True),
                Column("height", Integer, nullable=False),
                Column("hash", Text, nullable=False))

positions = Table("positions", metadata,
                  Column("protocol", Text, primary_key=True),
                  Column("txid", Text, primary_key=True),
                  Column("vout", Integer, primary_key=True),
                  Column("value_sat", BigInteger, nullable=False),
                  Column("height", Integer, nullable=False),
                  Column("created_height", Integer, nullable=False),
                  Column("tx_index", Integer, nullable=False),
                  Column("status", Text, nullable=False),
                  Column("locked", Boolean, nullable=False),
                  Column("data", Text, nullable=False),
                  Column("spent_height", Integer),
                  Column("spent_txid", Text))

events = Table("events", metadata,
               Column("protocol", Text, primary_key=True),
               Column("height", Integer, primary_key=True),
               Column("tx_index", Integer, primary_key=True),
               Column("seq", Integer, primary_key=True),
               Column("txid", Text, nullable=False),
               Column("kind", Text, nullable=False),
               Column("amount_sat", BigInteger),
               Column("data", Text, nullable=False))

rejects = Table("rejects", metadata,
                Column("protocol", Text, primary_key=True),
                Column("height", Integer, primary_key=True),
                Column("tx_index", Integer, primary_key=True),
                Column("seq", Integer, primary_key=True),
                Column("txid", Text, nullable=False),
                Column("reason", Text, nullable=False),
                Column("data", Text, nullable=False))

adapter_state = Table("adapter_state", metadata,
                      Column("protocol", Text, primary_key=True),
                      Column("key", Text, primary_key=True),
                      Column("height", Integer, primary_key=True),
                      Column("value", Text, nullable=False))

#: Tables whose rows are deleted above a rollback height.
DERIVED = (positions, events, rejects, adapter_state, blocks)
