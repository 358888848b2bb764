"""Incoming incidents: the one validated shape every intake path (API, CLI, replay) shares.

An incident is what a source reports: a 12345 hotline ticket, a grid worker's report, a patrol
finding, a digital city-management case, or a township's whistle. Validation happens here,
once, so that bad input is refused with the field named before anything is decided or stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dispatch.catalog.competence import MAJOR_MEASURES, CaseFacts

CLOCK_SKEW = timedelta(minutes=5)  # a source's clock may run a little ahead of ours


class Source(StrEnum):
    """Where an incident comes from (W §二(四)10, R §一,四)."""

    hotline_12345 = "hotline_12345"
    grid = "grid"
    patrol = "patrol"
    digital_city = "digital_city"
    whistle = "whistle"


class IncidentError(ValueError):
    """Invalid incident input; ``field`` names the offending field."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class Facts(BaseModel):
    """Case facts that can move competence to the department (major-penalty rule)."""

    model_config = ConfigDict(extra="forbid")

    fine_yuan: float | None = Field(None, ge=0, description="Fine the case may lead to, yuan.")
    measures: list[str] = Field(default_factory=list,
                                description=f"Major measures: {', '.join(MAJOR_MEASURES)}.")
    held_by: str | None = Field(None, description="Township already holding the case.")

    @field_validator("measures")
    @classmethod
    def _known_measures(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - MAJOR_MEASURES.keys())
        if unknown:
            raise ValueError(f"unknown {', '.join(unknown)}; expected any of "
                             f"{', '.join(MAJOR_MEASURES)}")
        return v

    def case_facts(self) -> CaseFacts:
        return CaseFacts(self.fine_yuan, frozenset(self.measures), self.held_by)


class Incident(BaseModel):
    """One reported incident, as accepted by ``POST /api/v1/incidents`` and ``whistle dispatch``.

    ``reported_at`` must carry a time zone (a bare local time is ambiguous across sources)
    and may not lie in the future. Coordinates are WGS84 unless ``crs`` says ``gcj02``.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source: Source
    external_id: str = Field(min_length=1, max_length=128)
    matter_code: str = Field(min_length=1, max_length=32)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: str = Field("wgs84", pattern="^(wgs84|gcj02)$")
    reported_at: datetime
    district: str = "changshan"
    description: str = Field("", max_length=4000)
    facts: Facts = Field(default_factory=Facts)

    @field_validator("reported_at")
    @classmethod
    def _aware_and_not_future(cls, v: datetime) -> datetime:
        if v.tzinfo is None or v.utcoffset() is None:
            raise ValueError("needs a time zone, e.g. 2026-05-01T09:30:00+08:00")
        if v - datetime.now(UTC) > CLOCK_SKEW:
            raise ValueError(f"{v.isoformat()} is in the future")
        return v


def parse_incident(data: dict[str, Any]) -> Incident:
    """Validate raw input; raise :class:`IncidentError` naming the first bad field."""
    try:
        return Incident.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "incident"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "extra_forbidden":
            msg = "is not a known field"
        raise IncidentError(field, msg) from exc
