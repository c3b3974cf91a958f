"""The workflow framework every process uses, and how a process declares itself.

This package belongs to the foundation: it imports no process, nothing from ``workflows/``
or ``activities/`` and nothing from the application (``sluice/app``).
"""

from sluice.framework.declaration import EXAMPLES, Process, Services

__all__ = ["EXAMPLES", "Process", "Services"]
