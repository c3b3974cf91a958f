-- Demo invoice register for the embedded invoice approval connector
-- (activities/connectors/invoice_register.py): one fictional invoice, already paid, that
-- examples/invoice_approval/duplicate.json sends again. Re-running it changes nothing.

CREATE TABLE IF NOT EXISTS invoices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    supplier_id TEXT NOT NULL,
    invoice_number TEXT NOT NULL,
    number_key TEXT NOT NULL,
    invoice_date TEXT NOT NULL,
    total TEXT NOT NULL,
    currency TEXT NOT NULL,
    registered_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invoices_by_supplier ON invoices (supplier_id, number_key);

INSERT OR IGNORE INTO invoices
    (idempotency_key, supplier_id, invoice_number, number_key, invoice_date, total, currency,
     registered_at)
VALUES
    ('seed:ACME-2026-0042', 'SUP-ACME', 'ACME-2026-0042', 'acme20260042', '2026-11-06',
     '620.00', 'EUR', '2026-11-07T09:00:00+00:00');
