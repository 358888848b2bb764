"""The live state of a district's teams: duty status and the last position from the field.

Positions and duty changes are kept in memory; a caller that must keep them across restarts
passes a persistence hook, which is called *before* the in-memory state changes, so a failed
write leaves the registry as it was.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from dispatch.catalog.service import local_instant
from dispatch.teams.loader import TeamRoster
from dispatch.teams.models import (
    DUTY_STATUSES,
    DutyStatus,
    Position,
    Team,
    TeamError,
    TeamProblem,
)
from geo.boundaries import District
from geo.crs import to_metric
from geo.locate import Locator

DEFAULT_MAX_OUTSIDE_M = 2_000.0  # a team on a border road may stand just outside the county
DEFAULT_CLOCK_SKEW = timedelta(minutes=1)  # field devices' clocks drift a little

PositionHook = Callable[[str, Position], None]
DutyHook = Callable[[str, DutyStatus, datetime], None]


class UnknownTeamError(TeamError):
    """The team id names no team of the registry (HTTP 404)."""


@dataclass(frozen=True)
class TeamState:
    """A team with its current duty status and last reported position (None: never reported)."""

    team: Team
    duty: DutyStatus
    position: Position | None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TeamRegistry:
    """Teams of one district with their live duty status and positions.

    Parameters
    ----------
    teams
        A loaded roster or the teams themselves.
    district
        The district the teams work in (positions are checked against it).
    locator
        A locator for ``district``, if one is already built.
    on_position, on_duty
        Persistence hooks, called before the in-memory state changes.
    clock
        Returns the current time (aware or naive local); positions may not be later.
    max_outside_m
        How far outside the district (metres) a reported position may lie.
    clock_skew
        Tolerance for a device clock running ahead of the server's.
    """

    def __init__(
        self,
        teams: TeamRoster | Iterable[Team],
        district: District,
        locator: Locator | None = None,
        on_position: PositionHook | None = None,
        on_duty: DutyHook | None = None,
        clock: Callable[[], datetime] = _utc_now,
        max_outside_m: float = DEFAULT_MAX_OUTSIDE_M,
        clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    ) -> None:
        team_list = tuple(teams.teams if isinstance(teams, TeamRoster) else teams)
        self._teams = {t.id: t for t in team_list}
        if len(self._teams) != len(team_list):
            raise TeamError("teams: duplicate team ids")
        self.district = district
        self.locator = locator or Locator(district)
        self.on_position = on_position
        self.on_duty = on_duty
        self.clock = clock
        self.max_outside_m = float(max_outside_m)
        self.clock_skew = clock_skew
        self._duty: dict[str, DutyStatus] = {t.id: t.duty for t in team_list}
        self._positions: dict[str, Position] = {}
        self._lock = threading.Lock()

    def restore(self, positions: Mapping[str, Position]) -> None:
        """Load positions recorded earlier (e.g. from the store at start-up); unknown teams are
        ignored, and no hook runs since nothing new was reported."""
        with self._lock:
            for team_id, pos in positions.items():
                if team_id in self._teams:
                    self._positions[team_id] = pos

    # -- reading ----------------------------------------------------------------------------

    @property
    def teams(self) -> tuple[Team, ...]:
        return tuple(self._teams.values())

    def team(self, team_id: str) -> Team:
        try:
            return self._teams[team_id]
        except KeyError:
            raise UnknownTeamError([TeamProblem(str(team_id), "team_id", "no such team in "
                                                f"district {self.district.code}")]) from None

    def position(self, team_id: str) -> Position | None:
        self.team(team_id)
        return self._positions.get(team_id)

    def duty(self, team_id: str) -> DutyStatus:
        self.team(team_id)
        return self._duty[team_id]

    def state(self, team_id: str) -> TeamState:
        t = self.team(team_id)
        return TeamState(t, self._duty[team_id], self._positions.get(team_id))

    def states(self) -> tuple[TeamState, ...]:
        """Every team with its duty status and position, in roster order."""
        return tuple(TeamState(t, self._duty[t.id], self._positions.get(t.id))
                     for t in self._teams.values())

    def certified_on(self, team_id: str, day: date) -> int:
        """Number of the team's officers whose certificate is valid on ``day``."""
        return len(self.team(team_id).certified_on(day))

    # -- updates ----------------------------------------------------------------------------

    def set_duty(self, team_id: str, status: str, at: datetime | None = None) -> None:
        """Change a team's duty status (``on_duty``, ``off_duty`` or ``busy``)."""
        self.team(team_id)
        if status not in DUTY_STATUSES:
            raise TeamError([TeamProblem(team_id, "duty", f"{status!r} is not one of "
                                         f"{', '.join(DUTY_STATUSES)}")])
        when = local_instant(at) if at is not None else local_instant(self.clock())
        with self._lock:
            if self.on_duty is not None:
                self.on_duty(team_id, status, when)  # type: ignore[arg-type]
            self._duty[team_id] = status  # type: ignore[assignment]

    def update_position(self, team_id: str, lon: float, lat: float, at: datetime) -> Position:
        """Record a position reported from the field and return it as stored.

        Raises
        ------
        UnknownTeamError
            ``team_id`` names no team.
        TeamError
            Naming the field: ``lon``/``lat`` not a WGS84 coordinate or farther than
            ``max_outside_m`` outside the district; ``at`` not a date-time, in the future, or
            older than the team's last position.
        """
        self.team(team_id)
        problems: list[TeamProblem] = []
        for name, value, limit in (("lon", lon, 180.0), ("lat", lat, 90.0)):
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value) or abs(value) > limit:
                problems.append(TeamProblem(team_id, name, f"{value!r} is not a WGS84 {name} "
                                            f"(a finite number within ±{limit:g})"))
        if not isinstance(at, datetime):
            problems.append(TeamProblem(team_id, "at", f"{at!r} is not a date-time"))
        if problems:
            raise TeamError(problems)
        when = local_instant(at)
        now = local_instant(self.clock())
        if when > now + self.clock_skew:
            raise TeamError([TeamProblem(team_id, "at", f"{when.isoformat()} is in the future "
                                         f"(now {now.isoformat(timespec='seconds')})")])
        outside = self._metres_outside(float(lon), float(lat))
        if outside > self.max_outside_m:
            raise TeamError([TeamProblem(
                team_id, "lon/lat", f"({lon}, {lat}) is {outside / 1000:.1f} km outside "
                f"{self.district.name}; at most {self.max_outside_m / 1000:g} km is accepted")])
        pos = Position(float(lon), float(lat), when)
        with self._lock:
            last = self._positions.get(team_id)
            if last is not None and when < last.at:
                raise TeamError([TeamProblem(
                    team_id, "at", f"{when.isoformat()} is older than the last position "
                    f"({last.at.isoformat()})")])
            if self.on_position is not None:
                self.on_position(team_id, pos)
            self._positions[team_id] = pos
        return pos

    @cached_property
    def _metric_area(self) -> BaseGeometry:
        area = shapely.union_all(list(self.district.metric_townships))
        shapely.prepare(area)
        return area

    def _metres_outside(self, lon: float, lat: float) -> float:
        """0 inside a township, else the distance to the district in metres."""
        if self.locator.township_index(np.array([lon]), np.array([lat]))[0] >= 0:
            return 0.0
        x, y = to_metric(np.array([lon]), np.array([lat]), self.district.metric_epsg)
        return float(shapely.distance(self._metric_area, shapely.points(x[0], y[0])))
