"""Text guards: named, versioned rules that look for a ticket trying to steer the model
(overriding instructions, fake system messages, fake approvals, a dictated answer), for a
ticket that cannot be handled at all (no readable text, ids that contradict its fields), and
the reply check (``reply_check.py``): what a drafted reply must be to go out on its own.

A hit never acts: a steering hit or a reply hit puts the ticket in front of an agent (see
``ladder.py``); a ticket that cannot be handled goes to a person as it is. The audit records
which rules fired and the rule set's version, not the text that fired them. Change a rule,
change ``RULESET`` (ticket rules) or ``REPLY_RULESET`` (reply rules).
"""

from __future__ import annotations

import re
import unicodedata

from temporalio import activity

from activities.support.ladder import SupportSettings
from activities.support.models import GuardContext, GuardHit, TextGuardReport, TextGuardRequest
from activities.support.reply_check import (
    EDITED_REPLY_RULES,
    REPLY_RULES,
    REPLY_RULESET,
    ReplyPolicy,
    check_reply,
)
from activities.support.text_scan import card_numbers, ibans, plain
from sluice.activity_policy import LOCAL_COMPUTATION, with_policy
from sluice.config import Settings

RULESET = "support-guards/2026.12.1"


_Rule = tuple[str, str, tuple[re.Pattern[str], ...]]


def _patterns(*sources: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(source, re.IGNORECASE | re.MULTILINE) for source in sources)


TICKET_RULES: tuple[_Rule, ...] = (
    (
        "instruction_override",
        "the text tells the assistant to drop its instructions",
        _patterns(
            r"\b(ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}"
            r"\b(instructions?|rules|prompts?|guidelines|policy|policies)\b",
            r"\bignorier\w*\b[^.\n]{0,40}\b(anweisungen|regeln)\b",
            r"\boubli\w*\b[^.\n]{0,40}\b(instructions|consignes|règles)\b",
            r"\bignor\w*\b[^.\n]{0,40}\b(instructions|consignes|instrucciones|reglas)\b",
            r"\bnew instructions?\s*:",
        ),
    ),
    (
        "fake_system_message",
        "the text imitates a system, developer or assistant message",
        _patterns(
            r"^\s*[\[<#(*]*\s*(system|assistant|developer|admin)\s*(prompt|message)?\s*[\]>)*]*\s*:",
            r"\[/?(system|inst|sys)\]",
            r"<\|?/?(im_start|im_end|system|endoftext)\|?>",
            r"</?\s*ticket\s*>",
            r"\byou are now\b",
            r"\b(system|developer) prompt\b",
            r"#{2,}\s*(instruction|system)",
        ),
    ),
    (
        "fake_approval",
        "the text claims an approval or authorisation that only the approval gate can give",
        _patterns(
            r"\b(approved|authori[sz]ed|signed[ -]off|cleared)\s+(by|from)\b",
            r"\b(approval|authori[sz]ation)\s*(status|code|id)?\s*[:=]\s*"
            r"(yes|granted|approved|ok|true|confirmed)\b",
            r"\b(supervisor|manager|admin|agent)\s+(override|approval|approved)\b",
            r"\bpre-?approved\b",
            r"\b(genehmigt|freigegeben)\s+(von|durch)\b",
            r"\b(approuvé|autorisé)\s+par\b",
            r"\b(aprobado|autorizado)\s+por\b",
        ),
    ),
    (
        "dictated_answer",
        "the text tells the system what to answer, how to classify it or what to do",
        _patterns(
            # "reply with: ...", "answer in German saying '...'": a dictated text follows.
            r"\b(reply|respond|answer|write back)\s+(\w+\s+){0,3}?"
            r"(with|saying|exactly|that)\s*[:\"“']",
            r"\b(your|the)\s+(reply|response|answer)\s+(must|should|shall|has to)\b",
            r"\b(classify|categori[sz]e|mark|flag)\s+(this|it|the ticket|me)\b[^.\n]{0,20}\bas\b",
            r"\bconfidence\s*(of|to|at|=|:)?\s*(1(\.0+)?|100\s*%|0?\.\d+)(?!\w)",
            r"\b(include|add|insert|put)\s+(this|the following)\s+(link|text|line|address)\b",
            r"\b(antworte|antworten sie)\s+(\w+\s+){0,3}?(mit|genau|dass)\s*[:\"„']",
            r"\b(répond(ez|s)?)\s+(\w+\s+){0,3}?(avec|exactement|que)\s*[:\"«']",
            r"\b(responde|responda)\s+(\w+\s+){0,3}?(con|exactamente|que)\s*[:\"«']",
        ),
    ),
)


# Rules that are code, not patterns: named here so the audit lists them as applied.
TICKET_REQUIREMENTS = ["payment_details", "unreadable", "contradicting_ids"]


def _payment_details(text: str) -> list[str]:
    found = [f"an IBAN ({country}…)" for country in sorted(set(ibans(text)))]
    return found + (["a card number"] if card_numbers(text) else [])


def _unreadable(body: str) -> list[str]:
    if "\ufffd" in body or any(
        unicodedata.category(ch) == "Cc" and ch not in "\n\r\t" for ch in body
    ):
        return ["the text did not arrive as clean text (control or undecodable characters)"]
    if not re.search(r"[^\W\d_]{2,}", plain(body)):
        return ["the ticket has no readable text"]
    return []


def _id_prefix(identifier: str) -> str | None:
    prefix = re.match(r"[A-Za-z]+[-_]", identifier)
    return prefix.group() if prefix else None


def _contradicting_ids(text: str, context: GuardContext) -> list[str]:
    """Ids of the ticket's own kind (``CUST-``, ``ORD-``) that are not the ticket's."""
    found = []
    for what, own in (("customer", context.customer_id), ("order", context.order_id)):
        prefix = _id_prefix(own) if own else None
        if own is None or prefix is None:
            continue
        named = re.findall(rf"(?<![\w-]){re.escape(prefix)}[A-Za-z0-9._-]*[A-Za-z0-9]", text, re.I)
        if any(other.lower() != own.lower() for other in named):
            found.append(f"the text names another {what} than the ticket's {what} field")
    return found


def check_ticket(request: TextGuardRequest) -> TextGuardReport:
    """Steering attempts anywhere in the ticket; whether it can be handled at all."""
    # Read as a person would: "ｉｇｎｏｒｅ", "ign\u200bore" and a Cyrillic "о" in "ignоre"
    # do not slip past a rule written for "ignore".
    text = plain(f"{request.subject}\n{request.text}")
    hits = [
        GuardHit(rule=name, message=message)
        for name, message, patterns in TICKET_RULES
        if any(pattern.search(text) for pattern in patterns)
    ]
    if payment := _payment_details(text):
        hits.append(
            GuardHit(
                rule="payment_details",
                message="the ticket gives payment details: " + ", ".join(payment),
            )
        )
    for rule, findings in (
        ("unreadable", _unreadable(request.text)),
        ("contradicting_ids", _contradicting_ids(text, request.context)),
    ):
        if findings:
            hits.append(GuardHit(rule=rule, message="; ".join(findings), hands_over=True))
    return TextGuardReport(
        ruleset=RULESET,
        target="ticket",
        rules_applied=[name for name, _, _ in TICKET_RULES] + TICKET_REQUIREMENTS,
        hits=hits,
    )


def check_text(request: TextGuardRequest, policy: ReplyPolicy | None = None) -> TextGuardReport:
    """Apply the rules for the request's target; the report names each rule and hit. A reply
    checked without the company's policy may link to no domain and name no support address."""
    if request.target == "ticket":
        return check_ticket(request)
    policy = policy or ReplyPolicy()
    rules = REPLY_RULES if request.target == "reply" else EDITED_REPLY_RULES
    return TextGuardReport(
        ruleset=REPLY_RULESET,
        target=request.target,
        rules_applied=[rule.name for rule in rules],
        hits=check_reply(request.text, request.context, policy, rules),
        allowed_domains=policy.company_domains,
    )


class TextGuardActivities:
    """The guards, with the company's reply policy from the configuration."""

    def __init__(self, settings: Settings) -> None:
        support = settings.section("support", SupportSettings)
        self.policy = ReplyPolicy(
            company_domains=support.company_domains,
            support_address=support.support_address,
        )

    @activity.defn(name="check_support_text")
    @with_policy(LOCAL_COMPUTATION)
    async def check_text(self, request: TextGuardRequest) -> TextGuardReport:
        """Check a ticket or a drafted reply against the guard rules."""
        return check_text(request, self.policy)
