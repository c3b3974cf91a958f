"""The application: the catalogue of processes and what is built from it (the worker and its
plugin, the CLI, the local runner). It sits above the processes; nothing below imports it."""
