-- Demo vendor master for the embedded invoice approval connector
-- (activities/connectors/vendor_master.py). Every supplier and account here is fictional
-- (IBANs are the standard documentation examples). Re-running it changes nothing.

CREATE TABLE IF NOT EXISTS suppliers (
    supplier_id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('active', 'blocked')),
    iban TEXT
);

INSERT OR IGNORE INTO suppliers VALUES
    ('SUP-ACME', 'active', 'DE89370400440532013000'),
    ('SUP-NORD', 'active', 'GB29NWBK60161331926819'),
    ('SUP-GONE', 'blocked', 'FR1420041010050500013M02606');
