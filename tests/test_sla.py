"""SLA deadlines in Chinese working days: holidays, make-up workdays and office hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from dispatch.tickets.sla import (
    DEFAULT_POLICY,
    REPORT_IN_30_MIN,
    OfficeHours,
    SlaError,
    SlaPolicy,
    SlaRule,
    add_working_days,
    is_working_day,
)

BJ = timezone(timedelta(hours=8))


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=BJ)


def test_calendar_knows_national_day_2025_and_its_make_up_days() -> None:
    assert is_working_day(date(2025, 9, 28))  # Sunday, make-up workday
    assert not is_working_day(date(2025, 10, 1))
    assert not is_working_day(date(2025, 10, 8))
    assert is_working_day(date(2025, 10, 11))  # Saturday, make-up workday
    assert not is_working_day(date(2025, 9, 27))  # ordinary Saturday


def test_ticket_received_the_day_before_national_day_is_due_after_the_holiday() -> None:
    # Day 1 is 09-30 itself (received in office hours); 10-01..10-08 are holidays.
    due = add_working_days(bj(2025, 9, 30, 10, 0), 3)
    assert due == bj(2025, 10, 10, 17, 30)
    assert due.tzinfo == UTC


def test_received_after_office_hours_starts_counting_next_working_day() -> None:
    # Day 1 is 10-09; day 3 is Saturday 10-11, a make-up workday.
    assert add_working_days(bj(2025, 9, 30, 18, 0), 3) == bj(2025, 10, 11, 17, 30)
    # Closing time itself is after hours.
    assert add_working_days(bj(2025, 9, 30, 17, 30), 1) == bj(2025, 10, 9, 17, 30)
    assert add_working_days(bj(2025, 9, 30, 17, 29), 1) == bj(2025, 9, 30, 17, 30)


def test_received_before_the_office_opens_counts_that_day() -> None:
    assert add_working_days(bj(2025, 9, 30, 7, 0), 1) == bj(2025, 9, 30, 17, 30)


def test_make_up_sunday_counts_as_a_working_day() -> None:
    # Received on Saturday 09-27: day 1 is Sunday 09-28 (调休上班), then 09-29 and 09-30.
    assert add_working_days(bj(2025, 9, 27, 11, 0), 3) == bj(2025, 9, 30, 17, 30)
    # An ordinary weekend does not count: received Sunday 09-21, due Wednesday 09-24.
    assert add_working_days(bj(2025, 9, 21, 11, 0), 3) == bj(2025, 9, 24, 17, 30)


def test_office_hours_are_beijing_time_whatever_zone_the_input_is_in() -> None:
    # 09:45 UTC is 17:45 in Beijing: after hours, so day 1 is 10-09.
    received = datetime(2025, 9, 30, 9, 45, tzinfo=UTC)
    assert add_working_days(received, 3) == bj(2025, 10, 11, 17, 30)


def test_custom_office_hours() -> None:
    office = OfficeHours(opens=time(9, 0), closes=time(18, 0))
    assert add_working_days(bj(2025, 9, 30, 17, 45), 1, office) == bj(2025, 9, 30, 18, 0)
    with pytest.raises(SlaError, match="opens"):
        OfficeHours(opens=time(18, 0), closes=time(9, 0))


def test_year_outside_the_holiday_calendar_counts_weekdays_and_says_provisional() -> None:
    # Monday 2099-01-05 10:00 is day 1, so 3 working days end on Wednesday at 17:30.
    assert add_working_days(bj(2099, 1, 5, 10, 0), 3) == bj(2099, 1, 7, 17, 30)
    assert add_working_days(bj(2099, 1, 9, 10, 0), 2) == bj(2099, 1, 12, 17, 30)  # Fri -> Mon
    due, label = DEFAULT_POLICY.due_at("hotline_12345", None, bj(2099, 1, 5, 10, 0))
    assert due == bj(2099, 1, 7, 17, 30)
    assert "provisional: no holiday schedule for 2099" in label
    due, label = DEFAULT_POLICY.due_at("hotline_12345", None, bj(2025, 9, 30, 10, 0))
    assert "provisional" not in label


def test_office_holiday_file_fills_a_missing_year(tmp_path, monkeypatch) -> None:
    from dispatch.tickets import sla
    path = tmp_path / "holidays.json"
    path.write_text('{"years": {"2099": {"holidays": ["2099-01-06"], '
                    '"workdays": ["2099-01-10"]}}}')
    read = sla._overrides.__wrapped__
    monkeypatch.setattr(sla, "_overrides", lambda: read(path))
    assert sla.calendar_source(date(2099, 1, 6)) == "override"
    assert not sla.is_working_day(date(2099, 1, 6)) and sla.is_working_day(date(2099, 1, 10))
    # Day 1 Monday 5th, the 6th is a holiday: 7th, 8th are days 2 and 3.
    assert add_working_days(bj(2099, 1, 5, 10, 0), 3) == bj(2099, 1, 8, 17, 30)


def test_naive_times_and_bad_day_counts_are_refused() -> None:
    with pytest.raises(SlaError, match="no time zone"):
        add_working_days(datetime(2025, 9, 30, 10, 0), 3)
    with pytest.raises(SlaError, match="at least 1"):
        add_working_days(bj(2025, 9, 30, 10, 0), 0)


def test_hotline_tickets_get_three_working_days() -> None:
    due, rule = DEFAULT_POLICY.due_at("hotline_12345", "HJ003", bj(2025, 9, 30, 10, 0))
    assert due == bj(2025, 10, 10, 17, 30)
    assert rule == "hotline_12345: 3 working days"
    assert "7 to 3 working days" in DEFAULT_POLICY.rules["hotline_12345"].basis


def test_policy_prefers_source_and_matter_then_source_then_default() -> None:
    policy = SlaPolicy(rules={"grid": SlaRule(working_days=5),
                              "grid/HJ003": SlaRule(working_days=1)},
                       default=SlaRule(working_days=2))
    at = bj(2025, 9, 29, 10, 0)  # Monday
    assert policy.due_at("grid", "HJ003", at) == (bj(2025, 9, 29, 17, 30),
                                                  "grid/HJ003: 1 working day")
    assert policy.due_at("grid", "OTHER", at)[0] == bj(2025, 10, 11, 17, 30)
    assert policy.due_at("patrol", None, at)[1] == "default: 2 working days"
    assert SlaPolicy(rules={}).due_at("patrol", None, at) is None


def test_report_in_is_thirty_minutes_of_wall_clock_even_at_night_and_on_holidays() -> None:
    assert REPORT_IN_30_MIN.due(bj(2025, 10, 1, 23, 50)) == bj(2025, 10, 2, 0, 20)
    assert DEFAULT_POLICY.report_in is REPORT_IN_30_MIN


def test_rule_needs_exactly_one_kind_of_duration() -> None:
    with pytest.raises(SlaError, match="exactly one"):
        SlaRule()
    with pytest.raises(SlaError, match="exactly one"):
        SlaRule(working_days=1, wall_clock=timedelta(minutes=5))
    with pytest.raises(SlaError, match="must be positive"):
        SlaRule(wall_clock=timedelta(0))
