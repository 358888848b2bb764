"""The ticket lifecycle as pure rules: the transition table, legal review, intake checks."""

from __future__ import annotations

from collections import deque
from datetime import UTC, date, datetime, timedelta, timezone
from itertools import pairwise

import pytest

from dispatch.catalog import CaseFacts, Competence, bundled_catalog_path, load_catalog
from dispatch.tickets.errors import LegalReviewRequired, TicketError, TransitionError
from dispatch.tickets.models import Authority, SummonsDraft, TicketDraft
from dispatch.tickets.transitions import (
    FINAL_STATES,
    STATES,
    TRANSITIONS,
    LegalReview,
    allowed_from,
    check_legal_review,
    check_reviewer,
    check_transition,
)
from dispatch.tickets.validation import check_not_before, check_time
from geo.boundaries import District

BJ = timezone(timedelta(hours=8))
NOW = datetime(2025, 10, 1, 2, 0, tzinfo=UTC)


def _reachable(start: str) -> set[str]:
    seen, todo = {start}, deque([start])
    while todo:
        for nxt in allowed_from(todo.popleft()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _draft(**kw: object) -> TicketDraft:
    base: dict[str, object] = dict(source="hotline_12345", external_id="12345-0001",
                                   district="changshan", lon=118.52, lat=28.90,
                                   actor="feed:hotline_12345",
                                   received_at=datetime(2025, 9, 30, 10, 0, tzinfo=BJ))
    base.update(kw)
    return TicketDraft(**base)  # type: ignore[arg-type]


def _review(outcome: str, seq: int = 9) -> LegalReview:
    return LegalReview(seq, "lr-01", "legal_reviewer", outcome, "opinion", NOW)


# -- the table -------------------------------------------------------------------------------


def test_main_line_runs_from_received_to_closed() -> None:
    line = ["received", "assigned", "accepted", "on_scene", "handled", "closed"]
    for a, b in pairwise(line):
        assert (a, b) in TRANSITIONS, (a, b)


def test_every_state_is_reachable_and_every_open_one_can_finish() -> None:
    assert _reachable("received") == set(STATES)
    for state in set(STATES) - FINAL_STATES:
        assert _reachable(state) & FINAL_STATES, state
    for state in FINAL_STATES:
        assert allowed_from(state) == ()


def test_table_only_uses_known_states() -> None:
    for a, b in TRANSITIONS:
        assert a in STATES and b in STATES


def test_unknown_state_is_named_with_the_states_there_are() -> None:
    with pytest.raises(TicketError, match=r"to_state: 'finished' is not a ticket state; "
                                          r"expected one of received, assigned"):
        check_transition("received", "finished", {})


def test_edge_not_in_the_table_says_what_is_allowed() -> None:
    with pytest.raises(TransitionError, match=r"to_state: received → handled is not an allowed "
                                              r"transition; from received: assigned, "
                                              r"transferred, escalated, duplicate, rejected"):
        check_transition("received", "handled", {})
    with pytest.raises(TransitionError, match=r"none \(closed is final\)"):
        check_transition("closed", "received", {})


def test_an_edge_needs_its_data() -> None:
    with pytest.raises(TicketError, match="team_id: required to move a ticket to assigned"):
        check_transition("received", "assigned", {})
    with pytest.raises(TicketError, match="team_id: required"):
        check_transition("received", "assigned", {"team_id": "  "})
    with pytest.raises(TicketError, match="duplicate_of: required"):
        check_transition("received", "duplicate", {})
    with pytest.raises(TicketError, match="holder: required"):
        check_transition("on_scene", "transferred", {})
    assert check_transition("received", "assigned", {"team_id": "CS01-zf"}).zh == "派单"


# -- legal review before a major decision (法制审核) -------------------------------------------


def test_major_ticket_cannot_be_handled_without_a_legal_review() -> None:
    with pytest.raises(LegalReviewRequired, match=r"legal_review: ticket 7 is flagged major: a "
                                                  r"legal review \(法制审核\).*none is on record"):
        check_legal_review(7, True, "handled", None)


def test_a_rejecting_latest_review_blocks_the_decision() -> None:
    with pytest.raises(LegalReviewRequired, match=r"latest legal review \(entry 9, by lr-01\) "
                                                  r"did not approve it"):
        check_legal_review(7, True, "handled", _review("rejected"))


def test_a_rejecting_review_blocks_even_a_ticket_not_flagged_major() -> None:
    with pytest.raises(LegalReviewRequired, match=r"legal_review: ticket 7: its latest legal "
                                                  r"review \(entry 9, by lr-01\) did not"):
        check_legal_review(7, False, "handled", _review("rejected"))


def test_approved_review_or_a_minor_ticket_may_be_handled() -> None:
    check_legal_review(7, True, "handled", _review("approved"))
    check_legal_review(7, False, "handled", None)
    check_legal_review(7, True, "on_scene", None)  # only the decision state needs it


def test_only_a_legal_reviewer_may_review() -> None:
    with pytest.raises(TicketError, match="reviewer_role: 'dispatcher' may not record"):
        check_reviewer("d-01", "dispatcher", "approved")
    with pytest.raises(TicketError, match="reviewer: required"):
        check_reviewer("", "legal_reviewer", "approved")
    with pytest.raises(TicketError, match="outcome: 'maybe'"):
        check_reviewer("lr-01", "legal_reviewer", "maybe")
    check_reviewer("lr-01", "legal_reviewer", "rejected")


def test_major_penalty_decision_flags_the_ticket_major(changshan: District) -> None:
    comp = Competence(load_catalog(bundled_catalog_path(), changshan))
    major = comp.decide("HJ003", "CS01", date(2024, 5, 6), CaseFacts(fine_yuan=60_000))
    minor = comp.decide("HJ003", "CS01", date(2024, 5, 6), CaseFacts())
    a = Authority.from_decision(major)
    assert a.major and a.kind == "department" and a.holder == major.holder
    assert _draft(authority=a).checked(NOW).major
    assert not _draft(authority=Authority.from_decision(minor)).checked(NOW).major
    assert _draft(major=True).checked(NOW).major
    assert Authority.from_dict(a.as_dict()) == a


# -- times: never in the future, never back-filled (全过程记录) ----------------------------------


def test_event_times_must_be_aware_and_not_in_the_future() -> None:
    with pytest.raises(TicketError, match=r"at: 2025-10-01T02:00:01\+00:00 is in the future"):
        check_time(NOW + timedelta(seconds=1), "at", NOW)
    with pytest.raises(TicketError, match=r"at: 2025-10-01T10:00:00 has no time zone"):
        check_time(datetime(2025, 10, 1, 10, 0), "at", NOW)
    assert check_time(datetime(2025, 10, 1, 10, 0, tzinfo=BJ), "at", NOW) == NOW


def test_an_event_may_not_precede_the_previous_one() -> None:
    with pytest.raises(TicketError, match=r"at: .* precedes the previous event of ticket 3 .*"
                                          r"never back-filled"):
        check_not_before(NOW - timedelta(minutes=1), NOW, "at", "ticket 3")
    check_not_before(NOW, NOW, "at", "ticket 3")


# -- intake --------------------------------------------------------------------------------


def test_draft_is_normalised_to_utc() -> None:
    d = _draft(reported_at=datetime(2025, 9, 30, 9, 0, tzinfo=BJ)).checked(NOW)
    assert d.received_at == datetime(2025, 9, 30, 2, 0, tzinfo=UTC)
    assert d.reported_at == datetime(2025, 9, 30, 1, 0, tzinfo=UTC)
    assert _draft(received_at=None).checked(NOW).received_at == NOW


@pytest.mark.parametrize(("change", "message"), [
    ({"source": "wechat"}, "source: 'wechat'; expected one of hotline_12345"),
    ({"external_id": None}, "external_id: required for hotline_12345 tickets"),
    ({"district": ""}, "district: required"),
    ({"lon": 200.0}, "lon: 200.0 is outside -180..180"),
    ({"lat": float("nan")}, "lat: nan is outside"),
    ({"lat": "28.9"}, "lat: '28.9' is not a number"),
    ({"actor": " "}, "actor: required"),
    ({"received_at": NOW + timedelta(hours=1)}, "received_at: .* is in the future"),
    ({"received_at": datetime(2025, 9, 30, 10, 0)}, "received_at: .* has no time zone"),
    ({"reported_at": datetime(2025, 9, 30, 11, 0, tzinfo=BJ)}, "reported_at: .* is after "
                                                               "received_at"),
    ({"facts": {"fine": float("inf")}}, "facts.fine: cannot be stored as JSON"),
    ({"facts": ["not", "a", "mapping"]}, "facts: expected a mapping"),
    ({"major": "yes"}, "major: 'yes' is not true or false"),
])
def test_bad_draft_names_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(TicketError, match=message):
        _draft(**change).checked(NOW)


def test_grid_and_patrol_tickets_need_no_external_id() -> None:
    assert _draft(source="grid", external_id=None).checked(NOW).external_id is None


@pytest.mark.parametrize(("change", "message"), [
    ({"departments": []}, "departments: a whistle summons at least one department"),
    ({"departments": "scjg"}, "departments: expected a list"),
    ({"departments": ["scjg", "scjg"]}, "departments: listed more than once: scjg"),
    ({"report_within": timedelta(0)}, "report_within: .* is not a positive duration"),
    ({"report_within_by_department": {"zrzy": timedelta(minutes=5)}},
     "report_within_by_department: zrzy not among"),
    ({"raised_by": ""}, "raised_by: required"),
])
def test_bad_summons_draft_names_the_field(change: dict[str, object], message: str) -> None:
    base: dict[str, object] = dict(district="changshan", township="CS01",
                                   departments=["scjg", "sthj"], description="油烟扰民联合处置",
                                   raised_by="CS01-platform")
    base.update(change)
    with pytest.raises(TicketError, match=message):
        SummonsDraft(**base).checked(NOW)  # type: ignore[arg-type]
