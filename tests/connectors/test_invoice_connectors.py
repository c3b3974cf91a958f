"""The invoice approval systems of record: the demo ERP, vendor master, invoice register and
supplier payments, embedded (real SQLite files) and over HTTP (against a loopback stub)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.connectors.erp import HttpErp, PurchaseLookup, SqliteErp
from activities.connectors.http import SYSTEM_REJECTED, SYSTEM_UNAVAILABLE
from activities.connectors.invoice_register import (
    HttpInvoiceRegister,
    RegisterEntry,
    SqliteInvoiceRegister,
)
from activities.connectors.supplier_payments import (
    HttpSupplierPayments,
    PaymentInstruction,
    SqliteSupplierPayments,
)
from activities.connectors.vendor_master import HttpVendorMaster, SqliteVendorMaster, VendorLookup
from tests.stubs.system_of_record import SystemOfRecordStub


def entry(key: str, number: str = "ACME-2026-0200", total: str = "99.00") -> RegisterEntry:
    return RegisterEntry(
        supplier_id="SUP-ACME",
        invoice_number=number,
        number_key=number.lower().replace("-", ""),
        invoice_date=date(2026, 11, 30),
        total=Decimal(total),
        currency="EUR",
        idempotency_key=key,
    )


def instruction(key: str, amount: str = "1450.00") -> PaymentInstruction:
    return PaymentInstruction(
        supplier_id="SUP-ACME",
        invoice_reference="SUP-ACME-acme20260101",
        amount=Decimal(amount),
        currency="EUR",
        iban="DE89370400440532013000",
        idempotency_key=key,
        authorised_by=["alice"],
    )


async def test_demo_erp_sums_every_receipt_of_an_order(tmp_path: Path) -> None:
    erp = SqliteErp(tmp_path / "erp.sqlite3")
    record = await erp.purchase(PurchaseLookup(po_number="PO-1001"))
    assert record.order is not None and record.order.supplier_id == "SUP-ACME"
    # BOLT-M8 came in two deliveries (300 and 200).
    assert record.order.received == {"WIDGET-A": Decimal("100"), "BOLT-M8": Decimal("500")}
    assert (await erp.purchase(PurchaseLookup(po_number="PO-9999"))).order is None


async def test_erp_over_http_reads_the_order_and_refuses_one_for_another_po() -> None:
    order = {
        "po_number": "PO-1001",
        "supplier_id": "SUP-ACME",
        "currency": "EUR",
        "status": "open",
        "lines": [{"item": "WIDGET-A", "quantity": "100", "unit_price": "12.50"}],
        "received": {"WIDGET-A": "100"},
    }
    with SystemOfRecordStub() as stub:
        stub.answer("/purchase-orders/PO-1001", 200, order)
        stub.answer("/purchase-orders/PO-1002", 200, order)
        erp = HttpErp(stub.url, timeout_seconds=2)
        record = await erp.purchase(PurchaseLookup(po_number="PO-1001"))
        assert record.order is not None and record.order.lines[0].unit_price == Decimal("12.50")
        assert (await erp.purchase(PurchaseLookup(po_number="PO-7"))).order is None  # 404
        with pytest.raises(ApplicationError) as wrong:
            await erp.purchase(PurchaseLookup(po_number="PO-1002"))
        assert wrong.value.type == SYSTEM_REJECTED
        stub.fail_with(503)
        with pytest.raises(ApplicationError) as down:
            await erp.purchase(PurchaseLookup(po_number="PO-5"))
        assert down.value.type == SYSTEM_UNAVAILABLE


async def test_vendor_master_knows_the_account_on_file(tmp_path: Path) -> None:
    vendors = SqliteVendorMaster(tmp_path / "vendor_master.sqlite3")
    acme = await vendors.vendor(VendorLookup(supplier_id="SUP-ACME"))
    assert acme.known and acme.status == "active" and acme.iban == "DE89370400440532013000"
    assert not (await vendors.vendor(VendorLookup(supplier_id="SUP-NONE"))).known
    with SystemOfRecordStub() as stub:
        stub.answer("/suppliers/SUP-ACME", 200, {"supplier_id": "SUP-OTHER", "status": "active"})
        with pytest.raises(ApplicationError) as wrong:
            await HttpVendorMaster(stub.url, 2).vendor(VendorLookup(supplier_id="SUP-ACME"))
        assert wrong.value.type == SYSTEM_REJECTED


async def test_register_enters_an_invoice_once_and_lists_earlier_copies(tmp_path: Path) -> None:
    register = SqliteInvoiceRegister(tmp_path / "invoice_register.sqlite3")
    first = await register.register(entry("run-1:register"))
    again = await register.register(entry("run-1:register"))  # a retry of the same step
    copy = await register.register(entry("run-2:register", number="acme 2026 0200"))
    same_amount = await register.register(entry("run-3:register", number="X-1"))
    assert first.candidates == [] and not first.duplicate
    assert again.duplicate and again.candidates == []
    assert [c.idempotency_key for c in copy.candidates] == ["run-1:register"]
    assert {c.idempotency_key for c in same_amount.candidates} == {
        "run-1:register",
        "run-2:register",
    }


async def test_register_over_http_posts_with_the_idempotency_key() -> None:
    with SystemOfRecordStub() as stub:
        stub.answer("/invoices", 200, {"candidates": [], "duplicate": False})
        answer = await HttpInvoiceRegister(stub.url, 2).register(entry("run-1:register"))
    assert answer.candidates == [] and answer.idempotency_key == "run-1:register"
    (request,) = stub.requests
    assert request.headers["idempotency-key"] == "run-1:register"
    assert request.body["number_key"] == "acme20260200"


async def test_a_payment_instruction_is_recorded_once_per_key(tmp_path: Path) -> None:
    payments = SqliteSupplierPayments(tmp_path / "supplier_payments.sqlite3")
    first = await payments.instruct(instruction("run-1:pay"))
    # A repeat answers what was paid the first time, whatever it asks for.
    again = await payments.instruct(instruction("run-1:pay", amount="999999.00"))
    assert not first.duplicate and again.duplicate and again.reference == first.reference
    assert again.amount == Decimal("1450.00")
    assert len(payments.ledger.actions("payment")) == 1


async def test_a_payment_hub_over_http_gets_the_key_and_its_refusal_is_final() -> None:
    with SystemOfRecordStub() as stub:
        stub.answer("/payments", 200, {"reference": "HUB-77", "duplicate": True})
        receipt = await HttpSupplierPayments(stub.url, 2).instruct(instruction("run-1:pay"))
        assert receipt.reference == "HUB-77" and receipt.duplicate
        assert stub.requests[0].headers["idempotency-key"] == "run-1:pay"
        stub.answer("/payments", 422, {"error": "account closed"})
        with pytest.raises(ApplicationError) as refused:
            await HttpSupplierPayments(stub.url, 2).instruct(instruction("run-2:pay"))
    assert refused.value.type == SYSTEM_REJECTED and refused.value.non_retryable
