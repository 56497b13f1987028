"""`lockedbtc serve`: the read-only JSON API (`api`), the dashboard page (`page`) and the
HTTP server that ties them together (`server`)."""
