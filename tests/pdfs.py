"""Small PDFs written by hand for document tests: a scan (one grey image, no text layer) and
a page that carries its text, so a test needs no PDF library of its own."""

from __future__ import annotations

import zlib


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF file of ``objects`` (numbered from 1, the first the catalogue), with its xref."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _stream(dictionary: bytes, data: bytes) -> bytes:
    return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def scanned_pdf() -> bytes:
    """One page showing one 8x8 grey image: what a scanner writes, with no text layer."""
    pixels = zlib.compress(bytes([128]) * 64)
    draw = b"q 595 0 0 842 0 0 cm /Scan Do Q"
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
            b"/Resources << /XObject << /Scan 5 0 R >> >> >>",
            _stream(b"", draw),
            _stream(
                b"/Type /XObject /Subtype /Image /Width 8 /Height 8 /ColorSpace /DeviceGray "
                b"/BitsPerComponent 8 /Filter /FlateDecode",
                pixels,
            ),
        ]
    )


def text_pdf(lines: list[str]) -> bytes:
    """One page with ``lines`` as text (ASCII, Helvetica)."""
    shown = b"".join(
        b"BT /F1 11 Tf 60 %d Td (%s) Tj ET\n" % (780 - 20 * i, line.encode("ascii"))
        for i, line in enumerate(lines)
    )
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            _stream(b"", shown),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )
