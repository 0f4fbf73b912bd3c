"""What the tests (tests/) and the benchmarks (bench/) both use: synthetic media (:mod:`.media`) and a
runner for the real app in its own process (:mod:`.app_runner`, with its probe in ``app_probe/``), and a
contained standalone Milvus server (:mod:`.milvus_server`).

Neither product package ships or imports it (a contract in pyproject.toml, [tool.importlinter]), and it
imports nothing from tests/ or bench/: benchmarks never import from tests/ (tests/test_layers.py), and
this is where what both need lives. The tiny random-weight models stay in :mod:`engine.models.tiny`:
the app itself recognises and installs them (``registry.is_test_model``).
"""
