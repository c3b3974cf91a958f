"""Deterministic workflow code: one module per business process, plus the approval gate and
the process plumbing they share. No I/O here: every side effect is an activity."""
