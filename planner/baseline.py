"""The baseline calendar: every department schedules its own inspections alone.

This is how inspections ran before 综合查一次 (厦湖府办〔2024〕11号 §三(六)3 asks to reduce
"各部门独立执法次数"): each department visits an object for its own items, bundling only the
items of its own that fall due in the same window, on the day its team is least loaded, with
no regard for what other departments do there. It obeys the same hard rules as the joint plan
— working days, due windows, certified officers, team capacity, item spacing — but not the
anti-repeat rule, which exists only because departments coordinate. It runs on the same
:class:`~planner.joint.CalendarInstance`, so visits per object and anti-repeat violations
compare like with like.
"""

from __future__ import annotations

import time

import numpy as np

from planner.calendar_result import CalendarPlan, SolverStats
from planner.joint import CalendarInstance, assemble_plan, diagnose, place_greedy


def baseline_calendar(inst: CalendarInstance) -> CalendarPlan:
    """Each department alone: one trip per department, object and due window."""
    t0 = time.perf_counter()
    parts = inst.parts("department")
    spacing = inst.spacing(parts)
    placed = place_greedy(inst, parts, spacing, coordinate=False,
                          rng=np.random.default_rng(inst.options.seed))
    reasons = {p.id: diagnose(inst, parts, spacing, placed.day, placed.booked, p.id,
                              coordinate=False)
               for p in parts if placed.day[p.id] < 0}
    solver = SolverStats("baseline: each department schedules alone (greedy, least-loaded "
                         "day)", "HEURISTIC", None, None, None, time.perf_counter() - t0)
    return assemble_plan(inst, parts, placed.day, reasons, solver, merge=False)
