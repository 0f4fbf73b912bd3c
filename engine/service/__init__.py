"""The indexing service: one core thread that owns the vector store and the encoders (core.py), fed by
requests (executor.py) and the watcher, in the order scheduler.py gives."""
