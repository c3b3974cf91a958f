"""Payloads of the invoice approval process: the invoice as received, the settings of its
rules, and what each check found. Plain JSON on the wire, so the ``temporal`` CLI can start a
run from a file.

Every field of an invoice is hostile until checked: amounts are positive and bounded, ids
and invoice numbers are short printable text, an IBAN is letters and digits with a valid
check sum (spaces allowed as printed), nothing carries a control character.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date
from decimal import Decimal
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sluice.search_attributes import RiskLevel

# A supplier id, PO reference or item code: what an ERP keys records by.
ERP_KEY = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"
# An invoice number as suppliers print it: letters, digits and a few separators.
INVOICE_NUMBER = r"^[A-Za-z0-9][A-Za-z0-9 ./_-]{0,39}$"
# The configuration section of the process (``[invoice]``).
SECTION = "invoice"
CENT = Decimal("0.01")
IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")


def normalised_iban(text: str) -> str:
    """The IBAN in its electronic form (no spaces, upper case); ValueError if it is none:
    only letters, digits and single spaces, and the ISO 13616 check digits must hold."""
    if not text.isascii() or not all(c.isalnum() or c == " " for c in text):
        raise ValueError("an IBAN holds letters, digits and spaces only")
    compact = text.replace(" ", "").upper()
    if not IBAN.match(compact):
        raise ValueError("not an IBAN (two letters, two check digits, 11 to 30 more)")
    digits = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    if int(digits) % 97 != 1:
        raise ValueError("IBAN check digits do not hold")
    return compact


def masked_iban(iban: str) -> str:
    """What evidence and notices show of an account: its country and last four characters."""
    return f"{iban[:2]}…{iban[-4:]}"


def invoice_number_key(number: str) -> str:
    """The form invoice numbers are compared in for duplicates: suppliers and clerks write
    one number as ``INV-0042``, ``inv 0042`` or ``INV/0042``, so only letters and digits
    count, compared without case."""
    return "".join(c for c in unicodedata.normalize("NFKC", number).casefold() if c.isalnum())


class InvoiceLine(BaseModel):
    """One line of the invoice: an item of the purchase order, billed."""

    model_config = ConfigDict(extra="forbid")

    item: str = Field(pattern=ERP_KEY, description="The item code of the PO line")
    quantity: Decimal = Field(gt=0, max_digits=12, decimal_places=3)
    unit_price: Decimal = Field(gt=0, max_digits=14, decimal_places=4)
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)

    @field_validator("amount")
    @classmethod
    def _cents(cls, value: Decimal) -> Decimal:
        return value.quantize(CENT)


class Invoice(BaseModel):
    """A supplier's invoice, as the AP desk captured it."""

    model_config = ConfigDict(extra="forbid")

    supplier_id: str = Field(pattern=ERP_KEY)
    invoice_number: str = Field(pattern=INVOICE_NUMBER)
    invoice_date: date
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    lines: list[InvoiceLine] = Field(min_length=1, max_length=200)
    total: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    iban: str = Field(min_length=15, max_length=42, description="The account the invoice names")
    po_reference: str = Field(pattern=ERP_KEY)
    requested_by: str = Field(default="unknown", max_length=120)

    @field_validator("iban")
    @classmethod
    def _iban(cls, value: str) -> str:
        return normalised_iban(value)

    @field_validator("total")
    @classmethod
    def _cents(cls, value: Decimal) -> Decimal:
        # Money in cents from here on: 1450, 1450.0 and 1450.00 are one amount.
        return value.quantize(CENT)

    @property
    def reference(self) -> str:
        """The invoice's business key: supplier and invoice number, as ids only."""
        return f"{self.supplier_id}-{invoice_number_key(self.invoice_number)}"

    def sha256(self) -> str:
        """Fingerprint of the invoice, recorded in the audit trail."""
        return hashlib.sha256(self.model_dump_json().encode("utf-8")).hexdigest()


class InvoiceSettings(BaseModel):
    """The ``[invoice]`` section: tolerances of the three-way match, the duplicate window,
    the payment thresholds and the systems of record (empty URLs: embedded SQLite)."""

    model_config = ConfigDict(extra="forbid")

    # A billed quantity may exceed the received one by this much (percent), a unit price
    # the ordered one, and the invoice total the sum of its lines (absolute, rounding).
    quantity_tolerance_percent: Decimal = Field(default=Decimal("0"), ge=0, le=100)
    unit_price_tolerance_percent: Decimal = Field(default=Decimal("2"), ge=0, le=100)
    total_tolerance: Decimal = Field(default=Decimal("0.05"), ge=0, le=1000)
    # Same supplier, same amount, invoice dates this close: a possible duplicate.
    duplicate_window_days: int = Field(default=30, ge=0, le=3650)
    # Payments above this need a finance approver; above the second, two different ones.
    # Both in `currency`: an invoice in another currency is not compared, it needs two.
    approval_above: Decimal = Field(default=Decimal("10000"), ge=0)
    second_approval_above: Decimal = Field(default=Decimal("50000"), ge=0)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    erp_url: str | None = None
    vendor_master_url: str | None = None
    invoice_register_url: str | None = None
    payments_url: str | None = None
    http_timeout_seconds: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> Self:
        # A second threshold below the first would let two approvers' payments need one.
        if self.second_approval_above < self.approval_above:
            raise ValueError("second_approval_above is below approval_above")
        return self


CheckKind = Literal["three_way_match", "duplicates", "bank_account", "payment_authority"]


class RuleHit(BaseModel):
    """One rule that found something, with the ruleset it belongs to."""

    rule: str
    message: str
    severity: Literal["medium", "high"] = "medium"


class CheckResult(BaseModel):
    """What one check found: the ruleset version, the rules applied, the hits."""

    check: CheckKind
    ruleset: str
    rules_applied: list[str]
    hits: list[RuleHit] = Field(default_factory=list)

    @classmethod
    def not_done(cls, check: CheckKind, why: str = "not done") -> Self:
        """The result of a check that could not run: one high hit for a person."""
        return cls(
            check=check,
            ruleset="not applied",
            rules_applied=[],
            hits=[RuleHit(rule="check_not_done", message=why, severity="high")],
        )


class PaymentAuthority(CheckResult):
    """Who must approve a payment of this amount: 0 (automatic), 1 or 2 approvers."""

    approvals_required: Literal[0, 1, 2]
    reason: str

    @classmethod
    def not_done(cls, check: CheckKind, why: str = "not done") -> Self:
        """Thresholds that could not be read: the strictest answer, two approvers."""
        result = CheckResult.not_done(check, why)
        return cls(**result.model_dump(), approvals_required=2, reason="thresholds not read")


class BankAccountResult(CheckResult):
    """The bank-account check, with the account a payment may go to: the one on file."""

    account_on_file: str | None = None


class DuplicateCheck(BaseModel):
    """The invoice, and the key it is entered in the register under (its run's)."""

    invoice: Invoice
    idempotency_key: str


# --- the run's outcome and the workflow's own models (here, not in the workflow module:
# see ``PASSED_THROUGH`` in sluice/app/plugin.py) ------------------------------------------


class InvoiceApprovalOutcome(BaseModel):
    """How the run ended for the invoice."""

    invoice_reference: str
    action: Literal["paid", "not_paid"]
    decision: str
    decided_by: list[str]
    risk: RiskLevel
    rule_hits: list[str]
    approvals_required: int
    payment_reference: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    supplier_told: bool = False
    reason: str | None = None


class Review(BaseModel):
    """Who must look at the invoice, and why."""

    kind: Literal["payment_approval", "bank_account_change"]
    risk: RiskLevel
    approvals_required: int
    evidence: list[str]
    rules: list[str]
