"""Lookalike's headless engine: catalog, vector store, decoders, encoders, indexer, search, CLI.

Never imports Qt. Heavy libraries (torch, onnxruntime, pymilvus, av) are imported where used so that
importing the engine and ``lookalike --help`` stay fast.
"""

__version__ = "0.1.0"
