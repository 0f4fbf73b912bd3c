"""Lookalike's desktop app (PySide6) on top of the headless engine."""
