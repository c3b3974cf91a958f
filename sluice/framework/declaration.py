"""How a business process declares itself, once, beside its workflow.

A process module ends with one ``PROCESS = Process(...)``; the application's catalogue lists
those declarations, and everything that knows about processes (the worker plugin, the CLI,
the web inbox, test fixtures, the replay test, the sample runs) reads them from there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from temporalio import workflow

from sluice.config import Settings
from sluice.samples import examples_folder

# The examples folder (a checkout's, or the installed package's copy): each process keeps
# its example inputs in a folder of it.
EXAMPLES = examples_folder()

T = TypeVar("T")
SectionT = TypeVar("SectionT", bound=BaseModel)

ActivityFn = Callable[..., Any]
# An offline model rule: what the offline provider answers for one model task.
OfflineRule = Callable[..., Any]


class Services:
    """What the activities of every process on one worker share: each connection (model
    gateway, notifier, sanctions list...) is made once, on first use, by its maker.

    The foundation names no connection: a process asks ``services.shared(maker)`` with the
    maker its activities package defines, and two processes asking for the same maker get
    the same object (one sanctions index in memory, one notification outbox)."""

    def __init__(self, settings: Settings, offline_rules: Mapping[str, OfflineRule]) -> None:
        self.settings = settings
        # Every declared process's offline rules: the offline model provider answers them all.
        self.offline_rules = dict(offline_rules)
        self._made: dict[Callable[[Services], Any], Any] = {}

    def shared(self, maker: Callable[[Services], T]) -> T:
        """The one object ``maker`` builds for this worker."""
        if maker not in self._made:
            self._made[maker] = maker(self)
        made: T = self._made[maker]
        return made


@dataclass(frozen=True)
class Process(Generic[SectionT]):
    """One business process: everything the worker, the CLI and the inbox need to know."""

    title: str
    """What people call it (``Cargo release``)."""
    command: str
    """Its name on the command line (``cargo-release``)."""
    domain: str
    """Its key in configuration (``[approvals.<domain>]``), search attributes and metrics."""
    workflow: type
    """The workflow class; its type name is recorded in histories and never changes."""
    input_model: type[BaseModel]
    """What a run starts from (a shipment, an application, a ticket)."""
    subject: Callable[[Any], str]
    """The business key of a run's input, which names the run (``shp-0419``)."""
    activities: Callable[[SectionT, Services], Sequence[ActivityFn]]
    """Builds the process's activities from its settings section and the shared services."""
    settings_section: str
    """The configuration section this process reads (``[cargo]``)."""
    settings_model: type[SectionT]
    """The pydantic model of that section; every field has a default."""
    examples: Path
    """The folder of example inputs (``starter.py start <command> <folder>/<file>.json``)."""
    offline_rules: Mapping[str, OfflineRule] = field(default_factory=dict)
    """For each model task, the rule the offline provider answers with."""
    provided_input: type[BaseModel] | None = None
    """What a person may send a run that waits for input (``starter.py provide``), if any."""

    @property
    def workflow_type(self) -> str:
        """The workflow type name, as recorded in histories."""
        name = workflow._Definition.must_from_class(self.workflow).name
        assert name is not None
        return name

    def section(self, settings: Settings) -> SectionT:
        """This process's settings, read from its section of the configuration."""
        return settings.section(self.settings_section, self.settings_model)

    def build_activities(self, services: Services) -> list[ActivityFn]:
        """The process's activities, bound to this worker's configuration and services."""
        return list(self.activities(self.section(services.settings), services))
