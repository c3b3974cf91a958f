"""A name in any script, taken apart into comparable name parts.

Transliteration is anyascii's (every script to ASCII, maintained tables), preceded by a few
rules it cannot know because they depend on the language rather than the letter:

* Greek digraphs that stand for one sound in names taken from other languages (ντ for d,
  μπ for b, τζ for j: "Τζων" is John, not "Tzon"), and ου for u;
* Arabic, which writes no short vowels: the article ال is a separate particle, ة is an a, and
  a part written in Arabic letters is marked so the matcher compares it by its consonants;
* Chinese written without spaces: the first character is the family name, the rest the
  given name, as pinyin writes it ("习近平" is "xi jinping").

Each part carries a phonetic key that folds the spelling variants of romanised names
(Yevgenia/Evgeniya, Mohammed/Mohamed, Smyth/Smith, Zelenskiy/Zelenskyy), and a consonant
skeleton for comparing a vowelless Arabic part with its vowelled Latin spelling.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from anyascii import anyascii

from sluice.framework.name_keys import LEGAL_FORM_TOKENS, VESSEL_PREFIX_TOKENS

# Greek letter pairs that spell one sound. Word-initial ντ/μπ/γκ are d/b/g; inside a word
# they keep their nasal (Αντώνης is Antonis). Applied to lower-case, accent-free Greek.
_GREEK_INITIAL = (("ντ", "d"), ("μπ", "b"), ("γκ", "g"), ("τζ", "j"), ("τσ", "ts"))
_GREEK_ANYWHERE = (("ου", "u"), ("τζ", "j"), ("γγ", "ng"), ("γκ", "ng"), ("ευ", "ev"), ("αυ", "av"))

# Words that join or qualify a name without telling people apart: Arabic and Dutch, German,
# Spanish, Portuguese, Italian, French particles. They are kept for display but not aligned.
PARTICLES = frozenset({
    "al", "el", "ul", "bin", "ibn", "bn", "ben", "bint", "binti", "ould", "van", "von", "der",
    "den", "de", "del", "della", "di", "da", "dos", "das", "du", "la", "le", "y", "e", "ter",
})  # fmt: skip

# "Abdul Rahman", "Abd al-Rahman", "Abdel Rahman" and "Abdulrahman" are one name: the
# servant-of prefix is folded to "abd" so the parts line up (the matcher joins "abd rahman").
_ABD_PREFIX = re.compile(r"^abd(?:ul|al|el|ol|oul|u|i)?(?=[a-z]{3,})")
_ABD_ALONE = frozenset({"abd", "abdul", "abdal", "abdel", "abdoul", "abdol"})

# Legal forms, vessel prefixes, and the joining words a translated company name adds or
# drops ("Rail and Marine", "Rail & Marine", Russian "Рейл энд Марин").
_ORGANISATION_NOISE = LEGAL_FORM_TOKENS | VESSEL_PREFIX_TOKENS | frozenset({
    "ao", "pao", "tov", "and", "end", "und", "et", "the", "of",
})  # fmt: skip

_SEPARATOR = re.compile(r"[^a-z0-9]+")


# Compared by identity: name_part() hands out one object per word, and the matcher's cache of
# part similarities then hashes a pointer instead of four strings.
@dataclass(frozen=True, slots=True, eq=False)
class NamePart:
    """One word of a name in the forms the matcher compares."""

    text: str  # lower-case ASCII
    key: str  # phonetic key
    skeleton: str  # consonants of the phonetic key, vowels and glides dropped
    vowelless: bool  # written in a script without short vowels (Arabic, Hebrew, Persian)


@dataclass(frozen=True, slots=True)
class PreparedName:
    """A name taken apart once, compared many times."""

    original: str
    parts: tuple[NamePart, ...]  # the parts that tell names apart, in written order
    particles: tuple[str, ...]  # al-, van, de ...: shown in reasons, not aligned

    @property
    def text(self) -> str:
        """The parts' ASCII text joined by spaces: equal texts are the same name."""
        return " ".join(part.text for part in self.parts)


def prepare_name(name: str, *, organisation: bool = False) -> PreparedName:
    """Take ``name`` apart; ``organisation`` drops legal forms and vessel prefixes."""
    words: list[tuple[str, bool]] = []
    for chunk in _script_chunks(name):
        vowelless = _is_vowelless(chunk)
        ascii_text = anyascii(_before_anyascii(chunk)).casefold()
        found = [w for w in _SEPARATOR.split(_drop_joiners(ascii_text)) if w]
        if not found:
            # A script anyascii has no table for: compare the letters as they are, rather
            # than lose the name (an empty name would match nothing, not even itself).
            found = ["".join(ch for ch in chunk.casefold() if ch.isalnum())] if chunk else []
        words.extend((word, vowelless) for word in found if word)
    if organisation:
        kept = [w for w in words if w[0] not in _ORGANISATION_NOISE]
        words = kept or words
    parts: list[NamePart] = []
    particles: list[str] = []
    for word, vowelless in words:
        if not organisation and word in PARTICLES:
            particles.append(word)
            continue
        if not organisation:
            word = _fold_abd(word)
        parts.append(name_part(word, vowelless))
    if not parts and particles:
        # A name made only of particles ("De La") still has to be compared to something.
        parts = [name_part(p, False) for p in particles]
        particles = []
    return PreparedName(original=name, parts=tuple(parts), particles=tuple(particles))


@functools.lru_cache(maxsize=500_000)
def name_part(text: str, vowelless: bool) -> NamePart:
    """The part for one ASCII word; cached, so a list's repeated words share one object."""
    key = phonetic_key(text)
    return NamePart(text=text, key=key, skeleton=_skeleton(text, vowelless), vowelless=vowelless)


def _script_chunks(name: str) -> list[str]:
    """``name`` split where Chinese characters run without spaces: the first character of a
    Han run is the family name, the rest the given name."""
    text = unicodedata.normalize("NFC", name)
    chunks: list[str] = []
    for word in text.split():
        if any(_is_han(ch) for ch in word) and len(word) >= 2:
            han = [ch for ch in word if _is_han(ch)]
            if len(han) == len(word):
                chunks.extend([han[0], "".join(han[1:])])
                continue
        chunks.append(word)
    return chunks


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _is_vowelless(word: str) -> bool:
    return any("\u0590" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f" for ch in word)


def _before_anyascii(word: str) -> str:
    """Language rules anyascii cannot apply letter by letter (see the module docstring)."""
    if any("\u0370" <= ch <= "\u03ff" for ch in word):
        return _greek(word)
    if _is_vowelless(word):
        return _arabic(word)
    if any(_is_han(ch) for ch in word):
        # anyascii capitalises each syllable ("JinPing"); one word is one given name.
        return anyascii(word).casefold()
    return word


def _greek(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word.casefold())
    lowered = unicodedata.normalize(
        "NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    )
    for greek, latin in _GREEK_INITIAL:
        if lowered.startswith(greek):
            lowered = latin + lowered[len(greek) :]
    for greek, latin in _GREEK_ANYWHERE:
        lowered = lowered.replace(greek, latin)
    return lowered


def _arabic(word: str) -> str:
    # The article is written joined to the noun: "القزاني" is "al Qazzani".
    if word.startswith("ال") and len(word) > 3:
        word = "al " + word[2:]
    elif word == "ال":
        word = "al"
    return word.replace("ة", "a").replace("ى", "a")


def _drop_joiners(text: str) -> str:
    """Apostrophes and dots join what they separate ("O'Neil", "S.A."); the marks anyascii
    writes for the Arabic ayn and hamza carry no letter a Latin spelling would have."""
    return re.sub(r"['`´’ʼ.]", "", text)


def _fold_abd(word: str) -> str:
    if word in _ABD_ALONE:
        return "abd"
    return _ABD_PREFIX.sub("abd", word)


# Ordered rewrites from spelling to sound. Digraphs become one upper-case symbol first so the
# later single-letter rules cannot split them.
_PHONETIC_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"^ye", "e"),  # Yevgeny / Evgeny, Yelena / Elena
        (r"^yo", "io"),
        # One class of hush sounds, Slavic (shch, zh, cz, sz), German (sch), English (ch, j).
        (r"shch|sch|sh|ch(?=[^r]|$)|tch|tsch|zh|dzh|dj|cz|sz|j", "J"),
        (r"kh|gh", "H"),
        (r"ph", "f"),
        (r"th", "t"),
        (r"dh", "d"),
        (r"ck|q|c(?![eiy])", "k"),
        (r"c", "s"),
        (r"x", "ks"),
        (r"tz|ts|z", "z"),
        (r"w", "v"),
        (r"ou|oo", "u"),
        (r"ee", "i"),
        (r"y", "i"),
        (r"iia$|iya$|ija$|ia$", "ia"),
        (r"ii$|iy$|ij$", "i"),
        (r"h", ""),  # silent, or an aspiration romanisations write or leave out at will
        (r"(.)\1+", r"\1"),
    )
)


@functools.lru_cache(maxsize=500_000)
def phonetic_key(word: str) -> str:
    """A sound-alike key of one lower-case ASCII word: transliteration variants share it.

    Folds the variants romanisations of Cyrillic, Greek, Arabic and Persian names produce
    (y/i, ye/e, ph/f, c/k/s, w/v, x/ks, kh/h, sh/sch/ch, a silent h, doubled letters) and
    keeps the vowels, so "Maria" and "Mario" stay apart while "Smyth" and "Smith" do not.
    """
    return _apply(_PHONETIC_RULES, word) or word


def _apply(rules: tuple[tuple[re.Pattern[str], str], ...], word: str) -> str:
    for pattern, replacement in rules:
        word = pattern.sub(replacement, word)
    return word.lower()


_VOWELS = re.compile(r"[aeiou]")


# The skeleton keeps the h the phonetic key drops: in Arabic names it is a consonant
# (Mohammed is m-h-m-d, and "md" would say nothing).
_SKELETON_RULES = tuple(rule for rule in _PHONETIC_RULES if rule[0].pattern != "h")


def _skeleton(text: str, vowelless: bool) -> str:
    """The consonants of a part, sound-folded. A vowelless part also drops a v after its
    first letter: Arabic writes its long u with و ("ywsf" for Yusuf), anyascii reads a w."""
    key = _apply(_SKELETON_RULES, text)
    if vowelless:
        key = key[:1] + key[1:].replace("v", "")
    return re.sub(r"(.)\1+", r"\1", _VOWELS.sub("", key))
