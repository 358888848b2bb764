"""The routing problem: what must be visited, by whom, and when.

A :class:`RoutingProblem` is plain data: depots (team bases), clients (visits), vehicle types
(teams with a shift, optional capacities, skills and breaks) and two square matrices indexed
by *location*: ``travel_time`` in seconds and ``distance`` in metres. Locations are row
indices, so several depots or clients may share one place. Benchmark instances use abstract
units (Solomon: time = distance = Euclidean units); the solver never assumes metres.

The model is validated once, at construction, and every error names the offending field.
Solvers (:mod:`planner.routes`) and the independent checker (:mod:`planner.result`) trust it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

INF = math.inf


class ProblemError(ValueError):
    """Raised when a routing problem is malformed; the message names the field and reason."""


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A closed interval ``[earliest, latest]`` in seconds from the planning origin."""

    earliest: float = 0.0
    latest: float = INF

    def contains(self, t: float, eps: float = 1e-6) -> bool:
        return self.earliest - eps <= t <= self.latest + eps


@dataclass(frozen=True, slots=True)
class Depot:
    """A base where routes start or end (e.g. a township enforcement centre).

    ``window`` is when the base is open: routes leave and return inside it.
    """

    location: int
    window: TimeWindow = TimeWindow()
    name: str = ""


@dataclass(frozen=True, slots=True)
class Client:
    """A visit to make.

    Service must *start* inside one of ``windows`` (opening hours; several windows model a
    lunch closure) and lasts ``service_s``. ``demand`` has one entry per capacity dimension
    of the vehicle types (empty: no capacity). ``skills`` must all be held by the visiting
    vehicle (e.g. a department's competence). Optional clients (``required=False``) may be
    skipped at a cost of ``prize``.
    """

    location: int
    service_s: float = 0.0
    windows: tuple[TimeWindow, ...] = (TimeWindow(),)
    demand: tuple[int, ...] = ()
    skills: frozenset[str] = frozenset()
    required: bool = True
    prize: float = 0.0
    name: str = ""


@dataclass(frozen=True, slots=True)
class Break:
    """A break (e.g. lunch) that must start inside ``window`` and lasts ``duration_s``.

    It may be taken between two visits (while travelling or waiting), before the first or
    after the last one, but never during a service.
    """

    window: TimeWindow
    duration_s: float


@dataclass(frozen=True, slots=True)
class VehicleType:
    """``count`` identical vehicles (teams): where they start and end, when, and what they hold.

    ``shift`` bounds the departure and the return (seconds); ``max_duration_s`` bounds the
    time between them (shift length). ``capacity`` has one entry per demand dimension.
    Route cost = ``fixed_cost`` (if used) + ``cost_per_distance`` x metres +
    ``cost_per_second`` x route duration.
    """

    count: int = 1
    start_depot: int = 0
    end_depot: int | None = None
    capacity: tuple[int, ...] = ()
    shift: TimeWindow = TimeWindow()
    max_duration_s: float = INF
    max_distance: float = INF
    fixed_cost: float = 0.0
    cost_per_distance: float = 1.0
    cost_per_second: float = 0.0
    skills: frozenset[str] = frozenset()
    breaks: tuple[Break, ...] = ()
    name: str = ""

    @property
    def end(self) -> int:
        """Index of the end depot (the start depot unless given)."""
        return self.start_depot if self.end_depot is None else self.end_depot


@dataclass(frozen=True, slots=True)
class FrozenPrefix:
    """Visits already committed to ``vehicle`` (in order) when re-planning.

    The solver keeps them as the first visits of that vehicle's route and plans the rest.
    """

    vehicle: int
    clients: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class RoutingProblem:
    """A complete routing instance; immutable and validated on construction.

    Parameters
    ----------
    depots, clients, vehicle_types
        The places, visits and fleet. Vehicles are numbered by expanding the vehicle types
        in order (type 0's vehicles first).
    travel_time
        ``(L, L)`` seconds between locations (need not be symmetric).
    distance
        ``(L, L)`` metres between locations.
    frozen
        Committed route prefixes for re-planning.
    coords
        Optional ``(L, 2)`` coordinates, for display only.
    """

    depots: tuple[Depot, ...]
    clients: tuple[Client, ...]
    vehicle_types: tuple[VehicleType, ...]
    travel_time: np.ndarray
    distance: np.ndarray
    frozen: tuple[FrozenPrefix, ...] = ()
    coords: np.ndarray | None = None
    name: str = ""
    _vehicle_type_of: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for attr in ("depots", "clients", "vehicle_types", "frozen"):
            object.__setattr__(self, attr, tuple(getattr(self, attr)))
        object.__setattr__(self, "travel_time", _matrix(self.travel_time, "travel_time"))
        object.__setattr__(self, "distance", _matrix(self.distance, "distance"))
        if self.coords is not None:
            coords = np.array(self.coords, dtype=float)
            coords.setflags(write=False)
            object.__setattr__(self, "coords", coords)
        object.__setattr__(
            self,
            "_vehicle_type_of",
            tuple(t for t, vt in enumerate(self.vehicle_types) for _ in range(vt.count)),
        )
        _validate(self)

    # --- sizes and lookups -------------------------------------------------------------
    @property
    def n_locations(self) -> int:
        return int(self.travel_time.shape[0])

    @property
    def n_clients(self) -> int:
        return len(self.clients)

    @property
    def n_vehicles(self) -> int:
        return len(self._vehicle_type_of)

    @property
    def n_dims(self) -> int:
        """Number of capacity dimensions (0 when capacities are not modelled)."""
        return len(self.vehicle_types[0].capacity) if self.vehicle_types else 0

    def vehicle_type_of(self, vehicle: int) -> int:
        return self._vehicle_type_of[vehicle]

    def vehicle(self, vehicle: int) -> VehicleType:
        return self.vehicle_types[self._vehicle_type_of[vehicle]]

    def vehicles(self) -> Iterator[tuple[int, VehicleType]]:
        """``(vehicle index, vehicle type)`` for every vehicle."""
        for v, t in enumerate(self._vehicle_type_of):
            yield v, self.vehicle_types[t]

    def can_serve(self, vehicle: int, client: int) -> bool:
        """Whether the vehicle holds every skill the client requires."""
        return self.clients[client].skills <= self.vehicle(vehicle).skills

    def frozen_prefix(self, vehicle: int) -> tuple[int, ...]:
        for f in self.frozen:
            if f.vehicle == vehicle:
                return f.clients
        return ()

    @property
    def is_plain_vrptw(self) -> bool:
        """True when only the classic VRPTW features are used.

        That is: one window per client, no breaks, no frozen prefixes, every client
        required, and costs that depend on distance and fixed vehicle costs only. Such
        problems may be handed to the specialised improvement heuristic.
        """
        return (
            all(len(c.windows) == 1 and c.required for c in self.clients)
            and not self.frozen
            and all(not vt.breaks and vt.cost_per_second == 0 for vt in self.vehicle_types)
        )


def _matrix(value: np.ndarray, name: str) -> np.ndarray:
    m = np.array(value, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ProblemError(f"{name}: must be a square matrix, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ProblemError(f"{name}: contains NaN or infinite values")
    if np.any(m < 0):
        raise ProblemError(f"{name}: contains negative values")
    m.setflags(write=False)
    return m


def _check_window(w: TimeWindow, where: str) -> None:
    if not (w.earliest <= w.latest) or math.isnan(w.earliest) or w.earliest < 0:
        raise ProblemError(f"{where}: invalid time window [{w.earliest}, {w.latest}]")


def _check_location(loc: int, n: int, where: str) -> None:
    if not (0 <= loc < n):
        raise ProblemError(f"{where}.location: {loc} is not a row of the matrices (0..{n - 1})")


def _validate(p: RoutingProblem) -> None:
    n = p.n_locations
    if p.distance.shape != p.travel_time.shape:
        raise ProblemError(
            f"distance: shape {p.distance.shape} differs from travel_time {p.travel_time.shape}"
        )
    if p.coords is not None and p.coords.shape != (n, 2):
        raise ProblemError(f"coords: expected shape ({n}, 2), got {p.coords.shape}")
    if not p.depots:
        raise ProblemError("depots: at least one depot is required")
    if not p.vehicle_types:
        raise ProblemError("vehicle_types: at least one vehicle type is required")
    for i, d in enumerate(p.depots):
        _check_location(d.location, n, f"depots[{i}]")
        _check_window(d.window, f"depots[{i}].window")
    dims = len(p.vehicle_types[0].capacity)
    for t, vt in enumerate(p.vehicle_types):
        where = f"vehicle_types[{t}]"
        if vt.count < 0:
            raise ProblemError(f"{where}.count: must be >= 0, got {vt.count}")
        for attr in ("start_depot", "end"):
            dep = getattr(vt, attr)
            if not (0 <= dep < len(p.depots)):
                raise ProblemError(f"{where}.{attr}: no depot {dep}")
        if len(vt.capacity) != dims:
            raise ProblemError(
                f"{where}.capacity: {len(vt.capacity)} dimensions, vehicle_types[0] has {dims}"
            )
        if any(c < 0 for c in vt.capacity):
            raise ProblemError(f"{where}.capacity: must be >= 0")
        _check_window(vt.shift, f"{where}.shift")
        for attr in ("max_duration_s", "max_distance", "fixed_cost",
                     "cost_per_distance", "cost_per_second"):
            if not getattr(vt, attr) >= 0:
                raise ProblemError(f"{where}.{attr}: must be >= 0")
        for b, brk in enumerate(vt.breaks):
            _check_window(brk.window, f"{where}.breaks[{b}].window")
            if not (0 <= brk.duration_s < INF):
                raise ProblemError(f"{where}.breaks[{b}].duration_s: must be finite and >= 0")
    for i, c in enumerate(p.clients):
        where = f"clients[{i}]"
        _check_location(c.location, n, where)
        if not (0 <= c.service_s < INF):
            raise ProblemError(f"{where}.service_s: must be finite and >= 0, got {c.service_s}")
        if not c.windows:
            raise ProblemError(f"{where}.windows: at least one time window is required")
        for k, w in enumerate(c.windows):
            _check_window(w, f"{where}.windows[{k}]")
            if k and w.earliest <= c.windows[k - 1].latest:
                raise ProblemError(f"{where}.windows: must be sorted and disjoint")
        if len(c.demand) != dims:
            raise ProblemError(
                f"{where}.demand: {len(c.demand)} dimensions, vehicle capacities have {dims}"
            )
        if any(q < 0 for q in c.demand):
            raise ProblemError(f"{where}.demand: must be >= 0")
        if c.prize < 0:
            raise ProblemError(f"{where}.prize: must be >= 0")
    seen: set[int] = set()
    owners: set[int] = set()
    for f in p.frozen:
        if not (0 <= f.vehicle < p.n_vehicles):
            raise ProblemError(f"frozen: no vehicle {f.vehicle}")
        if f.vehicle in owners:
            raise ProblemError(f"frozen: vehicle {f.vehicle} has two prefixes")
        owners.add(f.vehicle)
        for c in f.clients:
            if not (0 <= c < p.n_clients):
                raise ProblemError(f"frozen[vehicle {f.vehicle}]: no client {c}")
            if c in seen:
                raise ProblemError(f"frozen: client {c} appears twice")
            seen.add(c)


def euclidean_matrix(coords: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distances (unrounded) between ``(L, 2)`` coordinates."""
    xy = np.asarray(coords, dtype=float)
    diff = xy[:, None, :] - xy[None, :, :]
    return np.sqrt((diff**2).sum(axis=-1))
