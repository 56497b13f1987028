"""Built-in Babylon params and FP registry (package data; see provenance.json)."""
