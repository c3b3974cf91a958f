"""Reading text the way its reader would: what the support guards see through before they
apply a rule.

A person reading a reply does not see zero-width characters, reads a Cyrillic "а" as an "a",
and understands "evil[.]example", "hxxps://" and "DE89 3704 0044 0532 0130 00" without
trouble; a regular expression written for the plain form does not. These helpers fold such
text into its plain form and find in it what a rule asks about: links and their hosts,
e-mail addresses, IBANs (by shape, and by checksum once spaces and dashes are gone) and card
numbers (Luhn-valid digit runs). They are pure functions of the text: the rules that use
them, and their versions, live in ``guards.py`` and ``reply_check.py``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Letters of other scripts that read as Latin ones: enough for the look-alikes attackers use
# in domains and keywords (Cyrillic and Greek), folded before any rule looks.
_LOOK_ALIKES = str.maketrans(
    "аԁеһіјӏоԛрѕԝхусАВЕНІЈКМОРЅТХУСαβεικνορτυχΑΒΕΗΙΚΜΝΟΡΤΥΧΖ",
    "adehijloqpswxycABEHIJKMOPSTXYCabeikvoptuxABEHIKMNOPTYXZ",
)

# Defanged forms of links and addresses, as security write-ups and phishers write them.
_DEFANGED: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), plain)
    for pattern, plain in (
        (r"\bh[xX*]{2}p(s?)(?=\W)", r"http\1"),
        (r"\s*[\[({<]\s*(?:\.|dot|punkt|point|punto)\s*[\])}>]\s*", "."),
        (r"\s*[\[({<]\s*(?:@|at)\s*[\])}>]\s*", "@"),
        (r"[\[({]\s*:\s*[\])}]", ":"),
        (r"(?<=\w)\s+dot\s+(?=\w)", "."),
        (r"(?<=\w)[ \t]+\.[ \t]*(?=\w)", "."),
        (r"(?<=\w)[ \t]+@[ \t]*(?=\w)|(?<=\w)@[ \t]+(?=\w)", "@"),
        (r"\\", "/"),
    )
)


def plain(text: str) -> str:
    """The text as a reader sees it: compatibility forms folded (full-width letters,
    ligatures, one-dot leaders), invisible characters dropped, every kind of space a space,
    Cyrillic and Greek look-alikes read as the Latin letters they imitate."""
    folded = unicodedata.normalize("NFKC", text)
    kept = []
    for ch in folded:
        category = unicodedata.category(ch)
        if category == "Cf":
            continue
        kept.append(" " if category == "Zs" else ch)
    return "".join(kept).translate(_LOOK_ALIKES)


def undefanged(text: str) -> str:
    """``plain`` text with defanged links and addresses written out again."""
    for pattern, replacement in _DEFANGED:
        text = pattern.sub(replacement, text)
    return text


_URL = re.compile(r"\b([a-z][a-z0-9+.-]{1,30}):(//)?([^\s/?#<>\"')\]]*)", re.IGNORECASE)
_WHOLE_URL = re.compile(r"\b[a-z][a-z0-9+.-]{1,30}:\S*", re.IGNORECASE)
# A host name outside a URL; one after a slash is a path segment ("returns.html"), not a host.
_HOST = re.compile(
    r"(?<![\w@./-])((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z](?:[a-z0-9-]*[a-z0-9])?)(?![\w-])",
    re.IGNORECASE,
)
_IP = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
_EMAIL = re.compile(r"(?<![\w.+-])([\w.+-]+)@((?:[\w-]+\.)+[\w-]{2,})", re.IGNORECASE)


@dataclass(frozen=True)
class Link:
    """A link the text names: its scheme (empty for a bare host), host and user part."""

    scheme: str
    host: str
    user_part: bool = False


def emails(text: str) -> list[str]:
    """Every e-mail address in ``undefanged`` text, lower-cased."""
    return [f"{m.group(1)}@{m.group(2)}".lower() for m in _EMAIL.finditer(text)]


def links(text: str) -> list[Link]:
    """Every link in ``undefanged`` text: URLs with a scheme (``javascript:`` too), bare
    host names (``www.evil.example``) and IP addresses. E-mail addresses are not links."""
    without_addresses = _EMAIL.sub(" ", text)
    found: list[Link] = []
    for match in _URL.finditer(text):
        scheme, slashes, authority = match.group(1).lower(), match.group(2), match.group(3)
        if scheme in ("http", "https") or slashes:
            user, _, host_port = authority.rpartition("@")
            host = re.sub(r":\d*$", "", host_port).rstrip(".").lower()
            found.append(Link(scheme, host, user_part=bool(user)))
        elif authority and not authority[:1].isdigit():
            found.append(Link(scheme, ""))
    for match in _HOST.finditer(_WHOLE_URL.sub(" ", without_addresses)):
        host = match.group(1).lower()
        if len(host.rsplit(".", 1)[-1]) >= 2:
            found.append(Link("", host))
    found += [Link("", m.group()) for m in _IP.finditer(without_addresses)]
    return found


def host_allowed(host: str, domains: list[str]) -> bool:
    """``host`` is one of ``domains`` or a subdomain of one."""
    host = host.rstrip(".").lower()
    return any(host == d or host.endswith("." + d) for d in (d.lower() for d in domains))


# IBAN lengths by country (ISO 13616 registry): a candidate's length must fit its country.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20,
    "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18,
    "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26,
    "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

# As IBANs are printed: country, check digits, then groups of four (checksum not needed).
_IBAN_PRINTED = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,3})?(?![A-Za-z0-9])"
)


def _iban_checksum_ok(candidate: str) -> bool:
    rearranged = candidate[4:] + candidate[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def ibans(text: str) -> list[str]:
    """Country codes of the IBANs in ``plain`` text: printed ones by their shape, and any
    other spelling (spaced out, dashed, lower case) once separators are gone, by country
    length and checksum."""
    found = [m.group()[:2] for m in _IBAN_PRINTED.finditer(text)]
    compact = re.sub(r"[^A-Za-z0-9]", "", text).upper()
    for m in re.finditer(r"(?=([A-Z]{2})\d\d)", compact):
        country, start = m.group(1), m.start()
        length = IBAN_LENGTHS.get(country)
        candidate = compact[start : start + length] if length else ""
        # Account numbers are mostly digits: prose run together rarely is.
        digits = sum(ch.isdigit() for ch in candidate[4:])
        if length and len(candidate) == length and digits >= 10 and _iban_checksum_ok(candidate):
            found.append(country)
    return found


_DATE_OR_TIME = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?\b|\b\d{1,2}:\d{2}(?::\d{2})?\b"
)
# A run right after "/", "=" or "#" is part of a link (a tracking number), not a number to call.
_PHONE = re.compile(r"(?<![\w+/=#-])\+?\(?\d(?:[ \-/().]{0,2}\d){7,}")


def phone_numbers(text: str) -> int:
    """How many phone-number-like digit runs ``plain`` text holds: eight digits or more,
    perhaps after a ``+``, with spaces, dashes, slashes, dots or brackets between them.
    Dates and times (``2026-03-05 10:30``) are not phone numbers."""
    return len(_PHONE.findall(_DATE_OR_TIME.sub(" ", text)))


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def card_numbers(text: str) -> int:
    """How many card numbers ``plain`` text holds: 13 to 19 digits that start like a card
    number and pass the Luhn check, written as one group or as consecutive groups split by
    spaces, dashes or dots ("4111 1111 1111 1111", "4 1 1 1 ..."). A longer single group (a
    parcel's tracking number) is not a card number."""
    count = 0
    for m in re.finditer(r"\d+(?:[ \-.]\d+)+|(?<!\d)\d{13,19}(?!\d)", text):
        groups = [
            "".join(str(unicodedata.digit(ch)) for ch in g) for g in re.split(r"\D", m.group())
        ]
        candidates = (
            "".join(groups[start:end])
            for start in range(len(groups))
            # Each group holds a digit at least: more than 19 groups are too long to be one.
            for end in range(start + 1, min(len(groups), start + 19) + 1)
        )
        if any(
            13 <= len(digits) <= 19 and digits[0] in "23456" and _luhn_ok(digits)
            for digits in candidates
        ):
            count += 1
    return count
