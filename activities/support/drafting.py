"""Drafting the reply with the model, grounded in the customer's CRM record and written in
the customer's language.

The prompt is a versioned file beside this module. The offline provider's stand-in writes
from templates in four languages, filled only with facts from the CRM record (order status,
items, the refund on file), so a run without a model still produces a reply a customer
could receive.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio import activity

from activities.connectors.crm import CustomerHistory
from activities.model_gateway import MODEL_CALL, ModelCall, ModelGateway, Prompt
from activities.support.classification import ticket_message
from activities.support.models import Category, DraftedReply, DraftRequest, ReplyDraft
from sluice.activity_policy import with_policy

TASK = "support.draft_reply"
PROMPT = Prompt.load(Path(__file__).parent / "prompts", "draft_reply", "v1")


def customer_record(history: CustomerHistory) -> list[str]:
    """The CRM facts the model may use, one per line."""
    if not history.known:
        return ["new contact: no customer record"]
    lines = [
        f"name: {history.full_name}",
        f"customer since: {history.customer_since}",
        f"preferred language: {history.preferred_language}",
    ]
    lines += [
        f"order {o.order_id}: {o.items}; placed {o.placed_at}; {o.status}"
        + (f" {o.delivered_at}" if o.delivered_at else "")
        + f"; total {o.total} {o.currency}; refunded {o.refunded} {o.currency}"
        for o in history.orders
    ]
    lines += [
        f"past ticket {t.ticket_id} ({t.opened_at}, {t.category}, {t.status}): {t.resolution}"
        for t in history.past_tickets
    ]
    return lines


class ReplyDraftingActivities:
    """Model-backed reply drafting."""

    def __init__(self, gateway: ModelGateway) -> None:
        self.gateway = gateway

    @activity.defn(name="draft_support_reply")
    @with_policy(MODEL_CALL)
    async def draft_reply(self, request: DraftRequest) -> DraftedReply:
        """Draft the reply to one ticket."""
        ticket, history, refund = request.ticket, request.history, request.refund
        order = history.referenced_order
        if order:
            named = f"{order.order_id} (in the customer record above)"
        elif ticket.order_id:
            named = f"{ticket.order_id}, which is NOT in this customer's record"
        else:
            named = "none"
        facts = "\n".join(f"- {line}" for line in customer_record(history))
        user = (
            f"Reply language: {request.classification.language}\n"
            f"Ticket category: {request.classification.category.value}\n"
            f"Customer record:\n{facts}\n"
            f"Order named in the ticket: {named}\n"
            f"Refund on file: "
            + (
                f"{refund.amount} {refund.currency} on order {refund.order_id}"
                if refund
                else "none"
            )
            + f"\n\n{ticket_message(ticket)}"
        )
        call = PROMPT.call(TASK, user, request.model_dump(mode="json"))
        draft, record = await self.gateway.structured(call, ReplyDraft)
        return DraftedReply(draft=draft, model=record)


# --- the offline provider's writer ----------------------------------------------------------

TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "greet_named": "Dear {name},",
        "greet_new": "Hello,",
        "loyal": "Thank you for being our customer since {year}.",
        "refund": (
            "We have checked your order {order_id} ({items}) and are refunding {amount} "
            "{currency} to your original payment method. You will see it within 5 to 7 "
            "business days."
        ),
        "refund_no_order": (
            "We could not find the order you mention on your customer account. Please reply "
            "with the order number from your confirmation e-mail and we will look into your "
            "request straight away."
        ),
        "delivery_order": "Your order {order_id} ({items}) is {status}.",
        "delivery_hint": (
            "You can follow it with the tracking link in your shipping confirmation, and we "
            "will write to you if anything changes."
        ),
        "delivery_no_order": (
            "Please send us your order number so we can check where your parcel is."
        ),
        "technical_issue": (
            "Thank you for reporting this. Our technical team is looking into it; in the "
            "meantime, please try again with the latest version of the app or another "
            "browser. We will update you as soon as we know more."
        ),
        "account_access": (
            "For your security, we verify the identity of the account holder before changing "
            "anything on an account. We will send the next steps to the e-mail address "
            "registered with us."
        ),
        "billing": (
            "A colleague from our billing team is checking the charges on your account and "
            "will reply with the details."
        ),
        "complaint": (
            "We are sorry that we let you down. A senior colleague will look into what "
            "happened and contact you personally."
        ),
        "legal_privacy": (
            "We have received your data protection request. We will verify your identity and "
            "handle it within one month, as the GDPR requires, confirming each step in writing."
        ),
        "general": (
            "Thank you for your question. A colleague will make sure you get a complete "
            "answer shortly."
        ),
        "sign": "Kind regards,\nCustomer Support",
        "processing": "being prepared for dispatch",
        "shipped": "on its way",
        "delivered": "marked as delivered on {delivered_at}",
        "cancelled": "cancelled",
        "returned": "returned",
    },
    "de": {
        "greet_named": "Guten Tag {name},",
        "greet_new": "Guten Tag,",
        "loyal": "Vielen Dank für Ihre Treue seit {year}.",
        "refund": (
            "Wir haben Ihre Bestellung {order_id} ({items}) geprüft und erstatten {amount} "
            "{currency} auf Ihr ursprüngliches Zahlungsmittel. Sie sehen den Betrag innerhalb "
            "von 5 bis 7 Werktagen."
        ),
        "refund_no_order": (
            "Wir konnten die genannte Bestellung in Ihrem Kundenkonto nicht finden. Bitte "
            "senden Sie uns die Bestellnummer aus Ihrer Bestätigungs-E-Mail, dann kümmern wir "
            "uns sofort um Ihr Anliegen."
        ),
        "delivery_order": "Ihre Bestellung {order_id} ({items}) ist {status}.",
        "delivery_hint": (
            "Sie können die Sendung über den Link in Ihrer Versandbestätigung verfolgen; wir "
            "melden uns, falls sich etwas ändert."
        ),
        "delivery_no_order": (
            "Bitte senden Sie uns Ihre Bestellnummer, damit wir nachsehen können, wo Ihr Paket ist."
        ),
        "technical_issue": (
            "Danke für Ihre Meldung. Unser technisches Team prüft das Problem; bitte versuchen "
            "Sie es in der Zwischenzeit mit der neuesten Version der App oder einem anderen "
            "Browser. Wir melden uns, sobald wir mehr wissen."
        ),
        "account_access": (
            "Zu Ihrer Sicherheit prüfen wir die Identität der kontoinhabenden Person, bevor wir "
            "etwas an einem Konto ändern. Die nächsten Schritte senden wir an die bei uns "
            "hinterlegte E-Mail-Adresse."
        ),
        "billing": (
            "Unser Team aus der Buchhaltung prüft die Abbuchungen auf Ihrem Konto und meldet "
            "sich mit den Details."
        ),
        "complaint": (
            "Es tut uns leid, dass wir Sie enttäuscht haben. Eine erfahrene Ansprechperson "
            "sieht sich den Fall an und meldet sich persönlich bei Ihnen."
        ),
        "legal_privacy": (
            "Wir haben Ihre Datenschutzanfrage erhalten. Wir prüfen Ihre Identität und "
            "bearbeiten die Anfrage gemäß DSGVO innerhalb eines Monats; jeden Schritt "
            "bestätigen wir schriftlich."
        ),
        "general": (
            "Danke für Ihre Frage. Wir sorgen dafür, dass Sie in Kürze eine vollständige "
            "Antwort erhalten."
        ),
        "sign": "Freundliche Grüße\nIhr Kundenservice",
        "processing": "in Vorbereitung für den Versand",
        "shipped": "unterwegs",
        "delivered": "laut Sendungsverfolgung am {delivered_at} zugestellt worden",
        "cancelled": "storniert",
        "returned": "zurückgesendet worden",
    },
    "fr": {
        "greet_named": "Bonjour {name},",
        "greet_new": "Bonjour,",
        "loyal": "Merci pour votre fidélité depuis {year}.",
        "refund": (
            "Nous avons vérifié votre commande {order_id} ({items}) et nous vous remboursons "
            "{amount} {currency} sur votre moyen de paiement d'origine. Le montant apparaîtra "
            "sous 5 à 7 jours ouvrés."
        ),
        "refund_no_order": (
            "Nous n'avons pas trouvé la commande mentionnée dans votre compte client. Merci de "
            "nous envoyer le numéro de commande figurant dans votre e-mail de confirmation ; "
            "nous traiterons votre demande aussitôt."
        ),
        "delivery_order": "Votre commande {order_id} ({items}) est {status}.",
        "delivery_hint": (
            "Vous pouvez la suivre grâce au lien de votre e-mail d'expédition ; nous vous "
            "écrirons si quelque chose change."
        ),
        "delivery_no_order": (
            "Merci de nous envoyer votre numéro de commande afin que nous puissions localiser "
            "votre colis."
        ),
        "technical_issue": (
            "Merci de nous avoir signalé ce problème. Notre équipe technique l'examine ; en "
            "attendant, essayez avec la dernière version de l'application ou un autre "
            "navigateur. Nous reviendrons vers vous dès que nous en saurons plus."
        ),
        "account_access": (
            "Pour votre sécurité, nous vérifions l'identité du titulaire avant toute "
            "modification d'un compte. Nous enverrons les prochaines étapes à l'adresse e-mail "
            "enregistrée chez nous."
        ),
        "billing": (
            "Notre service facturation vérifie les prélèvements sur votre compte et vous "
            "répondra avec le détail."
        ),
        "complaint": (
            "Nous sommes désolés de vous avoir déçu. Un responsable va examiner ce qui s'est "
            "passé et vous contactera personnellement."
        ),
        "legal_privacy": (
            "Nous avons bien reçu votre demande relative à vos données personnelles. Nous "
            "vérifierons votre identité et la traiterons dans un délai d'un mois, conformément "
            "au RGPD, en vous confirmant chaque étape par écrit."
        ),
        "general": (
            "Merci pour votre question. Notre équipe veillera à vous apporter rapidement une "
            "réponse complète."
        ),
        "sign": "Cordialement,\nLe service client",
        "processing": "en cours de préparation",
        "shipped": "en cours d'acheminement",
        "delivered": "livrée depuis le {delivered_at}",
        "cancelled": "annulée",
        "returned": "retournée",
    },
    "es": {
        "greet_named": "Hola, {name}:",
        "greet_new": "Hola:",
        "loyal": "Gracias por confiar en nosotros desde {year}.",
        "refund": (
            "Hemos revisado su pedido {order_id} ({items}) y le reembolsamos {amount} "
            "{currency} en su método de pago original. Lo verá reflejado en un plazo de 5 a 7 "
            "días hábiles."
        ),
        "refund_no_order": (
            "No hemos encontrado el pedido que menciona en su cuenta de cliente. Por favor, "
            "envíenos el número de pedido de su correo de confirmación y revisaremos su "
            "solicitud de inmediato."
        ),
        "delivery_order": "Su pedido {order_id} ({items}) está {status}.",
        "delivery_hint": (
            "Puede seguirlo con el enlace de su correo de confirmación de envío; le "
            "escribiremos si algo cambia."
        ),
        "delivery_no_order": (
            "Por favor, envíenos su número de pedido para que podamos comprobar dónde está su "
            "paquete."
        ),
        "technical_issue": (
            "Gracias por avisarnos. Nuestro equipo técnico está revisando el problema; mientras "
            "tanto, pruebe con la última versión de la aplicación o con otro navegador. Le "
            "informaremos en cuanto sepamos más."
        ),
        "account_access": (
            "Por su seguridad, verificamos la identidad del titular antes de realizar cualquier "
            "cambio en una cuenta. Le enviaremos los siguientes pasos a la dirección de correo "
            "registrada."
        ),
        "billing": (
            "Nuestro equipo de facturación está revisando los cargos de su cuenta y le "
            "responderá con los detalles."
        ),
        "complaint": (
            "Lamentamos haberle decepcionado. Un responsable revisará lo ocurrido y se pondrá "
            "en contacto con usted personalmente."
        ),
        "legal_privacy": (
            "Hemos recibido su solicitud de protección de datos. Verificaremos su identidad y "
            "la atenderemos en el plazo de un mes, como exige el RGPD, confirmando cada paso "
            "por escrito."
        ),
        "general": (
            "Gracias por su pregunta. Nos aseguraremos de que reciba una respuesta completa en "
            "breve."
        ),
        "sign": "Un saludo,\nAtención al cliente",
        "processing": "en preparación",
        "shipped": "en camino",
        "delivered": "entregado desde el {delivered_at}",
        "cancelled": "cancelado",
        "returned": "devuelto",
    },
}


def _money(amount: Decimal, language: str) -> str:
    text = f"{amount:.2f}"
    return text if language == "en" else text.replace(".", ",")


def offline_draft(call: ModelCall) -> ReplyDraft:
    """Fill the template for the category with facts from the CRM record only."""
    request = DraftRequest.model_validate(call.input)
    history, refund = request.history, request.refund
    category = request.classification.category
    language = request.classification.language
    if language not in TEMPLATES:
        language = history.preferred_language if history.preferred_language in TEMPLATES else "en"
    text = TEMPLATES[language]
    paragraphs: list[str] = []
    grounding: list[str] = []
    if history.known:
        paragraphs.append(text["greet_named"].format(name=history.full_name))
    else:
        paragraphs.append(text["greet_new"])
        grounding.append("new contact: no customer record")
    order = history.referenced_order
    order_facts: dict[str, Any] = {}
    if order:
        order_facts = {
            "order_id": order.order_id,
            "items": order.items,
            "status": text[order.status].format(delivered_at=order.delivered_at),
        }
        grounding.append(f"order {order.order_id}: {order.status}")
    if refund is not None and order is not None:
        paragraphs.append(
            text["refund"].format(
                amount=_money(refund.amount, language), currency=refund.currency, **order_facts
            )
        )
        grounding.append(f"refund on file: {refund.amount} {refund.currency} on {order.order_id}")
    elif category == Category.REFUND_REQUEST:
        paragraphs.append(text["refund_no_order"])
    elif category == Category.DELIVERY:
        if order:
            paragraphs.append(
                text["delivery_order"].format(**order_facts) + " " + text["delivery_hint"]
            )
        else:
            paragraphs.append(text["delivery_no_order"])
    else:
        paragraphs.append(text.get(category.value, text["general"]))
    if history.known and history.customer_since:
        paragraphs.append(text["loyal"].format(year=history.customer_since.year))
        grounding.append(f"customer since {history.customer_since}")
    paragraphs.append(text["sign"])
    return ReplyDraft(language=language, body="\n\n".join(paragraphs), grounding=grounding)
