"""Classifying a ticket with the model: category, urgency, sentiment, language, confidence.

The prompt is a versioned file beside this module. The offline provider's stand-in is a set
of keyword rules in four languages: it produces the same structured answer, with low
confidence when the text is ambiguous, so a run without a model still triages realistically.
"""

from __future__ import annotations

import re
from pathlib import Path

from temporalio import activity

from activities.model_gateway import MODEL_CALL, ModelCall, ModelGateway, Prompt
from activities.support.models import (
    Category,
    ClassifiedTicket,
    Sentiment,
    Ticket,
    TicketClassification,
    Urgency,
)
from sluice.activity_policy import with_policy

TASK = "support.classify_ticket"
PROMPT = Prompt.load(Path(__file__).parent / "prompts", "classify_ticket", "v1")


def ticket_message(ticket: Ticket) -> str:
    """The customer's text, fenced so the prompt can tell the model it is data."""
    fenced = f"Subject: {ticket.subject}\n\n{ticket.body}".replace("</ticket>", "</ ticket>")
    return f"Channel: {ticket.channel.value}\n<ticket>\n{fenced}\n</ticket>"


class TicketClassificationActivities:
    """Model-backed ticket classification."""

    def __init__(self, gateway: ModelGateway) -> None:
        self.gateway = gateway

    @activity.defn(name="classify_ticket")
    @with_policy(MODEL_CALL)
    async def classify_ticket(self, ticket: Ticket) -> ClassifiedTicket:
        """Classify one ticket."""
        call = PROMPT.call(
            TASK, ticket_message(ticket), {"subject": ticket.subject, "body": ticket.body}
        )
        classification, record = await self.gateway.structured(call, TicketClassification)
        return ClassifiedTicket(classification=classification, model=record)


# --- the offline provider's classifier -----------------------------------------------------

# Common short words per language: enough to tell apart the languages we answer in.
LANGUAGE_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the and is my i you to of it have not with please for was this that order "
        "hello hi thanks can".split()
    ),
    "de": frozenset(
        "der die das und ist ich nicht mit mein meine bitte sie ein eine für habe wurde "
        "hallo danke noch auf".split()
    ),
    "fr": frozenset(
        "le la les et est je ne pas mon ma mes vous avec pour une un bonjour merci des "
        "commande toujours".split()
    ),
    "es": frozenset(
        "el la los las y es mi no con para por una un hola gracias pedido que todavía mis".split()
    ),
}


def _words(listing: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in listing.split("|"))


# Keywords per category, in the four languages; lower case, whole words ("stem*" for stems).
CATEGORY_WORDS: dict[Category, tuple[str, ...]] = {
    Category.REFUND_REQUEST: _words(
        "refund* | money back | reimburs* | rückerstattung | erstatt* | geld zurück | "
        "rembours* | reembols* | devuelvan el dinero | devolución del dinero"
    ),
    Category.BILLING: _words(
        "invoice* | charged twice | double charge | charged | billing | vat | receipt | "
        "rechnung | abgebucht | doppelt | facture | prélevé | débité | factura | cobro | cobrado"
    ),
    Category.TECHNICAL_ISSUE: _words(
        "error* | crash* | not working | doesn't work | does not work | bug | broken | "
        "won't turn on | checkout fail* | outage | is down | fehler | funktioniert nicht | "
        "absturz | defekt | erreur | ne fonctionne pas | panne | no funciona | fallo"
    ),
    Category.ACCOUNT_ACCESS: _words(
        "password | log in | login | locked out | sign in | two-factor | 2fa | reset link | "
        "passwort | anmelden | konto gesperrt | mot de passe | me connecter | contraseña | "
        "iniciar sesión | cuenta bloqueada"
    ),
    Category.COMPLAINT: _words(
        "unacceptable | disappoint* | terrible | worst | complain* | furious | rude | "
        "never again | inakzeptabel | enttäuscht | beschwerde | unverschämt | inadmissible | "
        "déçu* | plainte | scandaleux | inaceptable | decepcionad* | queja | reclamación"
    ),
    Category.LEGAL_PRIVACY: _words(
        "gdpr | dsgvo | rgpd | personal data | delete my data | delete all my data | "
        "right to be forgotten | privacy | lawyer* | legal action | court | datenschutz | "
        "personenbezogen* | meine daten | anwalt | données personnelles | mes données | "
        "avocat | datos personales | mis datos | abogado"
    ),
    Category.DELIVERY: _words(
        "deliver* | parcel | package | tracking | shipped | shipping | arriv* | courier | "
        "lieferung | geliefert | paket | sendung | livraison | livré | colis | suivi | "
        "entrega* | paquete | envío | seguimiento"
    ),
    Category.GENERAL_QUESTION: _words(
        "question | do you | how do i | is it possible | warranty | opening hours | frage | "
        "garantie | est-il possible | pregunta | garantía"
    ),
}

# A general question is what a ticket is when nothing more specific fits.
WEAK_CATEGORIES: dict[Category, float] = {Category.GENERAL_QUESTION: 0.5}

URGENT_WORDS = _words(
    "urgent | asap | immediately | emergency | right now | all customers | dringend | "
    "sofort | notfall | urgence | immédiatement | urgente | inmediatamente"
)
NEGATIVE_WORDS = _words(
    "angry | unacceptable | disappoint* | terrible | awful | furious | worst | frustrat* | "
    "still | again | ärger* | enttäuscht | inakzeptabel | immer noch | déçu* | inadmissible | "
    "furieux | toujours pas | decepcionad* | inaceptable | harta | harto | todavía no"
)
POSITIVE_WORDS = _words("thank* | great | love | appreciate | danke | super | merci | gracias")


def _mentions(text: str, word: str) -> bool:
    ending = "" if word.endswith("*") else r"(?!\w)"
    return re.search(rf"(?<!\w){re.escape(word.rstrip('*'))}{ending}", text) is not None


def detect_language(text: str) -> tuple[str, int]:
    """The language whose common words appear most, and how many did (0: a guess)."""
    words = re.findall(r"[^\W\d_]+", text.lower())
    counts = {lang: sum(w in common for w in words) for lang, common in LANGUAGE_WORDS.items()}
    language = max(counts, key=lambda lang: counts[lang])
    return (language, counts[language]) if counts[language] else ("en", 0)


def offline_classify(call: ModelCall) -> TicketClassification:
    """Classify by keywords, as a first-line agent skimming the inbox would."""
    text = f"{call.input.get('subject', '')}\n{call.input.get('body', '')}".lower()
    scores: dict[Category, float] = {}
    matched: dict[Category, list[str]] = {}
    for category, words in CATEGORY_WORDS.items():
        found = [word.rstrip("*") for word in words if _mentions(text, word)]
        if found:
            matched[category] = found
            scores[category] = len(found) * WEAK_CATEGORIES.get(category, 1.0)
    language, evidence = detect_language(text)
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    if not ranked:
        category, confidence = Category.OTHER, 0.35
        why = "no keyword of any category"
    else:
        category, top = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        # Sure when one category clearly leads on two or more keywords; unsure on a tie.
        confidence = 0.4 + 0.55 * ((top - second) / top) * min(1.0, top / 2)
        why = f"{category.value} keywords ({', '.join(matched[category][:3])})"
        if second:
            why += f"; also {ranked[1][0].value}"
    urgent = any(_mentions(text, word) for word in URGENT_WORDS)
    if urgent:
        urgency = Urgency.URGENT
    elif category in (Category.ACCOUNT_ACCESS, Category.LEGAL_PRIVACY, Category.COMPLAINT):
        urgency = Urgency.HIGH
    elif category in (Category.GENERAL_QUESTION, Category.OTHER):
        urgency = Urgency.LOW
    else:
        urgency = Urgency.NORMAL
    negative = sum(_mentions(text, word) for word in NEGATIVE_WORDS)
    positive = sum(_mentions(text, word) for word in POSITIVE_WORDS)
    sentiment = (
        Sentiment.NEGATIVE
        if negative > positive
        else Sentiment.POSITIVE
        if positive > negative
        else Sentiment.NEUTRAL
    )
    language_note = (
        f"language {language} by {evidence} common words" if evidence else "language assumed en"
    )
    return TicketClassification(
        category=category,
        urgency=urgency,
        sentiment=sentiment,
        language=language,
        confidence=round(confidence, 2),
        rationale=f"Offline rules: {why}; {language_note}.",
    )
