"""Reader for the Solomon VRPTW text format (also used by the Gehring & Homberger sets).

Layout: a name line, ``VEHICLE`` / ``NUMBER CAPACITY`` / two integers, ``CUSTOMER`` and a
header, then one row per node ``CUST NO. XCOORD. YCOORD. DEMAND READY DUE SERVICE``. Row 0
is the depot; its due date is the route horizon. Conventions kept here: travel time equals
the unrounded Euclidean distance, service must *start* inside ``[READY, DUE]`` (arriving
early means waiting), and the vehicle number is an upper bound on the fleet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner.model import (
    Client,
    Depot,
    ProblemError,
    RoutingProblem,
    TimeWindow,
    VehicleType,
    euclidean_matrix,
)


class SolomonFormatError(ProblemError):
    """Raised when a file is not a readable Solomon instance; names file, line and reason."""


@dataclass(frozen=True)
class SolomonInstance:
    """The raw table of a Solomon file (row 0 = depot)."""

    name: str
    n_vehicles: int
    capacity: int
    xy: np.ndarray  # (n+1, 2)
    demand: np.ndarray  # (n+1,)
    ready: np.ndarray
    due: np.ndarray
    service: np.ndarray

    def to_problem(
        self, n_vehicles: int | None = None, objective: str = "distance"
    ) -> RoutingProblem:
        """Build the :class:`RoutingProblem`: one depot, one vehicle type, Euclidean matrices.

        Travel time and distance are the same unrounded Euclidean matrix (abstract units).
        ``objective="distance"`` minimises total distance with a free fleet (the DIMACS /
        CVRPLIB convention); ``"hierarchical"`` minimises vehicles first, then distance (the
        classic Solomon / Gehring-Homberger ranking), through a fixed cost per vehicle larger
        than the distance of serving every customer by its own vehicle.
        """
        if objective not in ("distance", "hierarchical"):
            raise ProblemError(f"objective: expected 'distance' or 'hierarchical', got "
                               f"{objective!r}")
        dist = euclidean_matrix(self.xy)
        fixed = 0.0
        if objective == "hierarchical":
            fixed = float(np.ceil(2.0 * dist[0, 1:].sum() + 1.0))
        clients = tuple(
            Client(
                location=i,
                service_s=float(self.service[i]),
                windows=(TimeWindow(float(self.ready[i]), float(self.due[i])),),
                demand=(int(self.demand[i]),),
                name=str(i),
            )
            for i in range(1, len(self.xy))
        )
        horizon = TimeWindow(float(self.ready[0]), float(self.due[0]))
        fleet = VehicleType(
            count=self.n_vehicles if n_vehicles is None else n_vehicles,
            capacity=(int(self.capacity),),
            shift=horizon,
            fixed_cost=fixed,
            name="vehicle",
        )
        return RoutingProblem(
            depots=(Depot(location=0, window=horizon, name="depot"),),
            clients=clients,
            vehicle_types=(fleet,),
            travel_time=dist,
            distance=dist,
            coords=self.xy,
            name=self.name,
        )


def parse_solomon(text: str, source: str = "<text>") -> SolomonInstance:
    """Parse Solomon-format ``text``; ``source`` names the file in error messages."""
    lines = [ln.strip() for ln in text.replace("\r", "").split("\n")]
    nonempty = [(i + 1, ln) for i, ln in enumerate(lines) if ln]
    if not nonempty:
        raise SolomonFormatError(f"{source}: file is empty")
    name = nonempty[0][1]
    upper = [ln.upper() for _, ln in nonempty]
    try:
        v_at = upper.index("VEHICLE")
        c_at = upper.index("CUSTOMER")
    except ValueError:
        raise SolomonFormatError(
            f"{source}: not a Solomon instance (missing VEHICLE or CUSTOMER section)"
        ) from None
    fleet_line_no, fleet_line = nonempty[v_at + 2] if v_at + 2 < len(nonempty) else (0, "")
    fleet = fleet_line.split()
    if len(fleet) != 2 or not all(f.isdigit() for f in fleet):
        raise SolomonFormatError(
            f"{source}:{fleet_line_no}: expected 'NUMBER CAPACITY' as two integers, "
            f"got {fleet_line!r}"
        )
    n_vehicles, capacity = int(fleet[0]), int(fleet[1])
    rows: list[list[float]] = []
    for line_no, ln in nonempty[c_at + 2 :]:
        parts = ln.split()
        if len(parts) != 7:
            raise SolomonFormatError(
                f"{source}:{line_no}: customer row needs 7 numbers "
                "(no, x, y, demand, ready, due, service), "
                f"got {len(parts)}"
            )
        try:
            rows.append([float(x) for x in parts])
        except ValueError:
            raise SolomonFormatError(f"{source}:{line_no}: non-numeric value in {ln!r}") from None
    if len(rows) < 2:
        raise SolomonFormatError(f"{source}: needs a depot row and at least one customer")
    table = np.array(rows)
    if not np.array_equal(table[:, 0], np.arange(len(rows))):
        raise SolomonFormatError(f"{source}: customer numbers must run 0, 1, 2, ... (0 = depot)")
    if n_vehicles < 1 or capacity < 0:
        raise SolomonFormatError(f"{source}: vehicle number must be >= 1 and capacity >= 0")
    bad = np.flatnonzero(table[:, 4] > table[:, 5])
    if bad.size:
        raise SolomonFormatError(f"{source}: customer {int(bad[0])} has READY TIME > DUE DATE")
    if np.any(table[:, 3:] < 0):
        raise SolomonFormatError(f"{source}: negative demand, time or service value")
    return SolomonInstance(
        name=name,
        n_vehicles=n_vehicles,
        capacity=capacity,
        xy=table[:, 1:3].copy(),
        demand=table[:, 3].astype(np.int64),
        ready=table[:, 4].copy(),
        due=table[:, 5].copy(),
        service=table[:, 6].copy(),
    )


def read_solomon(path: str | Path) -> SolomonInstance:
    """Read a Solomon/Gehring-Homberger file; raises :class:`SolomonFormatError` if unreadable."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise SolomonFormatError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise SolomonFormatError(f"{p}: is a directory, expected a Solomon instance file") from None
    except UnicodeDecodeError:
        raise SolomonFormatError(f"{p}: not a text file") from None
    return parse_solomon(text, source=str(p))


def read_problem(
    path: str | Path, n_vehicles: int | None = None, objective: str = "distance"
) -> RoutingProblem:
    """Read a Solomon file straight into a :class:`RoutingProblem` (see ``to_problem``)."""
    return read_solomon(path).to_problem(n_vehicles, objective)


def read_cvrplib_solution(path: str | Path) -> list[list[int]]:
    """Routes of a CVRPLIB ``.sol`` file as lists of customer numbers (1-based, as in files)."""
    routes = []
    for ln in Path(path).read_text().splitlines():
        if ln.lower().startswith("route"):
            routes.append([int(x) for x in ln.split(":", 1)[1].split()])
    return routes
