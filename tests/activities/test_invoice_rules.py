"""The AP desk's rules at their edges: tolerances, the duplicate window, the bank account and
the thresholds. Each is a pure function of the invoice and what a system answered."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from activities.connectors.erp import OrderLine, PurchaseOrder
from activities.connectors.invoice_register import RegisterEntry
from activities.connectors.vendor_master import VendorRecord
from activities.invoice import rules
from activities.invoice.models import Invoice, InvoiceSettings
from sluice.config import ConfigError, Settings
from tests.conftest import example
from workflows.invoice_approval import PROCESS

SETTINGS = InvoiceSettings()


def invoice(**changes: Any) -> Invoice:
    return Invoice.model_validate({**example("invoice_approval", "clean"), **changes})


def order(**changes: Any) -> PurchaseOrder:
    fields: dict[str, Any] = {
        "po_number": "PO-1001",
        "supplier_id": "SUP-ACME",
        "currency": "EUR",
        "status": "open",
        "lines": [
            OrderLine(item="WIDGET-A", quantity=Decimal(100), unit_price=Decimal("12.50")),
            OrderLine(item="BOLT-M8", quantity=Decimal(500), unit_price=Decimal("0.40")),
        ],
        "received": {"WIDGET-A": Decimal(100), "BOLT-M8": Decimal(500)},
    }
    return PurchaseOrder(**{**fields, **changes})


def line(item: str, quantity: str, price: str) -> dict[str, str]:
    amount = (Decimal(quantity) * Decimal(price)).quantize(Decimal("0.01"))
    return {"item": item, "quantity": quantity, "unit_price": price, "amount": str(amount)}


def hits(result: Any) -> list[str]:
    return [hit.rule for hit in result.hits]


def test_a_clean_invoice_matches_its_order_and_receipts() -> None:
    result = rules.three_way_match(invoice(), order(), SETTINGS)
    assert result.hits == [] and result.ruleset == rules.RULESET


def test_a_unit_price_within_the_tolerance_passes_and_beyond_it_is_a_hit() -> None:
    within = invoice(lines=[line("WIDGET-A", "100", "12.75")], total="1275.00")  # +2.0 %
    beyond = invoice(lines=[line("WIDGET-A", "100", "12.76")], total="1276.00")
    assert hits(rules.three_way_match(within, order(), SETTINGS)) == []
    assert hits(rules.three_way_match(beyond, order(), SETTINGS)) == ["unit_price"]


def test_billing_more_than_was_received_is_a_hit() -> None:
    received = order(received={"WIDGET-A": Decimal(99), "BOLT-M8": Decimal(500)})
    assert hits(rules.three_way_match(invoice(), received, SETTINGS)) == ["quantity_received"]
    loose = InvoiceSettings(quantity_tolerance_percent=Decimal(2))
    assert hits(rules.three_way_match(invoice(), received, loose)) == []


def test_an_item_billed_on_two_lines_is_compared_with_what_was_received_in_total() -> None:
    split = invoice(
        lines=[
            line("WIDGET-A", "60", "12.50"),
            line("WIDGET-A", "60", "12.50"),
            line("BOLT-M8", "500", "0.40"),
        ],
        total="1700.00",
    )
    assert hits(rules.three_way_match(split, order(), SETTINGS)) == ["quantity_received"]


def test_what_the_order_does_not_hold_is_a_hit_never_a_line_skipped() -> None:
    stray = invoice(
        lines=[*example("invoice_approval", "clean")["lines"], line("GOLD-BAR", "1", "5.00")],
        total="1455.00",
    )
    assert hits(rules.three_way_match(stray, order(), SETTINGS)) == ["line_on_po"]
    assert hits(rules.three_way_match(invoice(), None, SETTINGS)) == ["po_found"]
    other = order(supplier_id="SUP-NORD", currency="USD", status="closed")
    assert hits(rules.three_way_match(invoice(), other, SETTINGS)) == [
        "po_open",
        "po_supplier",
        "po_currency",
    ]


def test_a_total_that_is_not_the_sum_of_its_lines_is_a_hit() -> None:
    assert hits(rules.three_way_match(invoice(total="1450.10"), order(), SETTINGS)) == [
        "invoice_total"
    ]
    wrong_line = invoice(
        lines=[
            {"item": "WIDGET-A", "quantity": "100", "unit_price": "12.50", "amount": "1350.00"},
            line("BOLT-M8", "500", "0.40"),
        ],
        total="1550.00",
    )
    assert hits(rules.three_way_match(wrong_line, order(), SETTINGS)) == ["line_amount"]


def earlier(number: str, on: date, total: str = "1450.00", supplier: str = "SUP-ACME") -> Any:
    return RegisterEntry(
        supplier_id=supplier,
        invoice_number=number,
        number_key=rules.register_entry(invoice(invoice_number=number), "k").number_key,
        invoice_date=on,
        total=Decimal(total),
        currency="EUR",
        idempotency_key=f"earlier-{number}",
    )


def test_the_same_number_written_differently_is_a_duplicate() -> None:
    for written in ("acme 2026 0101", "ACME/2026/0101", "Acme.2026.0101"):
        found = rules.duplicates(invoice(), [earlier(written, date(2025, 1, 1))], SETTINGS)
        assert hits(found) == ["same_number"] and found.hits[0].severity == "high"


def test_the_same_amount_is_a_duplicate_only_within_the_window() -> None:
    near = earlier("OTHER-1", date(2026, 12, 20))  # 25 days after the clean invoice
    far = earlier("OTHER-2", date(2027, 1, 10))
    assert hits(rules.duplicates(invoice(), [near, far], SETTINGS)) == ["same_amount_within_window"]
    elsewhere = earlier("ACME-2026-0101", date(2026, 11, 25), supplier="SUP-NORD")
    assert hits(rules.duplicates(invoice(), [elsewhere], SETTINGS)) == []


def vendor(**changes: Any) -> VendorRecord:
    fields = {"supplier_id": "SUP-ACME", "known": True, "status": "active"}
    return VendorRecord(**{**fields, "iban": "DE89370400440532013000", **changes})


def test_the_bank_account_must_be_the_one_on_file() -> None:
    assert hits(rules.bank_account(invoice(), vendor())) == []
    changed = rules.bank_account(invoice(iban="GB82 WEST 1234 5698 7654 32"), vendor())
    assert hits(changed) == ["account_unchanged"] and changed.hits[0].severity == "high"
    assert "GB82WEST12345698765432" not in changed.hits[0].message
    assert hits(rules.bank_account(invoice(), vendor(known=False, iban=None))) == ["supplier_known"]
    assert hits(rules.bank_account(invoice(), vendor(status="blocked"))) == ["supplier_active"]
    assert hits(rules.bank_account(invoice(), vendor(iban=None))) == ["account_on_file"]


def test_approvers_needed_by_amount_at_each_threshold() -> None:
    def needed(total: str, currency: str = "EUR") -> int:
        amount = {"total": total, "lines": [line("WIDGET-A", "1", total)], "currency": currency}
        return rules.payment_authority(invoice(**amount), SETTINGS).approvals_required

    assert needed("10000.00") == 0
    assert needed("10000.01") == 1
    assert needed("50000.00") == 1
    assert needed("50000.01") == 2
    assert needed("10.00", currency="USD") == 2  # not compared in another currency


def test_thresholds_out_of_order_are_refused_when_the_configuration_loads() -> None:
    settings = Settings()
    settings.invoice = {"approval_above": 50000, "second_approval_above": 10000}
    with pytest.raises(ConfigError, match="second_approval_above is below approval_above"):
        PROCESS.section(settings)
