-- Public views for analysts and dashboards (documented in the README). Portable SQL:
-- window functions run on SQLite >= 3.25 and PostgreSQL alike.

-- Every change of a protocol's locked amount: +value when a locked output appears,
-- -value when it is spent.
CREATE VIEW locked_changes AS
SELECT protocol, created_height AS height, value_sat AS delta_sat
  FROM positions WHERE locked
UNION ALL
SELECT protocol, spent_height AS height, -value_sat AS delta_sat
  FROM positions WHERE locked AND spent_height IS NOT NULL;

-- Locked satoshis per protocol after each height at which it changed.
CREATE VIEW locked_history AS
SELECT protocol, height,
       SUM(SUM(delta_sat)) OVER (PARTITION BY protocol ORDER BY height) AS locked_sat
  FROM locked_changes
 GROUP BY protocol, height;

-- Outputs unspent at the indexed tip.
CREATE VIEW current_positions AS
SELECT protocol, txid, vout, value_sat, created_height AS height, status, locked, data
  FROM positions WHERE spent_height IS NULL;

-- Locked satoshis per protocol at the indexed tip.
CREATE VIEW locked_now AS
SELECT protocol, SUM(value_sat) AS locked_sat, COUNT(*) AS positions
  FROM positions WHERE locked AND spent_height IS NULL
 GROUP BY protocol;
