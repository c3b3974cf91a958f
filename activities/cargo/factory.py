"""The cargo release process's activities, bound to one worker's settings and services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.cargo.extraction import CargoDocumentActivities
from activities.cargo.models import CargoSettings
from activities.cargo.rules import CargoRuleActivities
from activities.connectors.terminal import (
    HttpTerminal,
    SqliteTerminal,
    Terminal,
    TerminalActivities,
)
from activities.shared import model_gateway, sanctions_screening
from sluice.framework import Services


def terminal_from(services: Services) -> Terminal:
    """The terminal operating system when a URL is configured, otherwise the local ledger."""
    settings = services.settings
    if settings.connectors.terminal_url:
        return HttpTerminal(
            settings.connectors.terminal_url, settings.connectors.http_timeout_seconds
        )
    return SqliteTerminal(settings.data_dir / "terminal.sqlite3")


def cargo_activities(section: CargoSettings, services: Services) -> list[Callable[..., Any]]:
    """Extraction, cross-checks, screening and the terminal's release and hold."""
    documents = CargoDocumentActivities(services.shared(model_gateway))
    rules = CargoRuleActivities(section)
    terminal = TerminalActivities(services.shared(terminal_from))
    return [
        documents.extract_document,
        rules.cross_check_documents,
        services.shared(sanctions_screening).screen_names,
        terminal.release_cargo,
        terminal.hold_cargo,
    ]
