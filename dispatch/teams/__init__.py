"""Enforcement teams, their certified officers, duty status and live positions."""

from dispatch.teams.loader import (
    TeamRoster,
    bundled_teams,
    bundled_teams_path,
    catalogue_departments,
    load_teams,
    parse_teams,
)
from dispatch.teams.models import (
    Certificate,
    Member,
    Position,
    Team,
    TeamError,
    TeamProblem,
    holder_key,
)
from dispatch.teams.registry import TeamRegistry, TeamState, UnknownTeamError

__all__ = [
    "Certificate",
    "Member",
    "Position",
    "Team",
    "TeamError",
    "TeamProblem",
    "TeamRegistry",
    "TeamRoster",
    "TeamState",
    "UnknownTeamError",
    "bundled_teams",
    "bundled_teams_path",
    "catalogue_departments",
    "holder_key",
    "load_teams",
    "parse_teams",
]
