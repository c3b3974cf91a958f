"""Sluice's cross-cutting pieces: configuration, client and worker wiring, data conversion,
the embedded dev server and search attributes. Each module is usable on its own."""
