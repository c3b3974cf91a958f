"""Name keys a workflow replays: the plain name normalisation of the first matcher
(``sluice-fuzzy/1``): accents, case, punctuation, Cyrillic letters and legal forms folded into
lower-case words.

Replayed logic, kept with the workflow framework (below both the workflows that replay it and
the screening that shares it): the KYC review decides with :func:`normalise_name`
whether the name on a document differs from the declared one, so changing what it returns
changes runs in flight and needs ``BusinessProcess.patched``. The screening
(``activities/connectors/sanctions``) uses the same keys and compares names with its name-part
matcher; this module only gives plain, stable comparison keys.
"""

from __future__ import annotations

import unicodedata

# Passport-style romanisation of Russian, Ukrainian and Belarusian letters (lower case only:
# names are case-folded first). Letters that carry a diacritic (й, ё, ї) are decomposed by NFKD
# before this table is applied, so they need no entries of their own.
_CYRILLIC_TO_LATIN: dict[str, str] = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z",
    "и": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya", "і": "i",
    "є": "ye", "ґ": "g", "ў": "u",
}  # fmt: skip

# Latin letters that NFKD does not decompose into a base letter plus an accent.
_LATIN_SPECIALS: dict[str, str] = {
    "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i",
}  # fmt: skip

_TRANSLITERATION = str.maketrans({**_CYRILLIC_TO_LATIN, **_LATIN_SPECIALS})

# Dots, apostrophes and slashes join what they separate ("S.A." is "sa", "O'Neil" is "oneil",
# "M/V" is "mv"); every other punctuation mark or symbol separates words.
_JOINING_CHARACTERS = frozenset(".'`´’ʼ/")

#: Words that say what kind of organisation it is, not which one. Dropped from organisation
#: names on both sides so "Oceanic Bulk Carriers Limited" and "... Ltd" are the same name.
LEGAL_FORM_TOKENS = frozenset({
    "ab", "ag", "as", "bv", "co", "company", "corp", "corporation", "fze", "fzco", "gmbh",
    "inc", "incorporated", "jsc", "kg", "limited", "llc", "llp", "lp", "ltd", "nv", "oao",
    "ojsc", "ooo", "plc", "pjsc", "pte", "pty", "sa", "sarl", "sas", "spa", "srl", "zao",
})  # fmt: skip

#: Ship prefixes of bills of lading ("MV Azure Petrel", "M/T ..."), not part of the name.
VESSEL_PREFIX_TOKENS = frozenset({"mv", "mt", "ms", "mts", "fv"})


def normalise_name(name: str, *, organisation: bool = False) -> str:
    """Reduce a name to lower-case ASCII-ish words separated by single spaces.

    Strips accents (NFKD), folds case, transliterates Cyrillic, removes punctuation and, for
    organisations, drops legal-form words and vessel prefixes (unless nothing else is left).
    """
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold().translate(_TRANSLITERATION)
    text = _strip_punctuation(text)
    tokens = text.split()
    if organisation:
        tokens = _drop_organisation_noise(tokens)
    return " ".join(tokens)


def _strip_punctuation(text: str) -> str:
    out: list[str] = []
    for ch in text:
        if ch in _JOINING_CHARACTERS:
            continue
        category = unicodedata.category(ch)
        out.append(" " if category[0] in "PSZC" else ch)
    return "".join(out)


def _drop_organisation_noise(tokens: list[str]) -> list[str]:
    kept = [t for t in tokens if t not in LEGAL_FORM_TOKENS and t not in VESSEL_PREFIX_TOKENS]
    # "Limited Ltd" or a name made only of a legal form still has to be compared to something.
    return kept or tokens
