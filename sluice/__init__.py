"""Sluice's cross-cutting pieces: configuration, client and worker wiring, data conversion,
the embedded dev server and search attributes. Each module is usable on its own."""

# The one place the version is written (pyproject.toml reads it from here).
__version__ = "0.2.0"
