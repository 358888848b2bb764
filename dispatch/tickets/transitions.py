"""The explicit status-transition tables of tickets and of whistle summons.

A ticket moves only along an edge of :data:`TRANSITIONS`; anything else is refused with the
edges that are allowed from where it stands. Every edge names the data it needs (a team to
assign to, the ticket a duplicate repeats, the unit a case is transferred to), so a caller
learns what is missing before anything is written.

The main line is received → assigned → accepted → on_scene → handled → closed (受理, 派单,
接单, 到场, 处置, 办结). Side exits: ``transferred`` (移送: major-penalty cases go to the
department, 威环政发〔2024〕2号 §二(五)13), ``escalated`` (提请平台裁定: a jurisdiction dispute
or an unlisted matter goes to the platform office, which rules and re-assigns, §二(五)11, 14),
``duplicate`` and ``rejected`` (不予受理). ``closed``, ``duplicate`` and ``rejected`` are final.

``handled`` is the state in which the decision is made; a ticket flagged major enters it only
with an approved legal review (法制审核) on record: "未经法制审核或者审核未通过的，不得作出决定"
(河津市赋权增能通知 §(四)11).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dispatch.tickets.errors import LegalReviewRequired, TicketError, TransitionError

STATES: dict[str, tuple[str, str]] = {  # state -> (zh, en)
    "received": ("已受理", "received"),
    "assigned": ("已派单", "assigned to a team"),
    "accepted": ("已接单", "accepted by the team"),
    "on_scene": ("已到场", "team on scene"),
    "handled": ("已处置", "handled (decision made)"),
    "closed": ("已办结", "closed"),
    "transferred": ("已移送", "transferred to the competent unit"),
    "escalated": ("待裁定", "escalated to the platform office for a ruling"),
    "duplicate": ("重复件", "duplicate of another ticket"),
    "rejected": ("不予受理", "rejected"),
}

FINAL_STATES = frozenset({"closed", "duplicate", "rejected"})
#: States in which the resolution clock runs: ``handled`` has resolved the matter.
OPEN_STATES = frozenset(STATES) - FINAL_STATES - {"handled"}

#: The state a decision is made in: a major ticket needs an approved legal review first.
DECISION_STATE = "handled"
LEGAL_REVIEWER_ROLE = "legal_reviewer"
REVIEW_OUTCOMES = ("approved", "rejected")


@dataclass(frozen=True)
class Transition:
    """One allowed edge: its name, and the data keys a caller must supply for it."""

    from_state: str
    to_state: str
    zh: str
    en: str
    requires: tuple[str, ...] = ()


def _t(a: str, b: str, zh: str, en: str, *requires: str) -> tuple[tuple[str, str], Transition]:
    return (a, b), Transition(a, b, zh, en, requires)


TRANSITIONS: dict[tuple[str, str], Transition] = dict([
    _t("received", "assigned", "派单", "assign to a team", "team_id"),
    _t("received", "transferred", "移送", "transfer to the competent unit", "holder"),
    _t("received", "escalated", "提请裁定", "escalate to the platform office"),
    _t("received", "duplicate", "并案（重复件）", "mark as duplicate", "duplicate_of"),
    _t("received", "rejected", "不予受理", "reject"),
    _t("assigned", "accepted", "接单", "team accepts"),
    _t("assigned", "received", "退单", "team returns the ticket for re-dispatch"),
    _t("assigned", "transferred", "移送", "transfer to the competent unit", "holder"),
    _t("assigned", "escalated", "提请裁定", "escalate to the platform office"),
    _t("assigned", "duplicate", "并案（重复件）", "mark as duplicate", "duplicate_of"),
    _t("accepted", "on_scene", "到场", "arrive on scene"),
    _t("accepted", "handled", "处置完毕", "handle without a site visit"),
    _t("accepted", "transferred", "移送", "transfer to the competent unit", "holder"),
    _t("accepted", "escalated", "提请裁定", "escalate to the platform office"),
    _t("on_scene", "handled", "处置完毕", "handle on scene"),
    _t("on_scene", "transferred", "移送", "transfer to the competent unit", "holder"),
    _t("on_scene", "escalated", "提请裁定", "escalate to the platform office"),
    _t("handled", "closed", "办结", "close"),
    _t("handled", "accepted", "退回重办", "return to the team for rework"),
    _t("escalated", "assigned", "裁定后派单", "assign after the platform's ruling", "team_id"),
    _t("escalated", "transferred", "裁定移送", "transfer after the platform's ruling", "holder"),
    _t("escalated", "rejected", "不予受理", "reject after the platform's ruling"),
    _t("transferred", "assigned", "接收单位派单", "receiving unit assigns a team", "team_id"),
    _t("transferred", "closed", "接收单位办结", "closed by the receiving unit"),
])

# -- whistle summons (街道吹哨、部门报到) ----------------------------------------------------------

SUMMONS_STATES: dict[str, tuple[str, str]] = {
    "open": ("进行中", "open"),
    "closed": ("已办结", "closed"),
}
DEPARTMENT_STATES: dict[str, tuple[str, str]] = {
    "summoned": ("已吹哨", "summoned"),
    "reported_in": ("已报到", "reported in"),
    "acted": ("已处置", "acted"),
    "overdue": ("超时未报到", "report-in overdue"),
}
DEPARTMENT_TRANSITIONS: dict[tuple[str, str], str] = {
    ("summoned", "reported_in"): "报到",
    ("overdue", "reported_in"): "逾期报到",
    ("summoned", "overdue"): "报到超时",
    ("reported_in", "acted"): "处置",
}


def check_state(value: object, field: str = "state") -> str:
    """``value`` if it is a ticket state, else TicketError listing the states."""
    if not isinstance(value, str) or value not in STATES:
        raise TicketError(field, f"{value!r} is not a ticket state; expected one of "
                                 f"{', '.join(STATES)}")
    return value


def allowed_from(state: str) -> tuple[str, ...]:
    """Target states reachable from ``state`` in one step, in table order."""
    return tuple(b for (a, b) in TRANSITIONS if a == state)


def check_transition(from_state: str, to_state: str, data: dict[str, object]) -> Transition:
    """The edge ``from_state → to_state``, its required data present, or an error saying why.

    Raises
    ------
    TicketError
        ``to_state`` is not a state, or a required data key is missing or empty.
    TransitionError
        The edge is not in the table; the message lists the edges allowed from here.
    """
    check_state(to_state, "to_state")
    edge = TRANSITIONS.get((from_state, to_state))
    if edge is None:
        nexts = allowed_from(from_state)
        allowed = ", ".join(nexts) if nexts else f"none ({from_state} is final)"
        raise TransitionError("to_state", f"{from_state} → {to_state} is not an allowed "
                                          f"transition; from {from_state}: {allowed}")
    for key in edge.requires:
        value = data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise TicketError(key, f"required to move a ticket to {to_state} ({edge.en})")
    return edge


@dataclass(frozen=True)
class LegalReview:
    """A recorded legal review (法制审核) of a ticket's intended decision."""

    seq: int  # the audit entry that records it
    reviewer: str
    reviewer_role: str
    outcome: str
    opinion: str
    at: datetime

    def as_dict(self) -> dict[str, object]:
        return {"seq": self.seq, "reviewer": self.reviewer, "reviewer_role": self.reviewer_role,
                "outcome": self.outcome, "opinion": self.opinion, "at": self.at.isoformat()}


def check_reviewer(reviewer: object, role: object, outcome: object) -> None:
    """Refuse a legal review by anyone but a legal reviewer, or with an unknown outcome."""
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise TicketError("reviewer", "required (id of the legal reviewer)")
    if role != LEGAL_REVIEWER_ROLE:
        raise TicketError("reviewer_role", f"{role!r} may not record a legal review (法制审核); "
                                           f"only the {LEGAL_REVIEWER_ROLE!r} role may")
    if outcome not in REVIEW_OUTCOMES:
        raise TicketError("outcome", f"{outcome!r}; expected one of {', '.join(REVIEW_OUTCOMES)}")


def check_legal_review(ticket_id: int, major: bool, to_state: str,
                       latest_review: LegalReview | None) -> None:
    """Refuse the decision state for a major ticket without an approved legal review, and
    for any ticket whose latest legal review did not approve.

    Only the latest review counts: a later rejection withdraws an earlier approval. A ticket
    that is not major needs no review, but one that was reviewed and rejected is not decided
    over the reviewer's objection either.
    """
    if to_state != DECISION_STATE:
        return
    if latest_review is None and major:
        raise LegalReviewRequired(
            "legal_review", f"ticket {ticket_id} is flagged major: a legal review (法制审核) by "
                            f"a {LEGAL_REVIEWER_ROLE} must be recorded before it can be "
                            f"{to_state}; none is on record")
    if latest_review is not None and latest_review.outcome != "approved":
        flagged = " is flagged major and" if major else ":"
        raise LegalReviewRequired(
            "legal_review", f"ticket {ticket_id}{flagged} its latest legal review "
                            f"(entry {latest_review.seq}, by {latest_review.reviewer}) did not "
                            f"approve it ({latest_review.outcome}): no decision until a review "
                            "approves")
