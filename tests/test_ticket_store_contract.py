"""Tickets and summons in storage: every backend behaves the same (SQLite and PostGIS).

Each test taking ``store`` runs once per backend (see conftest.py). Coordinates are made-up
points in Changshan; ticket numbers and department codes are sample values.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

import dispatch.tickets.store as ticket_store
from dispatch.tickets import (
    Authority,
    ConflictError,
    DuplicatePolicy,
    LegalReviewRequired,
    NotFound,
    SummonsDraft,
    Ticket,
    TicketDraft,
    TicketError,
    TransitionError,
    assign,
    close_summons,
    create_summons,
    create_ticket,
    events,
    flag_major,
    flag_overdue,
    get_summons,
    get_ticket,
    list_summons,
    list_tickets,
    overdue,
    record_action,
    record_legal_review,
    report_in,
    summons_events,
    transition,
)
from dispatch.tickets.store import DISPATCH_MIGRATIONS
from geo.store import Store, open_store

BJ = timezone(timedelta(hours=8))
LON, LAT = 118.5210, 28.9010  # a made-up point in 天马街道
M_PER_DEG_LAT = math.radians(1) * 6_371_008.8


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=BJ)


def draft(n: int = 1, **kw: Any) -> TicketDraft:
    base: dict[str, Any] = dict(
        source="hotline_12345", external_id=f"12345-2025-{n:05d}", district="changshan",
        matter_code="HJ003", lon=LON, lat=LAT, township="CS01", zone="Z1",
        actor="feed:hotline_12345", reported_at=bj(2025, 9, 30, 9, 55),
        received_at=bj(2025, 9, 30, 10, 0), description="餐饮店油烟直排，影响居民",
        facts={"fine_yuan": None, "photos": 2, "地址": "天马街道某路"})
    base.update(kw)
    return TicketDraft(**base)


def new(store: Store, n: int = 1, **kw: Any) -> Ticket:
    ticket, created = create_ticket(store, draft(n, **kw))
    assert created
    return ticket


def count_entries(store: Store) -> int:
    with store.transaction() as cur:
        cur.execute("SELECT COUNT(*) FROM dispatch_audit")
        return int(cur.fetchone()[0])


def north(metres: float) -> float:
    return LAT + metres / M_PER_DEG_LAT


def race(workers: list[Callable[[], Any]]) -> list[Any]:
    """Run the callables at the same moment on their own threads; results or exceptions."""
    barrier = threading.Barrier(len(workers))
    out: list[Any] = [None] * len(workers)

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = workers[i]()
        except Exception as exc:  # collected for the assertions
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


# -- schema ----------------------------------------------------------------------------------


def test_dispatch_schema_is_migrated_with_its_own_component(store: Store) -> None:
    assert store.schema_versions()["dispatch"] == len(DISPATCH_MIGRATIONS)


def test_store_opened_before_registration_is_migrated_on_first_use(store: Store) -> None:
    with store.transaction() as cur:  # as if the store predated the dispatch layer
        for table in ("dispatch_summons_department", "dispatch_summons", "dispatch_ticket_link",
                      "dispatch_audit", "dispatch_ticket"):
            cur.execute(f"DROP TABLE {table}")
        cur.execute("DELETE FROM schema_version WHERE component = 'dispatch'")
    with open_store(store.url) as fresh:
        assert fresh.schema_versions()["dispatch"] == 1  # open_store migrates registered steps
    ticket_store._READY.discard(store)
    assert new(store).id == 1


# -- intake ----------------------------------------------------------------------------------


def test_ticket_reads_back_with_every_field(store: Store) -> None:
    auth = Authority(kind="township", holder="CS01", holder_name="天马街道办事处",
                     reasons=({"code": "grant.in_force", "zh": "已赋权", "en": "granted",
                               "source": "W", "on": None},), catalogue_version="2024-05")
    before = datetime.now(UTC)
    t = new(store, authority=auth)
    got = get_ticket(store, t.id)
    assert got == t
    assert (got.source, got.external_id, got.district, got.matter_code) == (
        "hotline_12345", "12345-2025-00001", "changshan", "HJ003")
    assert (got.lon, got.lat, got.township, got.zone) == (LON, LAT, "CS01", "Z1")
    assert got.reported_at == bj(2025, 9, 30, 9, 55)
    assert got.received_at == bj(2025, 9, 30, 10, 0)
    assert (got.state, got.version, got.team_id, got.major) == ("received", 1, None, False)
    assert got.authority == auth
    assert got.facts == {"fine_yuan": None, "photos": 2, "地址": "天马街道某路"}
    assert got.description == "餐饮店油烟直排，影响居民"
    assert got.sla_due_at == bj(2025, 10, 10, 17, 30)  # 3 working days across National Day
    assert got.sla_rule == "hotline_12345: 3 working days"
    assert got.created_at >= before and got.created_at.tzinfo == UTC


def test_resent_hotline_ticket_returns_the_stored_one(store: Store) -> None:
    first, created = create_ticket(store, draft(7))
    again, created_again = create_ticket(store, draft(7, description="重复推送，内容不同"))
    assert created and not created_again
    assert again == first  # the resend is not merged into the stored ticket
    assert len(list_tickets(store)) == 1
    assert [e.action for e in events(store, first.id)] == ["create"]
    other, created_other = create_ticket(store, draft(7, source="digital_city"))
    assert created_other and other.id != first.id  # the key is (source, external_id)


def test_concurrent_resends_from_two_connections_create_one_ticket(store: Store) -> None:
    with open_store(store.url) as a, open_store(store.url) as b:
        results = race([lambda: create_ticket(a, draft(9)), lambda: create_ticket(b, draft(9))])
    assert sorted(created for _, created in results) == [False, True]
    assert results[0][0].id == results[1][0].id
    assert len(list_tickets(store)) == 1
    assert count_entries(store) == 1


def test_likely_duplicate_is_linked_not_dropped(store: Store) -> None:
    first = new(store, 1)
    near, created = create_ticket(store, draft(2, lat=north(150),
                                               received_at=bj(2025, 9, 30, 20, 0)))
    assert created and near.state == "received"
    (link,) = near.links
    assert link.other_id == first.id and link.kind == "likely_duplicate"
    assert link.distance_m == pytest.approx(150, abs=0.5)
    assert [lk.other_id for lk in get_ticket(store, first.id).links] == [near.id]
    create_event = events(store, near.id)[0]
    assert create_event.data["likely_duplicates"] == [{"ticket_id": first.id,
                                                       "distance_m": link.distance_m}]


@pytest.mark.parametrize("change", [
    {"lat": north(250)},                               # beyond 200 m
    {"matter_code": "HJ010"},                          # another matter
    {"received_at": bj(2025, 10, 1, 10, 30)},          # more than 24 h later
    {"district": "elsewhere"},
    {"matter_code": None},                             # unclassified: not matched
])
def test_tickets_that_differ_are_not_linked(store: Store, change: dict[str, Any]) -> None:
    new(store, 1)
    assert new(store, 2, **change).links == ()


def test_duplicate_radius_and_window_are_configurable(store: Store) -> None:
    new(store, 1)
    wide = DuplicatePolicy(radius_m=300, window=timedelta(hours=48))
    t, _ = create_ticket(store, draft(2, lat=north(250), received_at=bj(2025, 10, 1, 20, 0)),
                         duplicates=wide)
    assert [lk.other_id for lk in t.links] == [1]


def test_rejected_and_duplicate_tickets_are_not_candidates(store: Store) -> None:
    a = new(store, 1)
    transition(store, a.id, "rejected", "d-01", "不属于执法事项")
    assert new(store, 2).links == ()


def test_intake_outside_the_holiday_calendar_is_stored_with_a_provisional_deadline(
        store: Store) -> None:
    t, created = create_ticket(store, draft(1, received_at=bj(2003, 6, 2, 10, 0),
                                            reported_at=None))
    assert created and t.sla_due_at == bj(2003, 6, 4, 17, 30)
    assert "provisional: no holiday schedule for 2003" in (t.sla_rule or "")


def test_bad_draft_stores_nothing(store: Store) -> None:
    with pytest.raises(TicketError, match="lon:"):
        create_ticket(store, draft(1, lon=500.0))
    assert list_tickets(store) == []
    assert count_entries(store) == 0


# -- transitions and the audit trail --------------------------------------------------------------


def test_every_transition_is_recorded_with_actor_time_and_reason(store: Store) -> None:
    t = new(store)
    before = datetime.now(UTC)
    t = assign(store, t.id, "CS01-zf", "d-01", t.version, at=bj(2025, 9, 30, 10, 5))
    t = transition(store, t.id, "accepted", "o-11", "接单", at=bj(2025, 9, 30, 10, 6))
    t = transition(store, t.id, "on_scene", "o-11", "到达现场", at=bj(2025, 9, 30, 10, 30),
                   actor_role="officer", photos=3)
    t = transition(store, t.id, "handled", "o-11", "责令整改，已安装油烟净化器")
    t = transition(store, t.id, "closed", "d-01", "回访满意")
    assert (t.state, t.version, t.team_id) == ("closed", 6, "CS01-zf")
    log = events(store, t.id)
    assert [(e.from_state, e.to_state) for e in log] == [
        (None, "received"), ("received", "assigned"), ("assigned", "accepted"),
        ("accepted", "on_scene"), ("on_scene", "handled"), ("handled", "closed")]
    assert [e.actor for e in log] == ["feed:hotline_12345", "d-01", "o-11", "o-11", "o-11",
                                      "d-01"]
    assert log[1].reason == "assigned to CS01-zf" and log[1].data == {"team_id": "CS01-zf"}
    assert log[3].occurred_at == bj(2025, 9, 30, 10, 30)
    assert log[3].actor_role == "officer" and log[3].data == {"photos": 3}
    assert all(e.recorded_at >= before for e in log[1:])  # the server clock
    assert [e.seq for e in log] == sorted(e.seq for e in log)


def test_transition_not_in_the_table_changes_nothing(store: Store) -> None:
    t = new(store)
    with pytest.raises(TransitionError, match="received → closed is not an allowed"):
        transition(store, t.id, "closed", "d-01", "想直接办结")
    assert get_ticket(store, t.id) == t
    assert len(events(store, t.id)) == 1


@pytest.mark.parametrize(("args", "message"), [
    (("finished", "d-01", "x"), "to_state: 'finished' is not a ticket state"),
    (("rejected", "", "x"), "actor: required"),
    (("rejected", "d-01", "  "), "reason: required"),
])
def test_bad_transition_input_names_the_field(store: Store, args: tuple[str, ...],
                                              message: str) -> None:
    t = new(store)
    with pytest.raises(TicketError, match=message):
        transition(store, t.id, *args)
    assert get_ticket(store, t.id) == t


def test_future_and_back_filled_times_are_refused(store: Store) -> None:
    t = new(store)
    with pytest.raises(TicketError, match=r"at: .* is in the future"):
        transition(store, t.id, "rejected", "d-01", "x", at=datetime.now(UTC) + timedelta(1))
    with pytest.raises(TicketError, match=r"at: .* precedes the previous event of ticket 1"):
        transition(store, t.id, "rejected", "d-01", "x", at=bj(2025, 9, 30, 9, 59))
    assert get_ticket(store, t.id) == t
    assert len(events(store, t.id)) == 1


def test_unknown_ticket_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="ticket_id: no ticket 42"):
        get_ticket(store, 42)
    with pytest.raises(NotFound, match="ticket_id: no ticket 42"):
        transition(store, 42, "rejected", "d-01", "x")


def test_duplicate_points_at_an_original(store: Store) -> None:
    a, b, c = new(store, 1), new(store, 2), new(store, 3)
    with pytest.raises(TicketError, match="duplicate_of: ticket 2 cannot duplicate itself"):
        transition(store, b.id, "duplicate", "d-01", "同一事项", duplicate_of=b.id)
    with pytest.raises(TicketError, match="duplicate_of: no ticket 99"):
        transition(store, b.id, "duplicate", "d-01", "同一事项", duplicate_of=99)
    b = transition(store, b.id, "duplicate", "d-01", "同一事项", duplicate_of=a.id)
    assert (b.state, b.duplicate_of) == ("duplicate", a.id)
    with pytest.raises(TicketError, match="duplicate_of: ticket 2 is itself a duplicate of 1"):
        transition(store, c.id, "duplicate", "d-01", "同一事项", duplicate_of=b.id)


def test_transfer_and_return_clear_the_team(store: Store) -> None:
    t = new(store)
    t = assign(store, t.id, "CS01-zf", "d-01", t.version)
    t = transition(store, t.id, "received", "o-11", "非本队职责，退回")
    assert (t.state, t.team_id) == ("received", None)
    t = assign(store, t.id, "CS02-zf", "d-01", t.version)
    t = transition(store, t.id, "transferred", "d-01", "涉及罚款5万元以上，移送", holder="sthj")
    assert (t.state, t.team_id) == ("transferred", None)
    assert events(store, t.id)[-1].data == {"holder": "sthj"}


# -- concurrency -------------------------------------------------------------------------------


def test_two_dispatchers_racing_to_assign_exactly_one_wins(store: Store) -> None:
    t = new(store)
    with open_store(store.url) as a, open_store(store.url) as b:
        results = race([lambda: assign(a, t.id, "CS01-zf", "d-01", t.version),
                        lambda: assign(b, t.id, "CS02-zf", "d-02", t.version)])
    winners = [r for r in results if isinstance(r, Ticket)]
    losers = [r for r in results if isinstance(r, ConflictError)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert "expected_version: ticket 1 is at version 2 (state assigned" in str(losers[0])
    stored = get_ticket(store, t.id)
    assert (stored.state, stored.team_id, stored.version) == ("assigned", winners[0].team_id, 2)
    assert [e.to_state for e in events(store, t.id)] == ["received", "assigned"]


def test_many_racers_on_one_store_object_still_assign_once(store: Store) -> None:
    t = new(store)
    results = race([lambda i=i: assign(store, t.id, f"team-{i}", f"d-{i}", t.version)
                    for i in range(4)])
    assert sum(isinstance(r, Ticket) for r in results) == 1
    assert sum(isinstance(r, ConflictError) for r in results) == 3


def test_assign_requires_the_version_read(store: Store) -> None:
    t = new(store)
    with pytest.raises(TicketError, match="expected_version: required to assign"):
        assign(store, t.id, "CS01-zf", "d-01", None)  # type: ignore[arg-type]
    stale = t.version
    transition(store, t.id, "escalated", "d-01", "管辖争议，提请平台裁定")
    with pytest.raises(ConflictError, match=r"is at version 2 .* not 1"):
        assign(store, t.id, "CS01-zf", "d-01", stale)


# -- legal review before a major decision ----------------------------------------------------------


def _to_scene(store: Store, t: Ticket) -> Ticket:
    t = assign(store, t.id, "sthj-team", "d-01", t.version)
    t = transition(store, t.id, "accepted", "o-21", "接单")
    return transition(store, t.id, "on_scene", "o-21", "到场")


def test_major_ticket_needs_an_approved_legal_review_before_the_decision(store: Store) -> None:
    t = _to_scene(store, new(store))
    t = flag_major(store, t.id, "o-21", "拟罚款8万元", actor_role="officer")
    assert t.major
    with pytest.raises(LegalReviewRequired, match="legal_review: ticket 1 is flagged major"):
        transition(store, t.id, "handled", "o-21", "作出处罚决定")
    assert get_ticket(store, t.id).state == "on_scene"
    with pytest.raises(TicketError, match="reviewer_role: 'officer' may not record"):
        record_legal_review(store, t.id, "o-21", "officer", "approved", "自审通过")
    t = record_legal_review(store, t.id, "lr-01", "legal_reviewer", "rejected", "证据不足")
    with pytest.raises(LegalReviewRequired, match="did not approve it"):
        transition(store, t.id, "handled", "o-21", "作出处罚决定")
    t = record_legal_review(store, t.id, "lr-01", "legal_reviewer", "approved", "事实清楚，合法")
    assert (t.legal_review.reviewer, t.legal_review.outcome) == ("lr-01", "approved")
    t = transition(store, t.id, "handled", "o-21", "作出处罚决定")
    assert t.state == "handled"
    assert [e.action for e in events(store, t.id)] == [
        "create", "transition", "transition", "transition", "flag_major", "legal_review",
        "legal_review", "transition"]


def test_major_penalty_decision_at_intake_flags_the_ticket(store: Store) -> None:
    auth = Authority(kind="department", holder="sthj", reasons=(
        {"code": "penalty.major", "zh": "重大行政处罚", "en": "major penalty"},))
    t = _to_scene(store, new(store, authority=auth))
    assert t.major
    with pytest.raises(LegalReviewRequired):
        transition(store, t.id, "handled", "o-21", "作出处罚决定")


def test_rejected_review_blocks_the_decision_of_any_ticket(store: Store) -> None:
    t = _to_scene(store, new(store))
    assert not t.major
    record_legal_review(store, t.id, "lr-01", "legal_reviewer", "rejected", "程序违法")
    with pytest.raises(LegalReviewRequired, match="ticket 1: its latest legal review"):
        transition(store, t.id, "handled", "o-21", "作出处罚决定")
    assert get_ticket(store, t.id).state == "on_scene"


def test_flagging_twice_or_reviewing_a_closed_ticket_is_refused(store: Store) -> None:
    t = new(store, major=True)
    with pytest.raises(TicketError, match="major: ticket 1 is already flagged major"):
        flag_major(store, t.id, "d-01", "x")
    transition(store, t.id, "rejected", "d-01", "不属于执法事项")
    with pytest.raises(TicketError, match="ticket_id: ticket 1 is rejected"):
        record_legal_review(store, t.id, "lr-01", "legal_reviewer", "approved", "x")


# -- nothing half-way ------------------------------------------------------------------------------


def test_failing_audit_write_rolls_back_the_state_change(store: Store,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    t = new(store)
    n = count_entries(store)

    def broken(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full while writing the audit entry")

    monkeypatch.setattr(ticket_store.DispatchDb, "append", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        assign(store, t.id, "CS01-zf", "d-01", t.version)
    with pytest.raises(RuntimeError, match="disk full"):
        create_ticket(store, draft(2))
    monkeypatch.undo()
    assert get_ticket(store, t.id) == t  # state, team and version as before
    assert [x.id for x in list_tickets(store)] == [t.id]
    assert count_entries(store) == n


# -- queries ---------------------------------------------------------------------------------------


def test_list_by_state_zone_and_overdue(store: Store) -> None:
    a = new(store, 1)                                              # due 10-10 17:30
    b = new(store, 2, zone="Z2", lat=north(5000))                  # due 10-10 17:30
    c = new(store, 3, received_at=bj(2025, 10, 9, 9, 0))           # due 10-11 17:30
    d = new(store, 4, received_at=bj(2025, 9, 30, 10, 0), lat=north(9000))
    assign(store, b.id, "CS02-zf", "d-01", b.version)
    d = assign(store, d.id, "CS01-zf", "d-01", d.version)
    d = transition(store, d.id, "accepted", "o-1", "接单")
    transition(store, d.id, "handled", "o-1", "电话协调处理")          # resolved: not overdue
    assert [t.id for t in list_tickets(store, state="received")] == [a.id, c.id]
    assert [t.id for t in list_tickets(store, zone="Z2")] == [b.id]
    assert [t.id for t in list_tickets(store, state="received", zone="Z1")] == [a.id, c.id]
    late = bj(2025, 10, 11, 9, 0)
    assert [t.id for t in list_tickets(store, overdue_at=late)] == [a.id, b.id]
    assert [t.id for t in overdue(store, bj(2025, 10, 12, 9, 0))] == [a.id, b.id, c.id]
    assert overdue(store, bj(2025, 10, 10, 17, 0)) == []
    assert all(t.is_overdue(late) for t in list_tickets(store, overdue_at=late))
    assert [t.id for t in list_tickets(store, after_id=a.id, limit=2)] == [b.id, c.id]


def test_list_refuses_unknown_state(store: Store) -> None:
    with pytest.raises(TicketError, match="state: 'open' is not a ticket state"):
        list_tickets(store, state="open")
    with pytest.raises(TicketError, match=r"overdue_at: .* not a timezone-aware"):
        list_tickets(store, overdue_at=datetime(2025, 10, 1))


# -- whistle summons (街道吹哨、部门报到) ------------------------------------------------


def summons_draft(**kw: Any) -> SummonsDraft:
    base: dict[str, Any] = dict(
        district="changshan", township="CS01", zone="Z1", departments=["scjg", "sthj", "zjj"],
        description="沿街餐饮油烟、占道经营联合整治", raised_by="CS01-platform",
        raised_at=bj(2025, 9, 30, 14, 0),
        report_within_by_department={"zjj": timedelta(hours=2)})
    base.update(kw)
    return SummonsDraft(**base)


def test_whistle_fans_out_with_a_deadline_per_department(store: Store) -> None:
    t = new(store)
    s = create_summons(store, summons_draft(ticket_id=t.id))
    assert (s.state, s.ticket_id, s.township) == ("open", t.id, "CS01")
    assert [(d.department, d.state, d.report_due_at) for d in s.departments] == [
        ("scjg", "summoned", bj(2025, 9, 30, 14, 30)),
        ("sthj", "summoned", bj(2025, 9, 30, 14, 30)),
        ("zjj", "summoned", bj(2025, 9, 30, 16, 0))]
    assert get_summons(store, s.id) == s


def test_summons_closes_only_when_every_department_reported_and_acted(store: Store) -> None:
    s = create_summons(store, summons_draft())
    s = report_in(store, s.id, "scjg", "scjg-01", at=bj(2025, 9, 30, 14, 20))
    s = report_in(store, s.id, "sthj", "sthj-01", at=bj(2025, 9, 30, 14, 25), note="两人到场")
    s = record_action(store, s.id, "scjg", "scjg-01", "查处占道经营2起",
                      at=bj(2025, 9, 30, 15, 0))
    with pytest.raises(TicketError, match=r"departments: summons 1 cannot close: not yet "
                                          r"reported in and acted: sthj \(reported_in\), "
                                          r"zjj \(summoned\)"):
        close_summons(store, s.id, "CS01-platform", "联合整治完毕")
    with pytest.raises(TransitionError, match="zjj is summoned on summons 1; summoned → acted"):
        record_action(store, s.id, "zjj", "zjj-01", "x")
    s = report_in(store, s.id, "zjj", "zjj-01", at=bj(2025, 9, 30, 15, 10))
    s = record_action(store, s.id, "sthj", "sthj-01", "油烟检测", at=bj(2025, 9, 30, 15, 20))
    s = record_action(store, s.id, "zjj", "zjj-01", "督促整改", at=bj(2025, 9, 30, 15, 30))
    s = close_summons(store, s.id, "CS01-platform", "联合整治完毕", at=bj(2025, 9, 30, 16, 0))
    assert (s.state, s.closed_at) == ("closed", bj(2025, 9, 30, 16, 0))
    assert s.department("sthj").note == "两人到场"
    assert not any(d.reported_late for d in s.departments)
    log = summons_events(store, s.id)
    assert [e.action for e in log] == [
        "summons.raise", "summons.reported_in", "summons.reported_in", "summons.acted",
        "summons.reported_in", "summons.acted", "summons.acted", "summons.close"]
    assert log[3].data["department"] == "scjg" and log[3].reason == "查处占道经营2起"
    with pytest.raises(TicketError, match="summons_id: summons 1 is closed"):
        report_in(store, s.id, "scjg", "scjg-01")


def test_department_missing_its_deadline_is_flagged_and_may_report_late(store: Store) -> None:
    s = create_summons(store, summons_draft())
    report_in(store, s.id, "scjg", "scjg-01", at=bj(2025, 9, 30, 14, 10))
    assert list_summons(store, overdue_at=bj(2025, 9, 30, 14, 29)) == []
    assert [x.id for x in list_summons(store, overdue_at=bj(2025, 9, 30, 14, 31))] == [s.id]
    flagged = flag_overdue(store, bj(2025, 9, 30, 14, 45))
    assert flagged == [(s.id, "sthj")]  # zjj has until 16:00
    assert flag_overdue(store, bj(2025, 9, 30, 14, 50)) == []  # not flagged twice
    s = get_summons(store, s.id)
    assert s.department("sthj").state == "overdue" and s.department("sthj").is_overdue(
        bj(2025, 9, 30, 14, 45))
    s = report_in(store, s.id, "sthj", "sthj-01", at=bj(2025, 9, 30, 15, 5))
    assert s.department("sthj").reported_late
    last = summons_events(store, s.id)[-1]
    assert (last.from_state, last.to_state, last.data["late"]) == ("overdue", "reported_in", True)


def test_summons_refuses_unknown_department_and_ticket(store: Store) -> None:
    s = create_summons(store, summons_draft())
    with pytest.raises(TicketError, match="department: 'gaj' was not summoned by summons 1"):
        report_in(store, s.id, "gaj", "x")
    with pytest.raises(TicketError, match="ticket_id: no ticket 5"):
        create_summons(store, summons_draft(ticket_id=5))
    with pytest.raises(TicketError, match=r"at: .* precedes the previous event of summons 1"):
        report_in(store, s.id, "scjg", "scjg-01", at=bj(2025, 9, 30, 13, 0))
    with pytest.raises(NotFound, match="summons_id: no summons 9"):
        get_summons(store, 9)
    assert [x.id for x in list_summons(store)] == [s.id]


# -- the audit table is append-only in the database itself -------------------------------


@pytest.mark.parametrize("statement", ["UPDATE dispatch_audit SET reason = 'rewritten'",
                                       "DELETE FROM dispatch_audit"])
def test_database_refuses_to_update_or_delete_audit_rows(store: Store, statement: str) -> None:
    new(store)
    with pytest.raises(store.driver_errors, match="dispatch_audit is append-only"), \
            store.transaction() as cur:
        cur.execute(statement)
    assert count_entries(store) == 1
