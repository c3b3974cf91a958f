"""The approval inbox: a web app where business users start runs, see what waits on them,
decide with the evidence in front of them, and find every run of their processes.

Server-rendered (Starlette, Jinja2, htmx served from the package; no JavaScript build),
run by uvicorn: ``python -m sluice.app.inbox`` or ``sluice-inbox``; ``worker.py --dev`` starts
it beside the embedded Temporal server.
"""

from sluice.app.inbox.server import RunningInbox, build_inbox, demo_setup, start_inbox

__all__ = ["RunningInbox", "build_inbox", "demo_setup", "start_inbox"]
