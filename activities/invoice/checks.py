"""The AP desk's checks as activities: each reads its system of record and applies the
versioned rules of ``activities/invoice/rules.py`` to what it answered.

A record the system does not hold is a rule hit; a system that cannot be reached fails the
step after its retries, and the workflow hands the invoice to a person (fail closed).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity

from activities.connectors.erp import Erp, PurchaseLookup
from activities.connectors.invoice_register import InvoiceRegister
from activities.connectors.vendor_master import VendorLookup, VendorMaster
from activities.invoice import rules
from activities.invoice.models import (
    BankAccountResult,
    CheckResult,
    DuplicateCheck,
    Invoice,
    InvoiceSettings,
    PaymentAuthority,
)
from sluice.activity_policy import ActivityPolicy, system_of_record_retry, with_policy
from sluice.framework.policy import CONFIG_READ

# Reads (and the register's idempotent entry) are cheap to repeat. Four attempts ride out a
# restart of the system; after that the invoice goes to a person, never paid unchecked.
SYSTEM_CHECK = ActivityPolicy(
    start_to_close=timedelta(seconds=20),
    retry=system_of_record_retry(4, longest_wait=timedelta(seconds=10)),
)


class InvoiceCheckActivities:
    """Match, duplicates, bank account and payment authority, bound to their systems."""

    def __init__(
        self,
        settings: InvoiceSettings,
        erp: Erp,
        vendors: VendorMaster,
        register: InvoiceRegister,
    ) -> None:
        self.settings = settings
        self.erp = erp
        self.vendors = vendors
        self.register = register

    @activity.defn(name="match_invoice")
    @with_policy(SYSTEM_CHECK)
    async def match_invoice(self, invoice: Invoice) -> CheckResult:
        """Three-way match: the invoice against its order and the goods received."""
        record = await self.erp.purchase(PurchaseLookup(po_number=invoice.po_reference))
        return rules.three_way_match(invoice, record.order, self.settings)

    @activity.defn(name="check_duplicate_invoice")
    @with_policy(SYSTEM_CHECK)
    async def check_duplicate_invoice(self, check: DuplicateCheck) -> CheckResult:
        """Enter the invoice in the register (once per key) and look for earlier copies."""
        entry = rules.register_entry(check.invoice, check.idempotency_key)
        answer = await self.register.register(entry)
        return rules.duplicates(check.invoice, answer.candidates, self.settings)

    @activity.defn(name="check_supplier_bank_account")
    @with_policy(SYSTEM_CHECK)
    async def check_supplier_bank_account(self, invoice: Invoice) -> BankAccountResult:
        """The invoice's bank account against the vendor master's."""
        vendor = await self.vendors.vendor(VendorLookup(supplier_id=invoice.supplier_id))
        result = rules.bank_account(invoice, vendor)
        return BankAccountResult(**result.model_dump(), account_on_file=vendor.iban)

    @activity.defn(name="invoice_payment_authority")
    @with_policy(CONFIG_READ)
    async def invoice_payment_authority(self, invoice: Invoice) -> PaymentAuthority:
        """How many finance approvers this payment needs, by the configured thresholds."""
        return rules.payment_authority(invoice, self.settings)
