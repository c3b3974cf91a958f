"""The invoice approval process's activities, bound to one worker's settings and services:
the embedded SQLite systems of record under the data folder unless ``[invoice]`` names URLs.
Each system has its maker, so a test reads the very ledger the worker writes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from activities.connectors.erp import Erp, HttpErp, SqliteErp
from activities.connectors.invoice_register import (
    HttpInvoiceRegister,
    InvoiceRegister,
    SqliteInvoiceRegister,
)
from activities.connectors.supplier_payments import (
    HttpSupplierPayments,
    SqliteSupplierPayments,
    SupplierPaymentActivities,
    SupplierPayments,
)
from activities.connectors.vendor_master import HttpVendorMaster, SqliteVendorMaster, VendorMaster
from activities.invoice.checks import InvoiceCheckActivities
from activities.invoice.models import SECTION, InvoiceSettings
from activities.shared import notifications
from sluice.framework import Services

# Two type variables, not one: mypy would join the two kinds of a system to ``object``,
# while each conforms to the system's protocol on its own.
Api = TypeVar("Api")
Embedded = TypeVar("Embedded")


def _section(services: Services) -> InvoiceSettings:
    return services.settings.section(SECTION, InvoiceSettings)


def _system(
    services: Services,
    url: str | None,
    http: Callable[[str, float], Api],
    embedded: Callable[[Path], Embedded],
    database: str,
) -> Api | Embedded:
    """The system's API at ``url`` when one is configured, otherwise its embedded SQLite
    default, the file ``database`` in the data folder."""
    if url:
        return http(url, _section(services).http_timeout_seconds)
    return embedded(services.settings.data_dir / database)


def erp_from(services: Services) -> Erp:
    """The ERP's API when a URL is configured, otherwise the embedded demo ERP."""
    return _system(services, _section(services).erp_url, HttpErp, SqliteErp, "erp.sqlite3")


def vendor_master_from(services: Services) -> VendorMaster:
    """The vendor master's API when a URL is configured, otherwise the embedded one."""
    return _system(
        services,
        _section(services).vendor_master_url,
        HttpVendorMaster,
        SqliteVendorMaster,
        "vendor_master.sqlite3",
    )


def invoice_register_from(services: Services) -> InvoiceRegister:
    """The AP system's register when a URL is configured, otherwise the embedded one."""
    return _system(
        services,
        _section(services).invoice_register_url,
        HttpInvoiceRegister,
        SqliteInvoiceRegister,
        "invoice_register.sqlite3",
    )


def supplier_payments_from(services: Services) -> SupplierPayments:
    """The payment hub when a URL is configured, otherwise the embedded payment ledger."""
    return _system(
        services,
        _section(services).payments_url,
        HttpSupplierPayments,
        SqliteSupplierPayments,
        "supplier_payments.sqlite3",
    )


def invoice_activities(section: InvoiceSettings, services: Services) -> list[Callable[..., Any]]:
    """The four checks, the payment instruction and the notices to the supplier."""
    checks = InvoiceCheckActivities(
        section,
        services.shared(erp_from),
        services.shared(vendor_master_from),
        services.shared(invoice_register_from),
    )
    return [
        checks.match_invoice,
        checks.check_duplicate_invoice,
        checks.check_supplier_bank_account,
        checks.invoice_payment_authority,
        SupplierPaymentActivities(
            services.shared(supplier_payments_from)
        ).instruct_supplier_payment,
        services.shared(notifications).send_notification,
    ]
