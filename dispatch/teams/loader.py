"""Read a team file (JSON) and validate it against its district and departments.

Every problem is collected before one :class:`~dispatch.teams.models.TeamError` is raised, each
naming the record (team or member id) and the field: a team based in the wrong township, or an
officer whose certificate ends before it starts, would silently change who gets sent, so
nothing is loaded until the whole file is consistent.

File layout (``format: whistle-teams/1``)::

    {"district": "changshan", "version": "...",
     "teams": [{"id", "name", "name_en", "kind": "township" | "hub" | "department" | "city",
                "township" (township and hub teams), "department" (department and city teams),
                "base": {"lon", "lat", "address"}, "duty": "on_duty" | "off_duty" | "busy",
                "members": [{"id", "name", "role": "officer" | "auxiliary" | "legal_reviewer",
                             "certificate": {"number", "valid_from", "valid_to"}}]}]}

A hub team covers every township of the "1+X" cluster its township is the hub of; the
cluster membership comes from the district (``district.clusters``), never from the team file,
so the two cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from dispatch.teams.models import (
    DUTY_STATUSES,
    ROLES,
    TEAM_KINDS,
    Certificate,
    Member,
    Team,
    TeamError,
    TeamProblem,
)
from geo.boundaries import District
from geo.locate import Locator
from geo.records import ProblemList, read_json_object

FORMAT = "whistle-teams/1"
TEAMS_DIR = Path(__file__).resolve().parents[2] / "data" / "teams"


@dataclass(frozen=True)
class TeamRoster:
    """The teams of one district as loaded from one file."""

    district: str
    version: str
    teams: tuple[Team, ...]
    note: str = ""

    def team(self, team_id: str) -> Team:
        for t in self.teams:
            if t.id == team_id:
                return t
        raise KeyError(f"no team {team_id!r} in roster {self.version}")


class _Problems(ProblemList):
    def __init__(self) -> None:
        super().__init__(TeamProblem)


def bundled_teams_path(district: str = "changshan") -> Path:
    """The sample team file shipped for a district."""
    return TEAMS_DIR / f"{district}_sample.json"


def read_document(path: Path | str) -> dict[str, Any]:
    """The raw JSON object of a team file."""
    return read_json_object(path, "team file", TeamError)


def load_teams(path: Path | str, district: District, departments: Mapping[str, str],
               locator: Locator | None = None) -> TeamRoster:
    """Read and validate a team file; see :func:`parse_teams`."""
    return parse_teams(read_document(path), district, departments, locator)


def _text(raw: dict[str, Any], key: str, rid: str, out: _Problems, required: bool = True
          ) -> str:
    value = raw.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            out.add(rid, key, "missing")
        return ""
    if not isinstance(value, str):
        out.add(rid, key, f"{value!r} is not text")
        return ""
    return value.strip()


def _day(raw: dict[str, Any], key: str, rid: str, out: _Problems) -> date | None:
    value = raw.get(key)
    if value is None:
        out.add(rid, key, "missing")
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        out.add(rid, key, f"{value!r} is not a date (YYYY-MM-DD)")
        return None


def _certificate(raw: Any, rid: str, numbers: dict[str, str], out: _Problems
                 ) -> Certificate | None:
    if not isinstance(raw, dict):
        out.add(rid, "certificate", "expected an object with number, valid_from, valid_to")
        return None
    number = _text(raw, "number", rid, out)
    if number:
        field = "certificate.number"
        if number in numbers:
            out.add(rid, field, f"{number!r} is also held by {numbers[number]}")
        numbers.setdefault(number, rid)
    start = _day(raw, "valid_from", rid, out)
    end = _day(raw, "valid_to", rid, out)
    if start and end and end < start:
        out.add(rid, "certificate.valid_to", f"{end} is before valid_from {start}")
        return None
    if not (number and start and end):
        return None
    return Certificate(number, start, end)


def _members(raw: Any, tid: str, seen: dict[str, str], numbers: dict[str, str],
             out: _Problems) -> tuple[Member, ...]:
    if not isinstance(raw, list) or not raw:
        out.add(tid, "members", "expected a non-empty list of members")
        return ()
    members = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict):
            out.add(tid, f"members[{i}]", "expected an object")
            continue
        mid = _text(m, "id", f"{tid}.members[{i}]", out)
        rid = mid or f"{tid}.members[{i}]"
        if mid:
            if mid in seen:
                out.add(rid, "id", f"duplicate member id (also in team {seen[mid]})")
            seen.setdefault(mid, tid)
        name = _text(m, "name", rid, out)
        role = m.get("role")
        if role not in ROLES:
            out.add(rid, "role", f"{role!r} is not one of {', '.join(ROLES)}")
            continue
        cert = None
        if m.get("certificate") is not None:
            if role == "auxiliary":
                out.add(rid, "certificate", "auxiliaries hold no enforcement certificate "
                        "(they assist certified officers)")
            cert = _certificate(m["certificate"], rid, numbers, out)
        elif role == "officer":
            out.add(rid, "certificate", "an officer needs an enforcement certificate "
                    "(执法证); list uncertified staff as auxiliaries")
        members.append(Member(mid, name, role, cert))
    return tuple(members)


def _base(raw: Any, tid: str, out: _Problems) -> tuple[float, float, str] | None:
    if not isinstance(raw, dict):
        out.add(tid, "base", "expected an object with lon and lat (WGS84)")
        return None
    coords = []
    for key, limit in (("lon", 180.0), ("lat", 90.0)):
        value = raw.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or abs(value) > limit:
            out.add(tid, f"base.{key}", f"{value!r} is not a WGS84 {key} (within ±{limit:g})")
            return None
        coords.append(float(value))
    address = raw.get("address") or ""
    return coords[0], coords[1], str(address)


def parse_teams(doc: dict[str, Any], district: District, departments: Mapping[str, str],
                locator: Locator | None = None) -> TeamRoster:
    """Validate a team document against ``district`` and the known department codes.

    Parameters
    ----------
    doc
        The parsed JSON object (layout in the module docstring).
    district
        The district the teams work in; bases must lie inside it, and township and hub teams
        inside their own township.
    departments
        Department code → name, as the power catalogue lists them (a brigade serving an
        unknown department would never be found competent).
    locator
        A locator for ``district``, if one is already built.
    """
    out = _Problems()
    if doc.get("format", FORMAT) != FORMAT:
        out.add("teams", "format", f"{doc.get('format')!r} is not {FORMAT!r}")
    if doc.get("district") != district.code:
        out.add("teams", "district",
                f"{doc.get('district')!r} does not match the district {district.code!r}")
    raw_teams = doc.get("teams")
    if not isinstance(raw_teams, list) or not raw_teams:
        raise TeamError([*out, TeamProblem("teams", "teams", "expected a non-empty list")])
    hub_members = {c.hub: c.members for c in district.clusters if c.hub}
    ids: set[str] = set()
    members_seen: dict[str, str] = {}
    numbers: dict[str, str] = {}
    pending: list[tuple[dict[str, Any], tuple[float, float, str]]] = []
    for i, raw in enumerate(raw_teams):
        if not isinstance(raw, dict):
            out.add(f"teams[{i}]", "", "expected an object")
            continue
        tid = _text(raw, "id", f"teams[{i}]", out) or f"teams[{i}]"
        if tid in ids:
            out.add(tid, "id", "duplicate team id")
        ids.add(tid)
        fields: dict[str, Any] = {"id": tid, "name": _text(raw, "name", tid, out),
                                  "name_en": _text(raw, "name_en", tid, out, required=False),
                                  "note": _text(raw, "note", tid, out, required=False)}
        kind = raw.get("kind")
        if kind not in TEAM_KINDS:
            out.add(tid, "kind", f"{kind!r} is not one of {', '.join(TEAM_KINDS)}")
        fields["kind"] = kind
        if kind in ("township", "hub"):
            key = _text(raw, "township", tid, out)
            try:
                code = district.township(key).code if key else None
            except KeyError:
                out.add(tid, "township", f"{key!r} is not a township of {district.code}")
                code = None
            if code and kind == "hub":
                if code not in hub_members:
                    out.add(tid, "township", f"{code} is not the hub of any \"1+X\" cluster of "
                            f"{district.code} (hubs: {', '.join(sorted(hub_members))})")
                else:
                    others = [m for m in hub_members[code] if m != code]
                    fields["serves"] = (code, *others)
            elif code:
                fields["serves"] = (code,)
            fields["township"] = code
            if raw.get("department") is not None:
                out.add(tid, "department", f"a {kind} team serves its township, not a "
                        "department")
        elif kind in ("department", "city"):
            dept = _text(raw, "department", tid, out)
            if dept and dept not in departments:
                out.add(tid, "department", f"{dept!r} is not a department of the catalogue "
                        f"(known: {', '.join(sorted(departments))})")
            fields["department"] = dept or None
            if raw.get("township") is not None:
                out.add(tid, "township", f"a {kind} team serves a department across the "
                        "district, not a township")
        duty = raw.get("duty", "on_duty")
        if duty not in DUTY_STATUSES:
            out.add(tid, "duty", f"{duty!r} is not one of {', '.join(DUTY_STATUSES)}")
        fields["duty"] = duty
        fields["members"] = _members(raw.get("members"), tid, members_seen, numbers, out)
        base = _base(raw.get("base"), tid, out)
        if base is not None:
            pending.append((fields, base))

    loc = locator or Locator(district)
    teams = []
    if pending:
        lon = np.array([b[0] for _, b in pending])
        lat = np.array([b[1] for _, b in pending])
        where = loc.township_index(lon, lat)
        for (fields, (x, y, address)), k in zip(pending, where.tolist(), strict=True):
            tid = fields["id"]
            if k < 0:
                out.add(tid, "base", f"({x}, {y}) is outside {district.name} ({district.code})")
                continue
            base_town = district.townships[k].code
            own = fields.get("township")
            if fields["kind"] in ("township", "hub") and own and base_town != own:
                out.add(tid, "base", f"({x}, {y}) lies in {district.townships[k].name}, not in "
                        f"the team's own township {district.township(own).name}")
            teams.append(Team(base_lon=x, base_lat=y, base_township=base_town,
                              base_address=address, **fields))
    if out:
        raise TeamError(list(out))
    return TeamRoster(district=district.code, version=str(doc.get("version") or ""),
                      teams=tuple(teams), note=str(doc.get("_note") or ""))


def catalogue_departments(path: Path | str | None = None) -> dict[str, str]:
    """Department code → name from a power catalogue file (default: the bundled sample)."""
    from dispatch.catalog.loader import bundled_catalog_path
    from dispatch.catalog.loader import read_document as read_catalog

    doc = read_catalog(path or bundled_catalog_path())
    return {str(d["code"]): str(d.get("name") or d["code"])
            for d in doc.get("departments") or [] if isinstance(d, dict) and d.get("code")}


def bundled_teams(district: District, departments: Mapping[str, str] | None = None,
                  locator: Locator | None = None) -> TeamRoster:
    """Load the sample teams shipped for ``district`` (SAMPLE data, see data/teams/README.md).

    ``departments`` defaults to those of the bundled power catalogue.
    """
    path = bundled_teams_path(district.code)
    if not path.is_file():
        raise TeamError(f"no bundled team file for district {district.code!r}")
    if departments is None:
        departments = catalogue_departments()
    return load_teams(path, district, departments, locator)
