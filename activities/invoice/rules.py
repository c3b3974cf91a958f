"""The AP desk's rules, as data: versioned and named, each hit recorded with this version.

Four checks, each a pure function of the invoice and what a system of record answered:
  - the three-way match of purchase order, goods receipt and invoice, within the tolerances
    of ``[invoice]``;
  - duplicates: the same supplier and invoice number (compared as ``invoice_number_key``
    does), or the same supplier, amount and currency with invoice dates within the window;
  - the bank account: the invoice's IBAN against the one the vendor master holds. A change
    is a classic fraud, so it is a high-severity hit whatever else holds;
  - payment authority: how many approvers the amount needs.
Fail closed: what is missing (no order, no receipt, no supplier, no account on file) is a
hit, never a check skipped. Changing a rule changes ``RULESET``.
"""

from __future__ import annotations

from decimal import Decimal

from activities.connectors.erp import PurchaseOrder
from activities.connectors.invoice_register import RegisterEntry
from activities.connectors.vendor_master import VendorRecord
from activities.invoice.models import (
    CENT,
    CheckResult,
    Invoice,
    InvoiceSettings,
    PaymentAuthority,
    RuleHit,
    invoice_number_key,
    masked_iban,
)

RULESET = "invoice-rules/2026-12.2"

MATCH_RULES = [
    "po_found",
    "po_open",
    "po_supplier",
    "po_currency",
    "line_on_po",
    "quantity_received",
    "unit_price",
    "line_amount",
    "invoice_total",
]
DUPLICATE_RULES = ["same_number", "same_amount_within_window"]
BANK_RULES = ["supplier_known", "supplier_active", "account_on_file", "account_unchanged"]
AUTHORITY_RULES = ["base_currency", "approval_above", "second_approval_above"]


def _over(value: Decimal, limit: Decimal, tolerance_percent: Decimal) -> bool:
    return value > limit * (1 + tolerance_percent / 100)


def three_way_match(
    invoice: Invoice, order: PurchaseOrder | None, settings: InvoiceSettings
) -> CheckResult:
    """The invoice against its purchase order and what was received against it."""
    hits: list[RuleHit] = []
    result = CheckResult(check="three_way_match", ruleset=RULESET, rules_applied=MATCH_RULES)
    if order is None:
        hits.append(RuleHit(rule="po_found", message=f"no purchase order {invoice.po_reference}"))
        return result.model_copy(update={"hits": hits})
    if order.status != "open":
        hits.append(
            RuleHit(rule="po_open", message=f"purchase order {order.po_number} is {order.status}")
        )
    if order.supplier_id != invoice.supplier_id:
        hits.append(
            RuleHit(
                rule="po_supplier",
                message=f"purchase order {order.po_number} is from {order.supplier_id}, "
                f"not {invoice.supplier_id}",
                severity="high",
            )
        )
    if order.currency != invoice.currency:
        hits.append(
            RuleHit(
                rule="po_currency",
                message=f"invoiced in {invoice.currency}, ordered in {order.currency}",
            )
        )
    ordered = {line.item: line for line in order.lines}
    # An item billed on several lines is compared with what was received in total.
    billed: dict[str, Decimal] = {}
    for line in invoice.lines:
        billed[line.item] = billed.get(line.item, Decimal("0")) + line.quantity
    for item, quantity in billed.items():
        received = order.received.get(item, Decimal("0"))
        if item in ordered and _over(quantity, received, settings.quantity_tolerance_percent):
            hits.append(
                RuleHit(
                    rule="quantity_received",
                    message=f"{item}: {quantity} billed, {received} received",
                )
            )
    for line in invoice.lines:
        po_line = ordered.get(line.item)
        if po_line is None:
            hits.append(
                RuleHit(rule="line_on_po", message=f"{line.item} is not on {order.po_number}")
            )
            continue
        if _over(line.unit_price, po_line.unit_price, settings.unit_price_tolerance_percent):
            hits.append(
                RuleHit(
                    rule="unit_price",
                    message=f"{line.item}: unit price {line.unit_price}, ordered at "
                    f"{po_line.unit_price} (tolerance {settings.unit_price_tolerance_percent}%)",
                )
            )
        if abs(line.quantity * line.unit_price - line.amount) > settings.total_tolerance:
            hits.append(
                RuleHit(
                    rule="line_amount",
                    message=f"{line.item}: {line.quantity} x {line.unit_price} is not "
                    f"{line.amount}",
                )
            )
    lines_total = sum((line.amount for line in invoice.lines), Decimal("0"))
    if abs(lines_total - invoice.total) > settings.total_tolerance:
        hits.append(
            RuleHit(
                rule="invoice_total",
                message=f"total {invoice.total} is not the sum of its lines ({lines_total})",
            )
        )
    return result.model_copy(update={"hits": hits})


def register_entry(invoice: Invoice, key: str) -> RegisterEntry:
    """The invoice as the register holds it (amounts to the cent, the number as compared)."""
    return RegisterEntry(
        supplier_id=invoice.supplier_id,
        invoice_number=invoice.invoice_number,
        number_key=invoice_number_key(invoice.invoice_number),
        invoice_date=invoice.invoice_date,
        total=invoice.total.quantize(CENT),
        currency=invoice.currency,
        idempotency_key=key,
    )


def duplicates(
    invoice: Invoice, candidates: list[RegisterEntry], settings: InvoiceSettings
) -> CheckResult:
    """Earlier invoices of the supplier that are, or may be, this one."""
    hits: list[RuleHit] = []
    number = invoice_number_key(invoice.invoice_number)
    window = settings.duplicate_window_days
    for earlier in candidates:
        if earlier.supplier_id != invoice.supplier_id:
            continue  # a register that answers for another supplier is not evidence
        if earlier.number_key == number:
            hits.append(
                RuleHit(
                    rule="same_number",
                    message=f"invoice {earlier.invoice_number} of {earlier.invoice_date} is "
                    "already in the register",
                    severity="high",
                )
            )
        elif (
            earlier.total == invoice.total.quantize(CENT)
            and earlier.currency == invoice.currency
            and abs((earlier.invoice_date - invoice.invoice_date).days) <= window
        ):
            hits.append(
                RuleHit(
                    rule="same_amount_within_window",
                    message=f"invoice {earlier.invoice_number} of {earlier.invoice_date} has "
                    f"the same amount ({earlier.total} {earlier.currency}) within {window} days",
                    severity="high",
                )
            )
    return CheckResult(
        check="duplicates", ruleset=RULESET, rules_applied=DUPLICATE_RULES, hits=hits
    )


def bank_account(invoice: Invoice, vendor: VendorRecord) -> CheckResult:
    """The invoice's account against the vendor master's: any difference is for a person."""
    hits: list[RuleHit] = []
    if not vendor.known:
        hits.append(
            RuleHit(
                rule="supplier_known",
                message=f"supplier {invoice.supplier_id} is not in the vendor master",
                severity="high",
            )
        )
    elif vendor.status != "active":
        hits.append(
            RuleHit(
                rule="supplier_active",
                message=f"supplier {invoice.supplier_id} is {vendor.status}",
                severity="high",
            )
        )
    if vendor.known and not vendor.iban:
        hits.append(
            RuleHit(
                rule="account_on_file",
                message=f"no bank account on file for {invoice.supplier_id}",
                severity="high",
            )
        )
    elif vendor.iban and vendor.iban != invoice.iban:
        hits.append(
            RuleHit(
                rule="account_unchanged",
                message=f"the invoice names account {masked_iban(invoice.iban)}, the vendor "
                f"master holds {masked_iban(vendor.iban)}: a changed bank account is verified "
                "with the supplier by phone on file before anything is paid",
                severity="high",
            )
        )
    return CheckResult(check="bank_account", ruleset=RULESET, rules_applied=BANK_RULES, hits=hits)


def payment_authority(invoice: Invoice, settings: InvoiceSettings) -> PaymentAuthority:
    """0, 1 or 2 approvers by amount; an amount in another currency is not compared (two)."""
    if invoice.currency != settings.currency:
        needed, reason = 2, f"{invoice.currency} is not {settings.currency}: not compared"
    elif invoice.total > settings.second_approval_above:
        needed, reason = 2, f"above {settings.second_approval_above} {settings.currency}"
    elif invoice.total > settings.approval_above:
        needed, reason = 1, f"above {settings.approval_above} {settings.currency}"
    else:
        needed, reason = 0, f"at most {settings.approval_above} {settings.currency}"
    return PaymentAuthority(
        check="payment_authority",
        ruleset=RULESET,
        rules_applied=AUTHORITY_RULES,
        approvals_required=needed,
        reason=reason,
    )
