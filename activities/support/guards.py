"""Text guards: named, versioned rules that look for a ticket trying to steer the model
(overriding instructions, fake system messages, fake approvals) and for a drafted reply that
commits to something only a human may grant (money, refunds, account changes).

A hit never acts: it only puts the ticket in front of an agent (see ``ladder.py``). The audit
records which rules fired, not the text that fired them. Change a rule, change ``RULESET``.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta

from temporalio import activity
from temporalio.common import RetryPolicy

from activities.support.models import GuardHit, TextGuardReport, TextGuardRequest
from sluice.activity_policy import ActivityPolicy, with_policy

RULESET = "support-guards/2026.11.1"

# Pure computation: a failure here is a bug, so retry little and fail visibly.
LOCAL_COMPUTATION = ActivityPolicy(
    start_to_close=timedelta(seconds=10),
    retry=RetryPolicy(maximum_attempts=2),
)

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
)

_AMOUNT = r"\d[\d.,]*\s?(€|eur|euros?|usd|\$|£|gbp|chf)(?!\w)|(€|\$|£)\s?\d"

REPLY_RULES: tuple[_Rule, ...] = (
    (
        "reply_mentions_money",
        "the reply names an amount of money",
        _patterns(_AMOUNT),
    ),
    (
        "reply_promises_refund",
        "the reply promises a refund, credit or compensation",
        _patterns(
            r"\b(refund\w*|reimburs\w*|credit note|compensation|voucher)\b",
            r"\b(erstatt\w*|rückerstatt\w*|gutschrift\w*|gutschein\w*|entschädigung\w*)",
            r"\b(rembours\w*|avoir|dédommag\w*|bon d'achat)\b",
            r"\b(reembols\w*|devoluci[oó]n del dinero|compensaci[oó]n|cup[oó]n)\b",
        ),
    ),
    (
        "reply_changes_account",
        "the reply says an account was changed",
        _patterns(
            r"\b(password|account|e-?mail address)\b[^.\n]{0,30}\b(has been|was|is now)\s+"
            r"(reset|changed|unlocked|deleted|closed|updated)\b",
            r"\b(passwort|konto)\b[^.\n]{0,30}\b(zurückgesetzt|entsperrt|gelöscht|geändert)\b",
            r"\b(mot de passe|compte)\b[^.\n]{0,30}\b(réinitialisé|débloqué|supprimé|modifié)\b",
            r"\b(contraseña|cuenta)\b[^.\n]{0,30}\b(restablecid[ao]|desbloquead[ao]|eliminad[ao])\b",
        ),
    ),
)


def _normalise(text: str) -> str:
    # NFKC folds look-alike characters (full-width letters, ligatures) into plain ones, so
    # "ｉｇｎｏｒｅ" cannot slip past a rule written for "ignore".
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")


def check_text(request: TextGuardRequest) -> TextGuardReport:
    """Apply the rules for the request's target; the report names each rule and hit."""
    rules = TICKET_RULES if request.target == "ticket" else REPLY_RULES
    text = _normalise(request.text)
    hits = [
        GuardHit(rule=name, message=message)
        for name, message, patterns in rules
        if any(pattern.search(text) for pattern in patterns)
    ]
    return TextGuardReport(
        ruleset=RULESET,
        target=request.target,
        rules_applied=[name for name, _, _ in rules],
        hits=hits,
    )


class TextGuardActivities:
    @activity.defn(name="check_support_text")
    @with_policy(LOCAL_COMPUTATION)
    async def check_text(self, request: TextGuardRequest) -> TextGuardReport:
        """Check a ticket or a drafted reply against the guard rules."""
        return check_text(request)
