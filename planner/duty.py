"""Day duty and night duty: which shift a visit belongs to.

Some patrol items must be done at a set time, mostly at night (渣土运输夜查 21:00–24:00,
工地夜间施工噪声 22:00–24:00, 娱乐场所夜间专项 21:00–01:00). An item's visit window *replaces*
the object's opening hours: a night check of a construction site is made precisely when the
site should be closed. Such a visit cannot be made by a day crew, so the calendar books it on
a team's night duty (its own capacity) and the day's routes are planned per duty: the day
crews route the day visits, a night crew (夜查) routes the night ones.

A visit is a *night* visit when the hours it may take place in do not leave room for it
inside the day shift but do inside the night shift; every other visit is a *day* visit (one
that fits neither is left to the day plan, which says why it cannot be made).
"""

from __future__ import annotations

from typing import Literal

Duty = Literal["day", "night"]
DUTIES: tuple[Duty, ...] = ("day", "night")

#: The office day crews work (08:30–17:30), minutes after midnight.
DAY_SHIFT: tuple[int, int] = (510, 1050)
#: A night crew's shift (19:00–01:00 the next morning); ends past 1440 are the next day.
NIGHT_SHIFT: tuple[int, int] = (1140, 1500)


def visit_hours(open_min: int, close_min: int, item_window: tuple[int, int] | None
                ) -> tuple[int, int]:
    """When a visit may take place: the items' window if they set one, else opening hours."""
    return item_window if item_window is not None else (open_min, close_min)


def fits(hours: tuple[int, int], minutes: int, shift: tuple[int, int]) -> bool:
    """True when ``minutes`` on site can start and end inside both ``hours`` and ``shift``."""
    return min(hours[1], shift[1]) - max(hours[0], shift[0]) >= minutes


def duty_of(open_min: int, close_min: int, item_window: tuple[int, int] | None, minutes: int,
            day_shift: tuple[int, int] = DAY_SHIFT,
            night_shift: tuple[int, int] = NIGHT_SHIFT) -> Duty:
    """The duty that can make a visit (see the module docstring)."""
    hours = visit_hours(open_min, close_min, item_window)
    if not fits(hours, minutes, day_shift) and fits(hours, minutes, night_shift):
        return "night"
    return "day"
