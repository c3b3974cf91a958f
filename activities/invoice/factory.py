"""The invoice approval process's activities, bound to one worker's settings and services:
the embedded SQLite systems of record under the data folder unless ``[invoice]`` names URLs."""

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
from activities.invoice.models import InvoiceSettings
from activities.shared import notifications
from sluice.framework import Services


def invoice_activities(section: InvoiceSettings, services: Services) -> list[Callable[..., Any]]:
    """The four checks, the payment instruction and the remittance notice."""
    data_dir = services.settings.data_dir
    timeout = section.http_timeout_seconds
    erp: Erp = (
        HttpErp(section.erp_url, timeout)
        if section.erp_url
        else SqliteErp(data_dir / "erp.sqlite3")
    )
    vendors: VendorMaster = (
        HttpVendorMaster(section.vendor_master_url, timeout)
        if section.vendor_master_url
        else SqliteVendorMaster(data_dir / "vendor_master.sqlite3")
    )
    register: InvoiceRegister = (
        HttpInvoiceRegister(section.invoice_register_url, timeout)
        if section.invoice_register_url
        else SqliteInvoiceRegister(data_dir / "invoice_register.sqlite3")
    )
    payments: SupplierPayments = (
        HttpSupplierPayments(section.payments_url, timeout)
        if section.payments_url
        else SqliteSupplierPayments(data_dir / "supplier_payments.sqlite3")
    )
    checks = InvoiceCheckActivities(section, erp, vendors, register)
    return [
        checks.match_invoice,
        checks.check_duplicate_invoice,
        checks.check_supplier_bank_account,
        checks.invoice_payment_authority,
        SupplierPaymentActivities(payments).instruct_supplier_payment,
        services.shared(notifications).send_notification,
    ]
