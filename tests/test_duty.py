"""Which duty makes a visit: the item's window replaces the opening hours."""

from __future__ import annotations

from planner.duty import DAY_SHIFT, NIGHT_SHIFT, duty_of, visit_hours


def test_item_window_replaces_opening_hours():
    assert visit_hours(420, 1080, (1320, 1440)) == (1320, 1440)
    assert visit_hours(420, 1080, None) == (420, 1080)


def test_night_checks_of_day_sites_are_night_visits():
    # 工地夜间施工噪声 22:00-24:00 at a site open 07:00-18:00.
    assert duty_of(420, 1080, (1320, 1440), 30) == "night"
    # 娱乐场所夜间专项 21:00-01:00 (past midnight) at a venue open 13:00-24:00.
    assert duty_of(780, 1440, (1260, 1500), 40) == "night"
    # A venue open only at night, no item window.
    assert duty_of(1080, 1560, None, 45) == "night"


def test_day_is_kept_whenever_the_day_shift_has_room():
    assert duty_of(600, 1260, None, 60) == "day"                 # 10:00-21:00 restaurant
    assert duty_of(780, 1440, None, 60) == "day"                 # 13:00-24:00 venue
    assert duty_of(420, 1020, (660, 780), 60) == "day"           # blasting check 11:00-13:00
    # 17:00-17:30 leaves 30 min inside the day shift: day for 30 min, night for 31.
    assert duty_of(1020, 1260, None, 30) == "day"
    assert duty_of(1020, 1260, None, 31) == "night"


def test_hours_that_fit_no_shift_stay_with_the_day_plan_to_be_explained():
    assert duty_of(300, 420, None, 30) == "day"                  # 05:00-07:00
    assert duty_of(1140, 1150, None, 30) == "day"                # 10 minutes for 30
    assert DAY_SHIFT[1] <= NIGHT_SHIFT[0]
