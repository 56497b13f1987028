"""The project's regtest tooling: block building (`regtest.build`), the test node
(`regtest.node`, run with `python -m regtest serve`) and scenario fixtures."""
