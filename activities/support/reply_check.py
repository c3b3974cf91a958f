"""The reply check: what a reply must be to go out without an agent.

A positive check, not a list of bad words: a reply passes only when it says nothing a
template would not. It holds plain visible text in the customer's language; it links only to
the company's own domains (configured: ``[support] company_domains``); it names no e-mail
address but the customer's own and the support address, no bank account, card or phone
number, and asks for no password, code or card secret; it promises no money and no change to
an account. Whatever breaks a requirement is a hit, and any hit puts the draft in front of
an agent, with the hits as evidence (see ``ladder.py``). A reply the agent edited is checked
again before it goes out, against what no reply may carry (``EDITED_REPLY_RULES``). The
reply is read as its reader would read it (``text_scan.py``): invisible characters,
look-alike letters, "hxxp", "evil[.]example", spaced-out numbers and markdown links whose
text hides the target do not get a reply past the check.

Each rule is named; the rule set is versioned as ``REPLY_RULESET``. Change a rule, change the
version: the audit records the version with every hit. A finding names what broke the rule
(a foreign domain, the kind of number) but never the customer's text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field

from activities.support.classification import detect_language
from activities.support.models import GuardContext, GuardHit
from activities.support.text_scan import (
    card_numbers,
    emails,
    host_allowed,
    ibans,
    links,
    phone_numbers,
    plain,
    undefanged,
)

REPLY_RULESET = "support-reply-check/2026.12.2"


class ReplyPolicy(BaseModel):
    """What the company's own replies may name: its domains and its support address."""

    company_domains: list[str] = Field(default_factory=list)
    support_address: str | None = None


@dataclass(frozen=True)
class ReplyText:
    """One reply, as written and as read, with what it is checked against."""

    raw: str
    read: str  # plain(): what a reader sees
    written_out: str  # undefanged(read): links and addresses spelled out
    context: GuardContext
    policy: ReplyPolicy


@dataclass(frozen=True)
class ReplyRule:
    """A requirement on a reply: its name, what breaking it means, and how to find breaches."""

    name: str
    breach: str
    find: Callable[[ReplyText], list[str]]


def _patterns(*sources: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(source, re.IGNORECASE) for source in sources)


def _keywords(span: str) -> str:
    # Only the rule's own words, the first and last of a match: what lies between them (a
    # name, say) may be personal data, and the audit keeps none.
    words = span.lower().split()
    return " ".join(words) if len(words) <= 2 else f"{words[0]} … {words[-1]}"


def _mentions(patterns: tuple[re.Pattern[str], ...]) -> Callable[[ReplyText], list[str]]:
    def find(reply: ReplyText) -> list[str]:
        found = {
            _keywords(match.group())
            for pattern in patterns
            for match in pattern.finditer(reply.written_out)
        }
        return [f'"{keywords}"' for keywords in sorted(found)]

    return find


# Letters a reply in English, German, French or Spanish is written in (Basic Latin to Latin
# Extended-A): a letter outside, in a reply in these languages, imitates one or hides text.
LATIN_LETTERS_UP_TO = 0x017F
# Typography that compatibility folding would change but that hides nothing.
TYPOGRAPHY = frozenset("\u2026")


def _unusual_characters(reply: ReplyText) -> list[str]:
    found: set[str] = set()
    for ch in unicodedata.normalize("NFC", reply.raw):
        category = unicodedata.category(ch)
        if ch in "\n\r\t" or category == "Zs" or ch in TYPOGRAPHY:
            continue
        if category[0] in "CZ":
            found.add("invisible or control characters")
        elif category[0] == "M":
            found.add("stray combining marks")
        elif unicodedata.normalize("NFKC", ch) != ch:
            found.add("look-alike or compatibility characters")
        elif category[0] == "L" and ord(ch) > LATIN_LETTERS_UP_TO:
            found.add("letters of another script")
        elif category == "Nd" and not ch.isascii():
            found.add("digits of another script")
    return sorted(found)


_MARKDOWN_LINK = re.compile(r"\[([^\]\n]{0,300})\]\(\s*([^)\s]{0,1000})\s*\)")
_MARKUP_TAG = re.compile(r"<\s*/?\s*[a-z][^<>]{0,300}>", re.IGNORECASE)


def _hidden_targets(reply: ReplyText) -> list[str]:
    found = []
    for match in _MARKDOWN_LINK.finditer(reply.read):
        if match.group(1).strip().lower() != match.group(2).strip().lower():
            found.append("a markdown link whose text is not its target")
    if _MARKUP_TAG.search(reply.read):
        found.append("markup tags")
    return sorted(set(found))


# Schemes a reply may link with; any other (javascript:, data:, tel:, ...) is a finding.
LINK_SCHEMES = frozenset({"", "http", "https", "mailto"})


def _foreign_links(reply: ReplyText) -> list[str]:
    found = []
    for link in links(reply.written_out):
        if link.scheme not in LINK_SCHEMES:
            found.append(f"a {link.scheme}: link")
        elif link.scheme == "mailto":
            continue  # the address itself is checked by reply_names_other_address
        elif link.user_part:
            found.append(f"a link with a user name before its host ({link.host})")
        elif not host_allowed(link.host, reply.policy.company_domains):
            found.append(link.host or "a link without a host")
    return sorted(set(found))


def _other_addresses(reply: ReplyText) -> list[str]:
    allowed = {
        address.lower()
        for address in (reply.context.customer_email, reply.policy.support_address)
        if address
    }
    return sorted(
        {
            f"an address at {address.rsplit('@', 1)[1]}"
            for address in emails(reply.written_out)
            if address not in allowed
        }
    )


def _bank_accounts(reply: ReplyText) -> list[str]:
    return sorted({f"an IBAN ({country}…)" for country in ibans(reply.read)})


def _cards(reply: ReplyText) -> list[str]:
    return ["a card number"] if card_numbers(reply.read) else []


def _phones(reply: ReplyText) -> list[str]:
    return ["a phone number"] if phone_numbers(reply.read) else []


def _language(reply: ReplyText) -> list[str]:
    context = reply.context
    if context.language is None:
        return []
    found = []
    if context.stated_language and context.stated_language != context.language:
        found.append(f"drafted as {context.stated_language} for a {context.language} ticket")
    detected, evidence = detect_language(reply.read)
    if evidence >= 3 and detected != context.language:
        found.append(f"reads as {detected}, the ticket is {context.language}")
    return found


_MONEY = _patterns(
    r"[€$£¥]",
    r"\b(eur|euros?|usd|dollars?|gbp|pounds?|chf|francs?|franken|pesos?|cents?|bitcoin|btc)\b",
)
_REFUND = _patterns(
    r"\b(refund\w*|reimburs\w*|credit\w*|compensat\w*|vouchers?|gift ?cards?|coupons?|"
    r"discount\w*|cash ?back|money back|pay(ing)? (you|out)|payouts?|wired?|transfer\w*)\b",
    r"\b(erstatt\w*|rückerstatt\w*|gutschrift\w*|gutschein\w*|entschädig\w*|rabatt\w*|"
    r"überweis\w*|auszahl\w*|geld zurück)",
    r"\b(rembours\w*|un avoir|dédommag\w*|bons? d'achat|remise\w*|virement\w*|indemni\w*)",
    r"\b(reembols\w*|compensaci\w*|cup[oó]n\w*|descuento\w*|transferencia\w*|abono\w*|"
    r"devoluci[oó]n del dinero|indemniza\w*)",
)
_CHANGE = (
    r"(new|now|transferr\w*|changed|moved|assigned|handed over|neue?[rsn]?|jetzt|übertragen|"
    r"geändert|nouve\w*|nouvel\w*|désormais|transféré\w*|modifié\w*|nuev[oa]s?|ahora|"
    r"transferid[oa]|cambiad[oa])"
)
_ACCOUNT_CHANGE = _patterns(
    # Passwords, codes and card secrets are never the subject of an unreviewed reply.
    r"\b(passwords?|passwort\w*|kennwort\w*|mot de passe|contraseñas?|passcodes?|pin|2fa|"
    r"two-factor|one-time code|verification code|bestätigungscode|code de vérification|"
    r"código de verificación|cvv|cvc|security code|sicherheitscode|cryptogramme|"
    r"card details|bank details|login details|kartendaten|bankdaten|zugangsdaten)\b",
    rf"\b(owner\w*|own(s|ing|ed)?|holder|inhaber\w*|besitzer\w*|propriétaire|titulaire|"
    rf"titular|dueñ[oa])\b[^.\n]{{0,60}}\b{_CHANGE}\b",
    rf"\b{_CHANGE}\b[^.\n]{{0,60}}\b(owner\w*|inhaber\w*|besitzer\w*|propriétaire|dueñ[oa])\b",
    rf"\b(e-?mail|address|adresse|correo|courriel|login|username|benutzername|identifiant|"
    rf"usuario)\b[^.\n]{{0,60}}\b({_CHANGE}|updated|replaced|set to|aktualisiert|ersetzt|"
    rf"mise à jour|remplacée?|actualizad[oa])\b",
    r"\b(account|konto|compte|cuenta|access|zugang|zugriff|accès|acceso)\b[^.\n]{0,40}\b"
    r"(reset|changed|unlocked|deleted|closed|updated|restored|reactivated|granted|transferred|"
    r"zurückgesetzt|entsperrt|gelöscht|geändert|übertragen|wiederhergestellt|réinitialisé|"
    r"débloqué|supprimé|modifié|rétabli|restablecid[ao]|desbloquead[ao]|eliminad[ao]|"
    r"cambiad[ao])\b",
)

REPLY_RULES: tuple[ReplyRule, ...] = (
    ReplyRule(
        "reply_plain_text",
        "holds characters a template would not",
        _unusual_characters,
    ),
    ReplyRule("reply_hides_link_target", "hides where a link goes", _hidden_targets),
    ReplyRule("reply_links_outside_company", "links outside the company's domains", _foreign_links),
    ReplyRule(
        "reply_names_other_address",
        "names an e-mail address other than the customer's and the support address",
        _other_addresses,
    ),
    ReplyRule("reply_names_bank_account", "names a bank account", _bank_accounts),
    ReplyRule("reply_names_card_number", "names a card number", _cards),
    ReplyRule("reply_names_phone_number", "names a phone number to call", _phones),
    ReplyRule(
        "reply_mentions_money",
        "names an amount or a currency",
        _mentions(_MONEY),
    ),
    ReplyRule(
        "reply_promises_refund",
        "promises a refund, credit, payment or compensation",
        _mentions(_REFUND),
    ),
    ReplyRule(
        "reply_changes_account",
        "speaks of an account change (owner, e-mail, password, access)",
        _mentions(_ACCOUNT_CHANGE),
    ),
    ReplyRule("reply_language_differs", "is not in the ticket's language", _language),
)


def _rules_named(*names: str) -> tuple[ReplyRule, ...]:
    """The reply rules of these names, in this order; a name no rule has fails at import, so
    a misspelt rule is never silently left unchecked."""
    by_name = {rule.name: rule for rule in REPLY_RULES}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise LookupError(f"no reply rule named {', '.join(unknown)}")
    return tuple(by_name[name] for name in names)


# What no reply may carry, whoever wrote it: an approver's edit is checked against these
# before it goes out. An approver may state an amount or a refund (a lowered refund must be
# stated), speak of the customer's account, give a number to call and write in their own
# words; they may not hide characters or a link's target, link outside the company, or name
# another person's e-mail address, a bank account or a card number.
EDITED_REPLY_RULES: tuple[ReplyRule, ...] = _rules_named(
    "reply_plain_text",
    "reply_hides_link_target",
    "reply_links_outside_company",
    "reply_names_other_address",
    "reply_names_bank_account",
    "reply_names_card_number",
)


def check_reply(
    text: str,
    context: GuardContext,
    policy: ReplyPolicy,
    rules: tuple[ReplyRule, ...] = REPLY_RULES,
) -> list[GuardHit]:
    """Every requirement of ``rules`` the reply breaks, each with what broke it."""
    read = plain(text)
    reply = ReplyText(
        raw=text, read=read, written_out=undefanged(read), context=context, policy=policy
    )
    hits = []
    for rule in rules:
        findings = rule.find(reply)
        if findings:
            hits.append(GuardHit(rule=rule.name, message=f"{rule.breach}: {', '.join(findings)}"))
    return hits
