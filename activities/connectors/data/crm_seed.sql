-- Demo CRM for the embedded support triage connector (activities/connectors/crm.py).
-- Every customer, order and ticket here is fictional; e-mail addresses use example.com.
-- Loaded into var/crm.sqlite3 on first use; re-running it changes nothing.

CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY,
    full_name TEXT NOT NULL,
    email TEXT NOT NULL,
    preferred_language TEXT NOT NULL,
    country TEXT NOT NULL,
    customer_since TEXT NOT NULL,
    lifetime_spend TEXT NOT NULL,
    currency TEXT NOT NULL DEFAULT 'EUR'
);

CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (customer_id),
    placed_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('processing', 'shipped', 'delivered', 'cancelled', 'returned')),
    delivered_at TEXT,
    items TEXT NOT NULL,
    total TEXT NOT NULL,
    refunded TEXT NOT NULL DEFAULT '0.00',
    currency TEXT NOT NULL DEFAULT 'EUR'
);

CREATE TABLE IF NOT EXISTS tickets (
    ticket_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (customer_id),
    opened_at TEXT NOT NULL,
    category TEXT NOT NULL,
    status TEXT NOT NULL,
    resolution TEXT NOT NULL
);

INSERT OR IGNORE INTO customers VALUES
    ('CUST-1001', 'Laura Bennett', 'laura.bennett@example.com', 'en', 'GB', '2021-04-12', '642.70', 'EUR'),
    ('CUST-1002', 'Jonas Weber', 'jonas.weber@example.com', 'de', 'DE', '2019-09-03', '3480.40', 'EUR'),
    ('CUST-1003', 'Camille Laurent', 'camille.laurent@example.com', 'fr', 'FR', '2018-02-20', '5215.90', 'EUR'),
    ('CUST-1004', 'Lucía Fernández Ortega', 'lucia.fernandez@example.com', 'es', 'ES', '2024-11-08', '214.35', 'EUR'),
    ('CUST-1005', 'Daniel Okafor', 'daniel.okafor@example.com', 'en', 'IE', '2022-06-30', '1154.00', 'EUR'),
    ('CUST-1006', 'Hannah Köhler', 'hannah.koehler@example.com', 'de', 'AT', '2023-01-15', '389.80', 'EUR');

INSERT OR IGNORE INTO orders VALUES
    ('ORD-50105', 'CUST-1001', '2025-11-20', 'delivered', '2025-11-24', '1 × 27" monitor Q27', '473.80', '0.00', 'EUR'),
    ('ORD-50211', 'CUST-1001', '2026-02-18', 'delivered', '2026-02-21', '1 × Wireless mouse M220', '39.90', '0.00', 'EUR'),
    ('ORD-50388', 'CUST-1001', '2026-03-02', 'shipped', NULL, '1 × Noise-cancelling headphones H7', '129.00', '0.00', 'EUR'),
    ('ORD-50120', 'CUST-1002', '2025-12-04', 'delivered', '2025-12-06', '2 × USB-C cable 2 m', '59.90', '0.00', 'EUR'),
    ('ORD-50412', 'CUST-1002', '2026-02-25', 'delivered', '2026-02-28', '1 × Laptop Aero 14', '899.00', '0.00', 'EUR'),
    ('ORD-50455', 'CUST-1003', '2026-03-01', 'delivered', '2026-03-05', '1 × Espresso machine Barista Pro', '249.00', '0.00', 'EUR'),
    ('ORD-50290', 'CUST-1003', '2026-01-09', 'returned', '2026-01-12', '1 × Coffee grinder G5', '119.00', '119.00', 'EUR'),
    ('ORD-50470', 'CUST-1004', '2026-03-06', 'processing', NULL, '1 × Bluetooth speaker S3', '74.50', '0.00', 'EUR'),
    ('ORD-50301', 'CUST-1005', '2026-01-10', 'delivered', '2026-01-13', '1 × Smart watch W2', '189.00', '0.00', 'EUR'),
    ('ORD-50477', 'CUST-1006', '2026-03-07', 'shipped', NULL, '1 × Phone case, 1 × Screen protector', '34.95', '0.00', 'EUR');

INSERT OR IGNORE INTO tickets VALUES
    ('TCK-88012', 'CUST-1001', '2025-12-01', 'delivery', 'resolved', 'Asked for tracking of ORD-50105; parcel delivered the next day.'),
    ('TCK-88740', 'CUST-1002', '2026-01-08', 'billing', 'resolved', 'Requested a VAT invoice for ORD-50120; invoice sent.'),
    ('TCK-89105', 'CUST-1002', '2026-03-01', 'technical_issue', 'resolved', 'Laptop did not charge; firmware update fixed it.'),
    ('TCK-87550', 'CUST-1003', '2025-10-14', 'complaint', 'resolved', 'Late delivery; 10 EUR voucher issued.'),
    ('TCK-88990', 'CUST-1003', '2026-01-15', 'refund_request', 'resolved', 'Returned ORD-50290; refunded in full.'),
    ('TCK-89020', 'CUST-1005', '2026-02-11', 'account_access', 'resolved', 'Password reset link expired; a new link was sent.');
