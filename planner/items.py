"""The patrol item list (巡查事项清单): what is checked, at which objects, how often and how long.

Each item names its field (领域), the department whose rules it checks, the object types it
applies to, a frequency, a minimum spacing between visits, a standard duration on site, whether
it can join a combined visit (综合查一次) and the requirement text. Department and matter
codes refer to the power catalogue, so a finding on patrol leads straight to a competence
decision. Loading validates the whole file and reports every problem, naming the record and the
field, because one wrong frequency silently distorts a year of calendars.

Frequencies and risk grades
---------------------------
An item's frequency (``times`` per ``month``/``quarter``/``year``) is the one for a grade-B
object. Items marked ``risk_scaled`` multiply it by the object's grade multiplier (the file's
``risk_grades``; the sample uses A ×0.5, B ×1, C ×2, D ×6, so a twice-yearly item becomes
yearly for grade A and monthly for grade D); other items ignore the grade.

Visits required in a horizon (the phase rule)
---------------------------------------------
Time is measured in calendar months: a date's *month position* is ``12·(year − 2000) + (month −
1) + (day − 1) / days_in_month``. Every object has a due-month offset ``s = crc32(object id) mod
12``. An item with a rate of ``r`` visits per month falls due for that object at the month
positions ``k / r − s`` (k integer), and :func:`required_visits` counts the due instants in the
half-open horizon ``[start, end)``. Consequences, all exact (integer arithmetic):

* a quarterly item needs 1 visit in any three whole consecutive months and 4 in a year;
* over one month it needs 0 or 1, and each object's quarterly items fall due in the same month
  of the quarter (so they can be checked in one combined visit);
* counts are additive: the visits of a quarter equal the sum of its three months';
* rates that divide 12 per year nest: yearly due months are a subset of the twice-yearly ones,
  which are a subset of the quarterly ones, so an object's items line up for joint visits;
* the offsets spread objects evenly over the months, so monthly workloads are level.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from dispatch.catalog.loader import bundled_catalog_path, read_document
from dispatch.catalog.models import CatalogError
from geo.records import ProblemList, RecordError, RecordProblem, read_json_object

FORMAT = "whistle-patrol-items/1"
DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "planner"

Period = Literal["month", "quarter", "year"]
PERIOD_MONTHS: dict[str, int] = {"month": 1, "quarter": 3, "year": 12}
EPOCH_YEAR = 2000  # month positions count from January 2000; any fixed epoch gives the same counts
MAX_TIMES = 31  # at most daily within a month
MAX_MULTIPLIER = Fraction(10)
MAX_MULTIPLIER_DENOMINATOR = 20
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_CODE = re.compile(r"^[A-Za-z0-9_.\-]+$")


class DataProblem(RecordProblem):
    """One finding in planner data: which record, which field, and why it is refused."""


class PlannerDataError(RecordError):
    """Malformed or inconsistent planner data; lists every problem, naming record and field."""

    subject = "the planner data"
    problem_type = DataProblem
    default_limit = 25


class Problems(ProblemList):
    """Collects problems while a file is parsed; raises them all at once."""

    def __init__(self) -> None:
        super().__init__(DataProblem)

    def raise_if_any(self) -> None:
        if self:
            raise PlannerDataError(list(self))


# -- clock times --------------------------------------------------------------------------------


def parse_clock(text: str) -> int:
    """Minutes after midnight of ``"HH:MM"`` (``"24:00"`` allowed); raise ValueError if bad."""
    m = _HHMM.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"{text!r} is not a time HH:MM")
    minutes = int(m.group(1)) * 60 + int(m.group(2))
    if minutes > 24 * 60:
        raise ValueError(f"{text!r} is after 24:00")
    return minutes


def parse_window(text: str) -> tuple[int, int]:
    """``"HH:MM-HH:MM"`` as (start, end) minutes after midnight; end > start.

    An end at or before the start means the next day (``"21:00-01:00"`` → (1260, 1500)), which
    is how night checks and late-closing venues are written.
    """
    if not isinstance(text, str) or text.count("-") != 1:
        raise ValueError(f"{text!r} is not a time range HH:MM-HH:MM")
    a, b = (parse_clock(p) for p in text.split("-"))
    if a == 24 * 60:
        raise ValueError(f"{text!r} starts at 24:00; write 00:00")
    if a == b:
        raise ValueError(f"{text!r} is empty (start equals end)")
    return (a, b) if b > a else (a, b + 24 * 60)


def format_clock(minutes: int) -> str:
    """``"HH:MM"`` for minutes after midnight; times past midnight wrap (1500 → ``"01:00"``)."""
    if minutes == 24 * 60:
        return "24:00"
    return f"{(minutes // 60) % 24:02d}:{minutes % 60:02d}"


def format_window(window: tuple[int, int]) -> str:
    return f"{format_clock(window[0])}-{format_clock(window[1])}"


# -- the model ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskGrade:
    """A risk grade and the factor that scales the frequency of risk-scaled items."""

    grade: str
    name: str
    multiplier: Fraction


@dataclass(frozen=True)
class PatrolField:
    """One of the list's fields (领域), with where its name comes from."""

    code: str
    name: str
    code_prefix: str = ""
    source: str = ""


@dataclass(frozen=True)
class ObjectType:
    """A kind of inspection object; ``opening`` is its typical opening hours (minutes)."""

    code: str
    name: str
    opening: tuple[int, int]


@dataclass(frozen=True)
class PatrolItem:
    """One patrol item (巡查事项).

    ``duration_min`` is minutes on site when the item is checked alone; ``min_spacing_days``
    is the least number of days between two visits of this item to one object.
    ``visit_window`` (minutes after midnight; the end may pass 1440) overrides the object's
    opening hours for items that must be done at a set time, such as night checks.
    ``rates`` holds visits per month for each risk grade as exact fractions.
    """

    code: str
    name: str
    field: str
    department: str
    object_types: tuple[str, ...]
    times: int
    per: Period
    risk_scaled: bool
    min_spacing_days: int
    duration_min: int
    combinable: bool
    requirement: str
    matters: tuple[str, ...] = ()
    visit_window: tuple[int, int] | None = None
    rates: dict[str, Fraction] = field(default_factory=dict, compare=False, hash=False)

    def rate_per_month(self, grade: str) -> Fraction:
        """Visits per month for an object of ``grade`` (KeyError for an unknown grade)."""
        return self.rates[grade]

    def visits_per_year(self, grade: str) -> float:
        return float(self.rates[grade] * 12)

    @property
    def frequency_text(self) -> str:
        zh = {"month": "月", "quarter": "季", "year": "年"}[self.per]
        text = f"{self.times}次/{zh}"
        return text + "（按风险等级调整）" if self.risk_scaled else text

    def as_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "code": self.code, "name": self.name, "field": self.field,
            "department": self.department, "object_types": list(self.object_types),
            "frequency": {"times": self.times, "per": self.per},
            "risk_scaled": self.risk_scaled, "min_spacing_days": self.min_spacing_days,
            "duration_min": self.duration_min, "combinable": self.combinable,
            "requirement": self.requirement,
            "visits_per_year": {g: round(float(r * 12), 4) for g, r in self.rates.items()},
        }
        if self.visit_window is not None:
            row["visit_window"] = format_window(self.visit_window)
        if self.matters:
            row["matters"] = list(self.matters)
        return row


@dataclass(frozen=True)
class ItemList:
    """A validated patrol item list with its fields, object types and risk grades."""

    district: str
    catalog: str
    version: str
    title: str
    visit_setup_min: int
    risk_grades: tuple[RiskGrade, ...]
    fields: tuple[PatrolField, ...]
    object_types: tuple[ObjectType, ...]
    items: tuple[PatrolItem, ...]
    note: str = ""

    @cached_property
    def by_code(self) -> dict[str, PatrolItem]:
        return {i.code: i for i in self.items}

    @cached_property
    def index(self) -> dict[str, int]:
        """Item code → position in :attr:`items` (the item index used by array views)."""
        return {i.code: k for k, i in enumerate(self.items)}

    @cached_property
    def types(self) -> dict[str, ObjectType]:
        return {t.code: t for t in self.object_types}

    @cached_property
    def grades(self) -> tuple[str, ...]:
        return tuple(g.grade for g in self.risk_grades)

    @cached_property
    def _for_type(self) -> dict[str, tuple[PatrolItem, ...]]:
        return {t.code: tuple(i for i in self.items if t.code in i.object_types)
                for t in self.object_types}

    def for_type(self, object_type: str) -> tuple[PatrolItem, ...]:
        """Items that apply to an object type, in list order (KeyError if unknown)."""
        return self._for_type[object_type]

    def visit_duration(self, items: Iterable[PatrolItem]) -> int:
        """Minutes on site for one visit that checks ``items`` together.

        Arrival, showing credentials and signing the record (``visit_setup_min``) happen once
        per visit, so a combined visit takes the setup once plus each item's own checking time
        (its standalone duration minus the setup). That saving is what 综合查一次 buys.
        """
        items = list(items)
        if not items:
            return 0
        return self.visit_setup_min + sum(i.duration_min - self.visit_setup_min for i in items)


# -- visits in a horizon ------------------------------------------------------------------------


class HasRisk(Protocol):
    """What :func:`required_visits` needs of an object."""

    id: str
    object_type: str
    risk_grade: str


def due_offset(object_id: str) -> int:
    """The object's due-month offset, 0–11: crc32 of its id, stable across runs and machines."""
    return zlib.crc32(object_id.encode("utf-8")) % 12


def _month_position(day: date) -> tuple[int, int, int]:
    """(whole months since the epoch, day − 1, days in the month) of a date."""
    months = 12 * (day.year - EPOCH_YEAR) + day.month - 1
    nxt = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    dim = (nxt - date(day.year, day.month, 1)).days
    return months, day.day - 1, dim


def _due_count(day: date, offset: int, rate: Fraction) -> int:
    """Due instants before ``day`` (relative to a fixed origin): ceil((position + offset) · rate).

    Counting the instants strictly before a date makes ``[start, end)`` count an instant that
    falls exactly on ``start`` and not one exactly on ``end``.
    """
    months, d, dim = _month_position(day)
    return -(-((months + offset) * dim + d) * rate.numerator // (dim * rate.denominator))


def _check_horizon(start: date, end: date) -> None:
    if end < start:
        raise ValueError(f"horizon: end {end} is before start {start}")


def required_visits(item: PatrolItem, obj: HasRisk, start: date, end: date) -> int:
    """Visits of ``item`` that ``obj`` needs in the horizon ``[start, end)`` (end excluded).

    Zero when the item does not apply to the object's type. See the module docstring for the
    phase rule that makes the count deterministic.
    """
    _check_horizon(start, end)
    if obj.object_type not in item.object_types:
        return 0
    rate = item.rates[obj.risk_grade]
    offset = due_offset(obj.id)
    return _due_count(end, offset, rate) - _due_count(start, offset, rate)


def required_visits_array(
    rate_num: np.ndarray, rate_den: np.ndarray, offsets: np.ndarray, start: date, end: date
) -> np.ndarray:
    """Vectorised :func:`required_visits`: rates (visits/month as num/den) and offsets per pair.

    Integer arithmetic throughout (int64), so it agrees exactly with the scalar rule.
    """
    _check_horizon(start, end)
    num = np.asarray(rate_num, dtype=np.int64)
    den = np.asarray(rate_den, dtype=np.int64)
    off = np.asarray(offsets, dtype=np.int64)

    def count(day: date) -> np.ndarray:
        months, d, dim = _month_position(day)
        return -(-((months + off) * dim + d) * num // (dim * den))

    return (count(end) - count(start)).astype(np.int64)


# -- loading ------------------------------------------------------------------------------------


def bundled_items_path(name: str = "changshan_patrol_items_sample") -> Path:
    """Path of an item list that ships with Whistle under ``data/planner/``."""
    path = DATA_DIR / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in DATA_DIR.glob("*.json")) if DATA_DIR.is_dir() else []
        raise PlannerDataError(
            f"no bundled item list {name!r}; known: {', '.join(known) or 'none'}")
    return path


def catalogue_codes(catalog: str | Path) -> tuple[set[str], set[str]]:
    """(department codes, matter codes) of a catalogue file or bundled catalogue name."""
    try:
        path = Path(catalog) if Path(catalog).suffix == ".json" else bundled_catalog_path(
            str(catalog))
        doc = read_document(path)
    except CatalogError as exc:
        raise PlannerDataError(f"catalog: {exc}") from exc
    deps = {str(d.get("code")) for d in doc.get("departments") or [] if isinstance(d, dict)}
    matters = {str(m.get("code")) for m in doc.get("matters") or [] if isinstance(m, dict)}
    return deps, matters


def load_items(path: Path | str | None = None, catalog: str | Path | None = None) -> ItemList:
    """Read and validate an item list (default: the bundled Changshan sample).

    Parameters
    ----------
    path
        The JSON file.
    catalog
        Catalogue file or bundled name whose department and matter codes the items must use;
        default: the catalogue the file names (``"catalog"``).
    """
    path = Path(path) if path is not None else bundled_items_path()
    doc = read_json_object(path, "item list file", PlannerDataError)
    source = catalog if catalog is not None else doc.get("catalog")
    if not source:
        raise PlannerDataError([DataProblem("item list", "catalog",
                                            "missing: name the power catalogue the items use")])
    departments, matters = catalogue_codes(source)
    return parse_items(doc, departments, matters)


def parse_items(doc: dict[str, Any], departments: set[str], matters: set[str]) -> ItemList:
    """Validate an item-list document against catalogue codes; raise PlannerDataError."""
    return _ItemParser(doc, departments, matters).run()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _ItemParser:
    def __init__(self, doc: dict[str, Any], departments: set[str], matters: set[str]):
        self.doc = doc
        self.departments = departments
        self.matters = matters
        self.out = Problems()

    def run(self) -> ItemList:
        doc, out = self.doc, self.out
        if doc.get("format") != FORMAT:
            out.add("item list", "format", f"{doc.get('format')!r} is not {FORMAT!r}")
        setup = doc.get("visit_setup_min")
        if not _is_int(setup) or setup < 0:
            out.add("item list", "visit_setup_min",
                    f"{setup!r} must be a whole number of minutes ≥ 0")
            setup = 0
        grades = self._grades()
        fields = self._fields()
        types = self._types()
        items = self._items(grades, {f.code for f in fields}, set(types), setup)
        out.raise_if_any()
        return ItemList(
            district=str(doc.get("district") or ""), catalog=str(doc.get("catalog") or ""),
            version=str(doc.get("version") or ""), title=str(doc.get("title") or ""),
            visit_setup_min=setup, risk_grades=tuple(grades), fields=tuple(fields),
            object_types=tuple(types.values()), items=tuple(items),
            note=str(doc.get("_note") or ""))

    def _list(self, key: str) -> list[dict[str, Any]]:
        raw = self.doc.get(key)
        if not isinstance(raw, list) or not raw:
            self.out.add("item list", key, "missing or empty list")
            return []
        rows = []
        for k, r in enumerate(raw):
            if isinstance(r, dict):
                rows.append(r)
            else:
                self.out.add(f"{key}[{k}]", "", "expected an object")
        return rows

    def _code(self, raw: dict[str, Any], key: str, where: str, seen: set[str]) -> str | None:
        code = raw.get(key)
        if not isinstance(code, str) or not _CODE.match(code):
            self.out.add(where, key, f"{code!r} is not a code (letters, digits, - _ .)")
            return None
        if code in seen:
            self.out.add(where, key, f"duplicate code {code!r}")
            return None
        seen.add(code)
        return code

    def _grades(self) -> list[RiskGrade]:
        grades, seen = [], set()
        for k, raw in enumerate(self._list("risk_grades")):
            where = f"risk_grades[{k}]"
            code = self._code(raw, "grade", where, seen)
            mult = raw.get("multiplier")
            try:
                value = Fraction(str(mult)) if isinstance(mult, int | float | str) and \
                    not isinstance(mult, bool) else None
            except (ValueError, ZeroDivisionError):
                value = None
            if value is None or value <= 0 or value > MAX_MULTIPLIER or \
                    value.denominator > MAX_MULTIPLIER_DENOMINATOR:
                self.out.add(code or where, "multiplier",
                             f"{mult!r} must be a number > 0 and ≤ {MAX_MULTIPLIER} "
                             f"(a fraction with denominator ≤ {MAX_MULTIPLIER_DENOMINATOR})")
                continue
            if code:
                grades.append(RiskGrade(code, str(raw.get("name") or code), value))
        return grades

    def _fields(self) -> list[PatrolField]:
        fields, seen = [], set()
        for k, raw in enumerate(self._list("fields")):
            code = self._code(raw, "code", f"fields[{k}]", seen)
            if not raw.get("name"):
                self.out.add(code or f"fields[{k}]", "name", "missing")
            if code:
                fields.append(PatrolField(code, str(raw.get("name") or ""),
                                          str(raw.get("code_prefix") or ""),
                                          str(raw.get("source") or "")))
        return fields

    def _types(self) -> dict[str, ObjectType]:
        types, seen = {}, set()
        for k, raw in enumerate(self._list("object_types")):
            code = self._code(raw, "code", f"object_types[{k}]", seen)
            try:
                opening = parse_window(raw.get("opening"))
            except ValueError as exc:
                self.out.add(code or f"object_types[{k}]", "opening", str(exc))
                continue
            if code:
                types[code] = ObjectType(code, str(raw.get("name") or code), opening)
        return types

    def _items(self, grades: list[RiskGrade], fields: set[str], types: set[str], setup: int
               ) -> list[PatrolItem]:
        items, seen = [], set()
        for k, raw in enumerate(self._list("items")):
            code = self._code(raw, "code", f"items[{k}]", seen)
            item = self._item(raw, code or f"items[{k}]", grades, fields, types, setup)
            if code and item is not None:
                items.append(item)
        return items

    def _item(self, raw: dict[str, Any], rid: str, grades: list[RiskGrade], fields: set[str],
              types: set[str], setup: int) -> PatrolItem | None:
        out, before = self.out, len(self.out)
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            out.add(rid, "name", "missing")
        fld = raw.get("field")
        if fld not in fields:
            out.add(rid, "field", f"{fld!r} is not one of the list's fields "
                                  f"({', '.join(sorted(fields))})")
        dep = raw.get("department")
        if dep not in self.departments:
            out.add(rid, "department", f"{dep!r} is not a department of the power catalogue "
                                       f"({', '.join(sorted(self.departments))})")
        otypes = raw.get("object_types")
        if not isinstance(otypes, list) or not otypes:
            out.add(rid, "object_types", "missing or empty list")
            otypes = []
        for t in otypes:
            if t not in types:
                out.add(rid, "object_types", f"{t!r} is not a known object type")
        freq = raw.get("frequency") if isinstance(raw.get("frequency"), dict) else {}
        times, per = freq.get("times"), freq.get("per")
        if not _is_int(times) or times <= 0 or times > MAX_TIMES:
            out.add(rid, "frequency.times",
                    f"{times!r} must be a whole number of visits from 1 to {MAX_TIMES}")
        if per not in PERIOD_MONTHS:
            out.add(rid, "frequency.per", f"{per!r} is not month, quarter or year")
        scaled = raw.get("risk_scaled", False)
        if not isinstance(scaled, bool):
            out.add(rid, "risk_scaled", f"{scaled!r} must be true or false")
        duration = raw.get("duration_min")
        if not _is_int(duration) or duration <= 0:
            out.add(rid, "duration_min", f"{duration!r} must be a whole number of minutes > 0")
        elif duration <= setup:
            out.add(rid, "duration_min", f"{duration} must exceed the visit setup of "
                                         f"{setup} min (the item needs time of its own)")
        spacing = raw.get("min_spacing_days")
        if not _is_int(spacing) or spacing < 0:
            out.add(rid, "min_spacing_days", f"{spacing!r} must be a whole number of days ≥ 0")
        combinable = raw.get("combinable")
        if not isinstance(combinable, bool):
            out.add(rid, "combinable", f"{combinable!r} must be true or false")
        requirement = raw.get("requirement")
        if not isinstance(requirement, str) or not requirement.strip():
            out.add(rid, "requirement", "missing: say what is checked and the standard")
        window = None
        if raw.get("visit_window") is not None:
            try:
                window = parse_window(raw["visit_window"])
            except ValueError as exc:
                out.add(rid, "visit_window", str(exc))
        refs = raw.get("matters", [])
        if not isinstance(refs, list):
            out.add(rid, "matters", "must be a list of matter codes")
            refs = []
        for m in refs:
            if m not in self.matters:
                out.add(rid, "matters", f"{m!r} is not a matter of the power catalogue")
        if len(out) > before:
            return None

        assert per is not None and isinstance(times, int)
        base = Fraction(times, PERIOD_MONTHS[per])
        rates = {g.grade: base * (g.multiplier if scaled else 1) for g in grades}
        top = max(rates.values(), default=base)
        if spacing * top > Fraction(365 * 4 + 1, 48):  # spacing × visits/month > days/month
            out.add(rid, "min_spacing_days",
                    f"{spacing} days cannot fit {float(top):g} visits a month "
                    f"(at most {int(Fraction(365 * 4 + 1, 48) / top)} days at the highest grade)")
            return None
        return PatrolItem(
            code=str(raw["code"]), name=name.strip(), field=fld, department=dep,
            object_types=tuple(otypes), times=times, per=per, risk_scaled=scaled,
            min_spacing_days=spacing, duration_min=duration, combinable=combinable,
            requirement=requirement.strip(), matters=tuple(refs), visit_window=window,
            rates=rates)


def items_table(items: Sequence[PatrolItem]) -> list[dict[str, Any]]:
    """JSON-ready rows of items (for the CLI and the API)."""
    return [i.as_dict() for i in items]
