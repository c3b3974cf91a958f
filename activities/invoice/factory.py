"""The invoice approval process's activities, bound to one worker's settings and services:
the embedded SQLite systems of record under the data folder unless ``[invoice]`` names URLs.
Each system has its maker, so a test reads the very ledger the worker writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def _section(services: Services) -> InvoiceSettings:
    return services.settings.section(SECTION, InvoiceSettings)


def erp_from(services: Services) -> Erp:
    """The ERP's API when a URL is configured, otherwise the embedded demo ERP."""
    section = _section(services)
    if section.erp_url:
        return HttpErp(section.erp_url, section.http_timeout_seconds)
    return SqliteErp(services.settings.data_dir / "erp.sqlite3")


def vendor_master_from(services: Services) -> VendorMaster:
    """The vendor master's API when a URL is configured, otherwise the embedded one."""
    section = _section(services)
    if section.vendor_master_url:
        return HttpVendorMaster(section.vendor_master_url, section.http_timeout_seconds)
    return SqliteVendorMaster(services.settings.data_dir / "vendor_master.sqlite3")


def invoice_register_from(services: Services) -> InvoiceRegister:
    """The AP system's register when a URL is configured, otherwise the embedded one."""
    section = _section(services)
    if section.invoice_register_url:
        return HttpInvoiceRegister(section.invoice_register_url, section.http_timeout_seconds)
    return SqliteInvoiceRegister(services.settings.data_dir / "invoice_register.sqlite3")


def supplier_payments_from(services: Services) -> SupplierPayments:
    """The payment hub when a URL is configured, otherwise the embedded payment ledger."""
    section = _section(services)
    if section.payments_url:
        return HttpSupplierPayments(section.payments_url, section.http_timeout_seconds)
    return SqliteSupplierPayments(services.settings.data_dir / "supplier_payments.sqlite3")


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
