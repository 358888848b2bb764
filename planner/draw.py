"""双随机一公开: random inspection objects, random inspectors, published results.

Routine checks are decided by lot: a share of a zone's objects is drawn at random, each drawn
object gets two certified officers drawn at random, and the outcome is published. The draw
must be fair (no officer carries far more than the others), must respect recusals (回避) and
rotation (nobody inspects the same object twice running), and must be *checkable*: anyone
holding the record can re-run it and get the same answer.

Who may be drawn
----------------
A draw is made either by a district department (``department``: the officers of its own
brigades, kind ``department`` in the team roster; city-level teams join by coordinated action
and are not part of a department's own draw) or, without a department, by the zone's township
team (the township or hub team serving the zone's townships). Only officers whose certificate
(执法证) is valid from the draw date through the end of the inspection window are drawn: an
officer whose certificate lapses halfway through the window could not lawfully do the check.
A unit with fewer than two such officers cannot draw at all (:class:`DrawError` naming it).

Which objects
-------------
The zone's objects, narrowed to the object types a department's patrol items apply to (and to
``object_types`` if given). ``ceil(share · n)`` objects are drawn, over all candidates or,
with ``by_type``, within each object type separately so every type is represented.

The algorithm (``whistle-draw/1``)
----------------------------------
Inputs are put in canonical order first (objects and officers by id, pairs sorted), so the
order in which a caller lists them cannot change the outcome. With
``numpy.random.default_rng(seed)``:

1. one ``random()`` key per candidate object; in each stratum the ``k`` smallest keys win;
2. drawn objects are paired in ascending key order; for each, one ``random()`` key per officer
   is drawn and the officers are ranked by key. Officers recused from the object, officers
   who inspected it last time and officers at the load cap are skipped; the pair of lowest
   ranks is taken — (1st, 2nd), else (1st, 3rd), (2nd, 3rd), (1st, 4th), ... — unless taking
   it would leave the objects still to pair without a feasible assignment under the cap
   (checked as a maximum flow). So the cap never strands an object that a fair assignment
   could have served, and when nothing binds the pair is simply the two lowest keys.
3. The load cap defaults to ``ceil(2 · drawn / officers) + 1``.

Only ``Generator.random`` is used (doubles made of the top 53 bits of PCG64's outputs,
unchanged since numpy 1.17), not methods such as ``choice`` whose streams numpy reserves the
right to change between releases, so a record stays verifiable after an upgrade. An object
that cannot get two officers is never dropped: it stays in the result as :class:`Unpaired`
with the reason.

The record
----------
:class:`DrawRecord` holds the inputs (every candidate with its name, every eligible officer
with name and certificate, recusals, exclusions and their source), the seed, the algorithm
version, the *fingerprint* (sha256 of the canonical candidate lists: objects with their type,
officer ids, recusal and exclusion pairs), the result, who ran it and when.
:func:`verify_draw` re-runs the draw from the record and reports any difference.

What is published
-----------------
:func:`public_rows` / :func:`public_csv`: per drawn object its id, name, type and township,
the inspection window, and both inspectors' names with their certificate numbers — what
双随机一公开 announcements carry (the certificate number is what a citizen checks an
inspector's authority with). Not published: internal officer and team ids, certificate
validity, risk grades, positions, recusals and exclusions (who recused from what is personal
information; the counts in an unpaired object's reason are enough to explain it). The
published file carries the seed, fingerprint and record hash so the full record can be
matched to it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from fractions import Fraction
from typing import Any, Literal

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import maximum_flow

from dispatch.teams.loader import TeamRoster
from dispatch.teams.models import Team
from dispatch.tickets.audit import canonical_json, time_text
from geo.boundaries import Area, District
from planner.items import ItemList
from planner.objects import ObjectSet

ALGORITHM = "whistle-draw/1"
MAX_SEED = 2**63 - 1  # stored as a signed 64-bit integer on both backends
PAIR = 2  # inspectors per object

UnpairedReason = Literal["no_two_eligible", "load_cap"]
PairsInput = Iterable[tuple[str, str]] | Mapping[str, Iterable[str]]


class DrawError(ValueError):
    """Bad draw input or a draw that cannot be made; ``field`` names what to fix."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


# -- the model ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrawObject:
    """A candidate inspection object, with the names the published version shows."""

    id: str
    name: str
    object_type: str
    type_name: str
    township: str
    township_name: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "object_type": self.object_type,
                "type_name": self.type_name, "township": self.township,
                "township_name": self.township_name}


@dataclass(frozen=True)
class DrawOfficer:
    """An eligible officer as of the draw: team and certificate (执法证) at that time."""

    id: str
    name: str
    team_id: str
    team_name: str
    certificate: str
    valid_from: date
    valid_to: date

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "team_id": self.team_id,
                "team_name": self.team_name, "certificate": self.certificate,
                "valid_from": self.valid_from.isoformat(), "valid_to": self.valid_to.isoformat()}


@dataclass(frozen=True, order=True)
class Exclusion:
    """Officer ``officer_id`` inspected ``object_id`` last time (``source``: ``input`` or
    ``draw <id>``), so is not drawn for it now."""

    officer_id: str
    object_id: str
    source: str

    def as_dict(self) -> dict[str, str]:
        return {"officer_id": self.officer_id, "object_id": self.object_id,
                "source": self.source}


@dataclass(frozen=True)
class DrawInputs:
    """Everything a draw depends on; :func:`draw` is a pure function of this.

    ``drawn_on`` is the draw date and the start of the inspection window, ``window_end`` its
    last day (inclusive). ``load_cap`` None means the default ``ceil(2·drawn/officers)+1``.
    ``recusals`` are (officer id, object id) pairs. ``unit`` names who draws (the brigade or
    township team names) for people reading the record.
    """

    district: str
    zone: str
    zone_name: str
    department: str | None
    unit: str
    drawn_on: date
    window_end: date
    share: float
    seed: int
    objects: tuple[DrawObject, ...]
    officers: tuple[DrawOfficer, ...]
    recusals: tuple[tuple[str, str], ...] = ()
    exclusions: tuple[Exclusion, ...] = ()
    by_type: bool = False
    object_types: tuple[str, ...] = ()
    load_cap: int | None = None

    def canonical(self) -> DrawInputs:
        """The same inputs in canonical order (ids sorted, pairs sorted and de-duplicated)."""
        return replace(self, objects=tuple(sorted(self.objects, key=lambda o: o.id)),
                       officers=tuple(sorted(self.officers, key=lambda o: o.id)),
                       recusals=tuple(sorted({(str(a), str(b)) for a, b in self.recusals})),
                       exclusions=tuple(sorted(set(self.exclusions))),
                       object_types=tuple(sorted(set(self.object_types))))

    @property
    def fingerprint(self) -> str:
        """sha256 (hex) of the canonical candidate lists; independent of input order."""
        c = self.canonical()
        lists = {"objects": [[o.id, o.object_type] for o in c.objects],
                 "officers": [o.id for o in c.officers],
                 "recusals": [list(p) for p in c.recusals],
                 "exclusions": sorted({(e.officer_id, e.object_id) for e in c.exclusions})}
        return hashlib.sha256(canonical_json(lists).encode("utf-8")).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        c = self.canonical()
        return {"district": c.district, "zone": c.zone, "zone_name": c.zone_name,
                "department": c.department, "unit": c.unit,
                "drawn_on": c.drawn_on.isoformat(), "window_end": c.window_end.isoformat(),
                "share": c.share, "seed": c.seed, "by_type": c.by_type,
                "object_types": list(c.object_types), "load_cap": c.load_cap,
                "objects": [o.as_dict() for o in c.objects],
                "officers": [o.as_dict() for o in c.officers],
                "recusals": [list(p) for p in c.recusals],
                "exclusions": [e.as_dict() for e in c.exclusions]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DrawInputs:
        try:
            return cls(
                district=d["district"], zone=d["zone"], zone_name=d["zone_name"],
                department=d["department"], unit=d["unit"],
                drawn_on=date.fromisoformat(d["drawn_on"]),
                window_end=date.fromisoformat(d["window_end"]),
                share=float(d["share"]), seed=int(d["seed"]), by_type=bool(d["by_type"]),
                object_types=tuple(d["object_types"]), load_cap=d["load_cap"],
                objects=tuple(DrawObject(**o) for o in d["objects"]),
                officers=tuple(DrawOfficer(
                    id=o["id"], name=o["name"], team_id=o["team_id"], team_name=o["team_name"],
                    certificate=o["certificate"], valid_from=date.fromisoformat(o["valid_from"]),
                    valid_to=date.fromisoformat(o["valid_to"])) for o in d["officers"]),
                recusals=tuple((a, b) for a, b in d["recusals"]),
                exclusions=tuple(Exclusion(**e) for e in d["exclusions"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise DrawError("inputs", f"not a draw input record ({exc!r})") from exc


@dataclass(frozen=True)
class Pairing:
    """A drawn object and its two inspectors (officer ids, sorted)."""

    object_id: str
    officers: tuple[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"object_id": self.object_id, "officers": list(self.officers)}


@dataclass(frozen=True)
class Unpaired:
    """A drawn object that could not get two officers, and why (counts only, no names)."""

    object_id: str
    reason: UnpairedReason
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"object_id": self.object_id, "reason": self.reason, "message": self.message}


@dataclass(frozen=True)
class DrawResult:
    """The outcome: drawn objects (sorted ids), their pairings, the unpaired, the cap used."""

    selected: tuple[str, ...]
    pairings: tuple[Pairing, ...]
    unpaired: tuple[Unpaired, ...]
    load_cap: int

    @property
    def loads(self) -> dict[str, int]:
        """Objects per drawn officer (officers drawn for nothing are absent)."""
        out: dict[str, int] = {}
        for p in self.pairings:
            for o in p.officers:
                out[o] = out.get(o, 0) + 1
        return dict(sorted(out.items()))

    @property
    def by_object(self) -> dict[str, Pairing]:
        return {p.object_id: p for p in self.pairings}

    def as_dict(self) -> dict[str, Any]:
        return {"selected": list(self.selected), "pairings": [p.as_dict() for p in self.pairings],
                "unpaired": [u.as_dict() for u in self.unpaired], "load_cap": self.load_cap}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DrawResult:
        try:
            return cls(selected=tuple(d["selected"]),
                       pairings=tuple(Pairing(p["object_id"], _two(p["officers"]))
                                      for p in d["pairings"]),
                       unpaired=tuple(Unpaired(u["object_id"], u["reason"], u["message"])
                                      for u in d["unpaired"]),
                       load_cap=int(d["load_cap"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise DrawError("result", f"not a draw result record ({exc!r})") from exc


def _two(officers: Sequence[str]) -> tuple[str, str]:
    a, b = officers  # exactly two, else ValueError
    return str(a), str(b)


@dataclass(frozen=True)
class DrawRecord:
    """A draw as recorded: inputs, result, seed (in the inputs), fingerprint, algorithm, who
    ran it and when. ``id`` and ``recorded_at`` are set by the store."""

    inputs: DrawInputs
    result: DrawResult
    actor: str
    fingerprint: str
    algorithm: str = ALGORITHM
    recorded_at: datetime | None = None
    id: int | None = None

    @property
    def record_hash(self) -> str:
        """sha256 over the canonical JSON of everything but the id (which the store assigns;
        the audit chain binds the id to this hash)."""
        body = {"algorithm": self.algorithm, "fingerprint": self.fingerprint,
                "actor": self.actor,
                "recorded_at": time_text(self.recorded_at) if self.recorded_at else None,
                "inputs": self.inputs.as_dict(), "result": self.result.as_dict()}
        return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "algorithm": self.algorithm, "fingerprint": self.fingerprint,
                "actor": self.actor,
                "recorded_at": self.recorded_at.isoformat() if self.recorded_at else None,
                "record_hash": self.record_hash, "inputs": self.inputs.as_dict(),
                "result": self.result.as_dict()}


@dataclass(frozen=True)
class DrawVerification:
    """Outcome of re-running a recorded draw: ``ok`` or the problems found."""

    draw_id: int | None
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        name = f"draw {self.draw_id}" if self.draw_id is not None else "draw"
        if self.ok:
            return f"{name}: verified (re-run from the recorded inputs gives the recorded result)"
        return f"{name}: verification failed: " + "; ".join(self.problems)

    def as_dict(self) -> dict[str, Any]:
        return {"draw_id": self.draw_id, "ok": self.ok, "problems": list(self.problems)}


# -- the draw -----------------------------------------------------------------------------------


def selection_count(share: float, n: int) -> int:
    """Objects to draw out of ``n``: ``ceil(share · n)``, computed on the decimal ``share``
    (0.1 · 30 is 3, not the 4 that binary floating point would round up to)."""
    return math.ceil(Fraction(repr(float(share))) * n)


def default_load_cap(drawn: int, officers: int) -> int:
    """``ceil(2 · drawn / officers) + 1``: a fair share of the inspections plus one."""
    return -(-PAIR * drawn // officers) + 1


def _check_inputs(inputs: DrawInputs) -> None:
    share = inputs.share
    if isinstance(share, bool) or not math.isfinite(share) or not 0 < share <= 1:
        raise DrawError("share", f"{share!r} must be a fraction in (0, 1]")
    seed = inputs.seed
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise DrawError("seed", f"{seed!r} must be an integer from 0 to {MAX_SEED}")
    cap = inputs.load_cap
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise DrawError("load_cap", f"{cap!r} must be a positive number of objects")
    if inputs.window_end < inputs.drawn_on:
        raise DrawError("window_end", f"{inputs.window_end} is before the draw date "
                                      f"{inputs.drawn_on}")
    for what, ids in (("objects", [o.id for o in inputs.objects]),
                      ("officers", [o.id for o in inputs.officers])):
        dups = sorted(i for i, k in Counter(ids).items() if k > 1)
        if dups:
            raise DrawError(what, f"listed more than once: {', '.join(dups)}")
    if not inputs.objects:
        raise DrawError("objects", "no candidate objects to draw from")
    if len(inputs.officers) < PAIR:
        raise DrawError("officers", f"{inputs.unit or 'the drawing unit'} has "
                                    f"{len(inputs.officers)} eligible officer(s); a draw pairs "
                                    "two certified officers per object")


def _feasible(allowed: np.ndarray, capacity: np.ndarray) -> bool:
    """Whether every row (object) can get two distinct allowed columns (officers) without any
    officer exceeding ``capacity``: a maximum flow source → objects (2) → officers (1 per
    allowed pair) → sink (capacity) that saturates the objects."""
    r, m = allowed.shape
    if r == 0:
        return True
    usable = allowed & (capacity > 0)[None, :]
    if int(capacity.clip(min=0).sum()) < PAIR * r or (usable.sum(axis=1) < PAIR).any():
        return False
    obj, off = np.nonzero(usable)
    n = r + m + 2
    sink = n - 1
    heads = np.concatenate([np.zeros(r, np.int64), obj + 1, np.arange(m) + r + 1])
    tails = np.concatenate([np.arange(r) + 1, off + r + 1, np.full(m, sink)])
    caps = np.concatenate([np.full(r, PAIR), np.ones(obj.size, np.int64),
                           capacity.clip(min=0)]).astype(np.int32)
    graph = csr_array((caps, (heads, tails)), shape=(n, n))
    return int(maximum_flow(graph, 0, sink).flow_value) == PAIR * r


def _pair_order(count: int) -> Iterable[tuple[int, int]]:
    """(1st, 2nd), (1st, 3rd), (2nd, 3rd), (1st, 4th), ...: lowest worst rank first."""
    for b in range(1, count):
        for a in range(b):
            yield a, b


def draw(inputs: DrawInputs) -> DrawResult:
    """Run the draw (algorithm ``whistle-draw/1``, see the module docstring).

    Same inputs and seed → the same result, whatever order the inputs were listed in.

    Raises
    ------
    DrawError
        Naming the field: share, seed or load cap out of range, duplicate ids, no objects,
        fewer than two officers.
    """
    _check_inputs(inputs)
    c = inputs.canonical()
    objects, officers = c.objects, c.officers
    n, m = len(objects), len(officers)
    obj_index = {o.id: j for j, o in enumerate(objects)}
    off_index = {o.id: i for i, o in enumerate(officers)}
    recused = np.zeros((n, m), dtype=bool)
    excluded = np.zeros((n, m), dtype=bool)
    for table, pairs in ((recused, c.recusals),
                         (excluded, [(e.officer_id, e.object_id) for e in c.exclusions])):
        for officer_id, object_id in pairs:
            i, j = off_index.get(officer_id), obj_index.get(object_id)
            if i is not None and j is not None:
                table[j, i] = True
    allowed = ~(recused | excluded)

    rng = np.random.default_rng(c.seed)
    keys = rng.random(n)
    if c.by_type:
        strata = sorted({o.object_type for o in objects})
        members = [np.array([j for j, o in enumerate(objects) if o.object_type == t])
                   for t in strata]
    else:
        members = [np.arange(n)]
    chosen: list[int] = []
    for idx in members:
        k = selection_count(c.share, idx.size)
        chosen.extend(idx[np.argsort(keys[idx], kind="stable")[:k]].tolist())
    order = sorted(chosen, key=lambda j: (keys[j], j))

    cap = c.load_cap if c.load_cap is not None else default_load_cap(len(order), m)
    load = np.zeros(m, dtype=np.int64)
    pairable = [j for j in order if allowed[j].sum() >= PAIR]
    lookahead = _feasible(allowed[pairable], np.full(m, cap, dtype=np.int64))
    pairings: dict[int, tuple[int, int]] = {}
    unpaired: dict[int, Unpaired] = {}
    rest = 0  # position in ``pairable`` of the object being paired
    for j in order:
        rank = np.argsort(rng.random(m), kind="stable")
        if allowed[j].sum() < PAIR:
            unpaired[j] = _no_two_eligible(objects[j].id, recused[j], excluded[j])
            continue
        rest += 1
        cand = [int(i) for i in rank if allowed[j, i] and load[i] < cap]
        pick = None
        for a, b in _pair_order(len(cand)):
            pair = (cand[a], cand[b])
            if not lookahead:
                pick = pair
                break
            after = np.full(m, cap, dtype=np.int64) - load
            after[list(pair)] -= 1
            if _feasible(allowed[pairable[rest:]], after):
                pick = pair
                break
        if pick is None:
            unpaired[j] = Unpaired(
                objects[j].id, "load_cap",
                f"every officer still eligible for it has reached the load cap of {cap} "
                f"object(s) ({len(cand)} below the cap, two needed)")
            continue
        load[list(pick)] += 1
        pairings[j] = pick

    selected = sorted(chosen)
    return DrawResult(
        selected=tuple(objects[j].id for j in selected),
        pairings=tuple(_pairing(objects[j].id, [officers[i].id for i in pairings[j]])
                       for j in selected if j in pairings),
        unpaired=tuple(unpaired[j] for j in selected if j in unpaired),
        load_cap=cap)


def _pairing(object_id: str, officer_ids: list[str]) -> Pairing:
    a, b = sorted(officer_ids)
    return Pairing(object_id, (a, b))


def _no_two_eligible(object_id: str, recused: np.ndarray, excluded: np.ndarray) -> Unpaired:
    m = recused.size
    n_rec = int(recused.sum())
    n_last = int((excluded & ~recused).sum())
    left = m - int((recused | excluded).sum())
    parts = []
    if n_rec:
        parts.append(f"{n_rec} recused (回避)")
    if n_last:
        parts.append(f"{n_last} inspected it last time")
    return Unpaired(object_id, "no_two_eligible",
                    f"only {left} of {m} officer(s) eligible after recusals and the last-"
                    f"inspector rule: {', '.join(parts) or 'none excluded'}; two are needed")


def make_record(inputs: DrawInputs, actor: str, result: DrawResult | None = None,
                recorded_at: datetime | None = None) -> DrawRecord:
    """Draw (unless ``result`` is given) and wrap the outcome as a record by ``actor``."""
    if not isinstance(actor, str) or not actor.strip():
        raise DrawError("actor", "who ran the draw must be named")
    c = inputs.canonical()
    return DrawRecord(inputs=c, result=result if result is not None else draw(c),
                      actor=actor.strip(), fingerprint=c.fingerprint, recorded_at=recorded_at)


def verify_draw(record: DrawRecord) -> DrawVerification:
    """Re-run a recorded draw from its inputs and compare with the recorded result.

    Checks the algorithm version is this one, the fingerprint matches the recorded candidate
    lists, and the re-run gives the recorded result (naming the first difference).
    """
    problems: list[str] = []
    if record.algorithm != ALGORITHM:
        return DrawVerification(record.id, (f"algorithm {record.algorithm!r} is not the one "
                                            f"this Whistle runs ({ALGORITHM})",))
    computed = record.inputs.fingerprint
    if computed != record.fingerprint:
        problems.append(f"fingerprint {record.fingerprint[:12]}… does not match the recorded "
                        f"inputs ({computed[:12]}…): the candidate lists were changed")
    try:
        again = draw(record.inputs)
    except DrawError as exc:
        return DrawVerification(record.id, (*problems, f"the recorded inputs cannot be "
                                                       f"re-run: {exc}"))
    if again != record.result:
        problems.append(_first_difference(record.result, again))
    return DrawVerification(record.id, tuple(problems))


def _first_difference(recorded: DrawResult, again: DrawResult) -> str:
    if recorded.selected != again.selected:
        extra = sorted(set(recorded.selected) - set(again.selected))
        missing = sorted(set(again.selected) - set(recorded.selected))
        return (f"the drawn objects differ from a re-run (recorded but not drawn: "
                f"{', '.join(extra) or 'none'}; drawn but not recorded: "
                f"{', '.join(missing) or 'none'})")
    rec, new = recorded.by_object, again.by_object
    for oid in recorded.selected:
        a = rec[oid].officers if oid in rec else None
        b = new[oid].officers if oid in new else None
        if a != b:
            return (f"object {oid}: recorded inspectors {', '.join(a) if a else 'none'}, "
                    f"a re-run draws {', '.join(b) if b else 'none'}")
    if recorded.load_cap != again.load_cap:
        return f"load cap recorded as {recorded.load_cap}, a re-run uses {again.load_cap}"
    return "the recorded result differs from a re-run (unpaired reasons)"


# -- building the inputs ------------------------------------------------------------------------


def _pairs(value: PairsInput, field: str, key: Literal["officer", "object"]
           ) -> set[tuple[str, str]]:
    """(officer id, object id) pairs from pairs or a mapping keyed by ``key``."""
    out: set[tuple[str, str]] = set()
    if isinstance(value, Mapping):
        for k, vs in value.items():
            if isinstance(vs, str) or not isinstance(vs, Iterable):
                raise DrawError(field, f"{k!r}: expected a list of ids, got {vs!r}")
            for v in vs:
                out.add((str(k), str(v)) if key == "officer" else (str(v), str(k)))
        return out
    for p in value:
        if isinstance(p, str) or not isinstance(p, Sequence) or len(p) != 2:
            raise DrawError(field, f"{p!r} is not an (officer id, object id) pair")
        out.add((str(p[0]), str(p[1])))
    return out


def _check_ids(pairs: set[tuple[str, str]], field: str, officers: set[str],
               objects: set[str]) -> None:
    bad_off = sorted({a for a, _ in pairs} - officers)
    bad_obj = sorted({b for _, b in pairs} - objects)
    if bad_off:
        raise DrawError(field, f"officer {', '.join(bad_off[:5])} is not a member of any team")
    if bad_obj:
        raise DrawError(field, f"object {', '.join(bad_obj[:5])} is not an inspection object")


def quarter_end(day: date) -> date:
    """Last day of the quarter holding ``day`` (the default end of the inspection window)."""
    q_last_month = 3 * ((day.month - 1) // 3) + 3
    nxt = date(day.year + (q_last_month == 12), q_last_month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


def _zone(district: District, zone: Area | str) -> Area:
    if isinstance(zone, Area):
        return zone
    for a in district.zones:
        if zone in (a.code, a.name):
            return a
    known = ", ".join(f"{a.code} ({a.name})" for a in district.zones)
    raise DrawError("zone", f"no zone {zone!r} in {district.name}; known: {known or 'none'}")


def _pool_teams(teams: Sequence[Team], area: Area, department: str | None,
                dept_name: str) -> list[Team]:
    if department is not None:
        pool = [t for t in teams if t.kind == "department" and t.department == department]
        if not pool:
            raise DrawError("department", f"{dept_name} has no brigade in the team roster")
        return pool
    zone_towns = set(area.members)
    pool = [t for t in teams if t.kind in ("township", "hub")
            and zone_towns & set(t.serves or (t.township,))]
    if not pool:
        raise DrawError("zone", f"no township team serves {area.name} ({area.code})")
    return pool


def prepare_draw(
    district: District,
    zone: Area | str,
    objects: ObjectSet,
    items: ItemList,
    teams: TeamRoster | Iterable[Team],
    *,
    at: date,
    seed: int,
    share: float,
    department: str | None = None,
    until: date | None = None,
    object_types: Iterable[str] | None = None,
    by_type: bool = False,
    load_cap: int | None = None,
    recusals: PairsInput = (),
    last_inspections: PairsInput = (),
    departments: Mapping[str, str] | None = None,
) -> DrawInputs:
    """Collect the candidates and the eligible officers of a draw.

    Parameters
    ----------
    zone
        The zone (片区) as an :class:`Area`, code or name.
    at, until
        Draw date and last day of the inspection window (default: end of ``at``'s quarter).
    department
        Department code drawing from its own brigades; None: the zone's township team.
    object_types
        Only these object types (codes of ``items``); a department is further limited to the
        types its patrol items apply to.
    recusals
        (officer id, object id) pairs, or officer id → object ids.
    last_inspections
        Who inspected an object last time outside Whistle's records: (officer id, object id)
        pairs, or object id → officer ids. Stored draws are added by the store.
    departments
        Department code → name, for messages and the record.

    Raises
    ------
    DrawError
        Naming the field: unknown zone, department or object type; no candidates; fewer than
        two officers certified through the window; ids in recusals or last inspections that
        name no officer or object.
    """
    team_list = tuple(teams.teams if isinstance(teams, TeamRoster) else teams)
    area = _zone(district, zone)
    if not isinstance(at, date) or isinstance(at, datetime):
        raise DrawError("at", f"{at!r} is not a date")
    end = quarter_end(at) if until is None else until
    if not isinstance(end, date) or isinstance(end, datetime):
        raise DrawError("until", f"{end!r} is not a date")
    if end < at:
        raise DrawError("until", f"{end} is before the draw date {at}")

    types = set(items.types)
    if object_types is not None:
        wanted = set(object_types)
        unknown = sorted(wanted - types)
        if unknown:
            raise DrawError("object_type", f"{', '.join(unknown)} not in item list "
                                           f"{items.version}; known: {', '.join(sorted(types))}")
        types = wanted
    dept_name = department or ""
    if department is not None:
        known = {i.department for i in items.items} | {t.department for t in team_list
                                                        if t.department}
        if department not in known:
            raise DrawError("department", f"{department!r} is not a department of the item "
                                          f"list or team roster; known: {', '.join(sorted(known))}")
        full = (departments or {}).get(department)
        dept_name = f"{department} ({full})" if full and full != department else department
        own = {t for i in items.items if i.department == department for t in i.object_types}
        types &= own
    idx = objects.in_townships(area.members)
    idx = idx[np.isin(objects.object_type[idx], sorted(types))]
    if idx.size == 0:
        whose = f" subject to {dept_name}'s patrol items" if department else ""
        raise DrawError("department" if department else "zone",
                        f"no inspection objects{whose} of the chosen types in {area.name}")

    pool = _pool_teams(team_list, area, department, dept_name)
    eligible = [(t, mem) for t in pool for mem in t.members
                if mem.certified_on(at) and mem.certified_on(end)]
    if len({mem.id for _, mem in eligible}) < PAIR:
        who = dept_name if department else f"{area.name}'s township team"
        names = ", ".join(t.name for t in pool)
        raise DrawError("department" if department else "zone",
                        f"{who} has {len(eligible)} officer(s) with an enforcement "
                        f"certificate valid from {at} to {end} in {names}; a draw pairs two "
                        "certified officers per object")

    all_officers = {mem.id for t in team_list for mem in t.members}
    all_objects = set(objects.by_id)
    rec = _pairs(recusals, "recusals", "officer")
    last = _pairs(last_inspections, "last_inspections", "object")
    _check_ids(rec, "recusals", all_officers, all_objects)
    _check_ids(last, "last_inspections", all_officers, all_objects)

    town_names = {t.code: t.name for t in district.townships}
    cands = [objects.objects[int(j)] for j in idx]
    draw_objects = tuple(DrawObject(o.id, o.name, o.object_type, items.types[o.object_type].name,
                                    o.township, town_names.get(o.township, o.township))
                         for o in cands)
    draw_officers = tuple(DrawOfficer(mem.id, mem.name, t.id, t.name, mem.certificate.number,
                                      mem.certificate.valid_from, mem.certificate.valid_to)
                          for t, mem in eligible if mem.certificate is not None)
    pool_ids = {o.id for o in draw_officers}
    cand_ids = {o.id for o in draw_objects}
    inputs = DrawInputs(
        district=district.code, zone=area.code, zone_name=area.name, department=department,
        unit="、".join(t.name for t in pool), drawn_on=at, window_end=end, share=share,
        seed=seed, objects=draw_objects, officers=draw_officers,
        recusals=tuple(p for p in rec if p[0] in pool_ids and p[1] in cand_ids),
        exclusions=tuple(Exclusion(a, b, "input") for a, b in last
                         if a in pool_ids and b in cand_ids),
        by_type=by_type, object_types=tuple(sorted(set(object_types or ()))),
        load_cap=load_cap).canonical()
    _check_inputs(inputs)
    return inputs


@dataclass(frozen=True)
class PreviousPairing:
    """The last stored draw that paired an object, and the officers it drew."""

    draw_id: int
    officers: tuple[str, ...]


def with_previous(inputs: DrawInputs, previous: Mapping[str, PreviousPairing]) -> DrawInputs:
    """Add "inspected it last time" exclusions from earlier draws (object id → pairing)."""
    pool = {o.id for o in inputs.officers}
    extra = [Exclusion(officer, o.id, f"draw {p.draw_id}")
             for o in inputs.objects if (p := previous.get(o.id)) is not None
             for officer in p.officers if officer in pool]
    return replace(inputs, exclusions=(*inputs.exclusions, *extra)).canonical()


# -- the published version ----------------------------------------------------------------------

PUBLIC_COLUMNS = ("抽查编号", "片区", "检查主体", "检查对象编号", "检查对象名称", "对象类型",
                  "所属乡镇（街道）", "检查期限起", "检查期限止", "检查人员1", "执法证号1",
                  "检查人员2", "执法证号2", "备注")


def public_rows(record: DrawRecord) -> list[dict[str, str]]:
    """One row per drawn object with what 双随机一公开 publishes (see the module docstring).

    Objects that could not be paired are listed with the reason in 备注, never left out.
    """
    inp = record.inputs
    objects = {o.id: o for o in inp.objects}
    officers = {o.id: o for o in inp.officers}
    pairs = record.result.by_object
    why = {u.object_id: u.message for u in record.result.unpaired}
    rows = []
    for oid in record.result.selected:
        o = objects[oid]
        names: list[str] = []
        for officer_id in pairs[oid].officers if oid in pairs else ():
            off = officers[officer_id]
            names += [off.name, off.certificate]
        names += [""] * (2 * PAIR - len(names))
        rows.append(dict(zip(PUBLIC_COLUMNS, [
            "" if record.id is None else str(record.id), inp.zone_name, inp.unit, o.id, o.name,
            o.type_name, o.township_name, inp.drawn_on.isoformat(), inp.window_end.isoformat(),
            *names, f"未能配对：{why[oid]}" if oid in why else ""], strict=True)))
    return rows


def public_csv(record: DrawRecord) -> str:
    """The published version as CSV: ``#`` lines naming the draw (date, seed, fingerprint,
    record hash, so the full record can be matched to it), a header and the rows."""
    inp = record.inputs
    buf = io.StringIO()
    buf.write(f"# 双随机一公开 抽查结果 — {inp.zone_name}，{inp.unit}\n")
    buf.write(f"# draw {record.id if record.id is not None else '(not recorded)'}; drawn on "
              f"{inp.drawn_on}; {len(record.result.selected)} of {len(inp.objects)} objects "
              f"(share {inp.share:g}); seed {inp.seed}; algorithm {record.algorithm}\n")
    buf.write(f"# fingerprint {record.fingerprint}; record hash {record.record_hash}\n")
    w = csv.DictWriter(buf, fieldnames=PUBLIC_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(public_rows(record))
    return buf.getvalue()


__all__ = [
    "ALGORITHM",
    "PUBLIC_COLUMNS",
    "DrawError",
    "DrawInputs",
    "DrawObject",
    "DrawOfficer",
    "DrawRecord",
    "DrawResult",
    "DrawVerification",
    "Exclusion",
    "Pairing",
    "PreviousPairing",
    "Unpaired",
    "default_load_cap",
    "draw",
    "make_record",
    "prepare_draw",
    "public_csv",
    "public_rows",
    "quarter_end",
    "selection_count",
    "verify_draw",
]
