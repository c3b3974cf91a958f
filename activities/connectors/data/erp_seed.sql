-- Demo ERP for the embedded invoice approval connector (activities/connectors/erp.py).
-- Every supplier, order and receipt here is fictional. Loaded into var/erp.sqlite3 on first
-- use; re-running it changes nothing. One order per example in examples/invoice_approval/.

CREATE TABLE IF NOT EXISTS purchase_orders (
    po_number TEXT PRIMARY KEY,
    supplier_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed', 'cancelled'))
);

CREATE TABLE IF NOT EXISTS order_lines (
    po_number TEXT NOT NULL REFERENCES purchase_orders (po_number),
    line_no INTEGER NOT NULL,
    item TEXT NOT NULL,
    quantity TEXT NOT NULL,
    unit_price TEXT NOT NULL,
    PRIMARY KEY (po_number, line_no)
);

CREATE TABLE IF NOT EXISTS goods_receipts (
    receipt_id TEXT PRIMARY KEY,
    po_number TEXT NOT NULL REFERENCES purchase_orders (po_number),
    item TEXT NOT NULL,
    quantity TEXT NOT NULL,
    received_on TEXT NOT NULL
);

INSERT OR IGNORE INTO purchase_orders VALUES
    ('PO-1001', 'SUP-ACME', 'EUR', 'open'),   -- clean
    ('PO-1002', 'SUP-ACME', 'EUR', 'open'),   -- mismatch
    ('PO-1003', 'SUP-ACME', 'EUR', 'open'),   -- duplicate
    ('PO-2001', 'SUP-NORD', 'EUR', 'open'),   -- bank account changed
    ('PO-3001', 'SUP-NORD', 'EUR', 'open'),   -- above the first threshold
    ('PO-3002', 'SUP-ACME', 'EUR', 'open');   -- above the second threshold

INSERT OR IGNORE INTO order_lines VALUES
    ('PO-1001', 1, 'WIDGET-A', '100', '12.50'),
    ('PO-1001', 2, 'BOLT-M8', '500', '0.40'),
    ('PO-1002', 1, 'WIDGET-A', '100', '12.50'),
    ('PO-1003', 1, 'GASKET-30', '200', '3.10'),
    ('PO-2001', 1, 'PALLET-EU', '40', '18.00'),
    ('PO-3001', 1, 'PUMP-X2', '8', '1800.00'),
    ('PO-3002', 1, 'PRESS-H9', '1', '62000.00'),
    ('PO-3002', 2, 'TOOLSET-H9', '2', '1500.00');

INSERT OR IGNORE INTO goods_receipts VALUES
    ('GR-5001', 'PO-1001', 'WIDGET-A', '100', '2026-11-20'),
    ('GR-5002', 'PO-1001', 'BOLT-M8', '300', '2026-11-20'),
    ('GR-5003', 'PO-1001', 'BOLT-M8', '200', '2026-11-24'),
    ('GR-5004', 'PO-1002', 'WIDGET-A', '80', '2026-11-21'),
    ('GR-5005', 'PO-1003', 'GASKET-30', '200', '2026-11-05'),
    ('GR-5006', 'PO-2001', 'PALLET-EU', '40', '2026-11-18'),
    ('GR-5007', 'PO-3001', 'PUMP-X2', '8', '2026-11-19'),
    ('GR-5008', 'PO-3002', 'PRESS-H9', '1', '2026-11-22'),
    ('GR-5009', 'PO-3002', 'TOOLSET-H9', '2', '2026-11-22');
