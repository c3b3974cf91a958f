"""The change that made runs lean, known to every part of the framework.

Since 2026-12 a run leaves less in history: steps whose activity is declared ``local`` (fast,
idempotent, only the worker's own state) run as local activities, one marker instead of three
events and two task dispatches; the domain search attribute is not upserted again when the
start request set it; search attributes changed together go in one event. Runs started before
replay the old way (``workflow.patched`` is False for them); once none is left, deprecate it.
A run that has it has every change made before it (``BusinessProcess.patched``)."""

LOCAL_STEPS_PATCH = "local-steps-2026-12"
