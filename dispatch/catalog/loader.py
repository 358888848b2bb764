"""Read a power catalogue file (JSON) and validate it against its district.

Validation collects every problem before raising one :class:`CatalogError`, each naming the
record and field: a catalogue with one wrong township code would otherwise send every incident
of that township to the wrong team, so nothing is loaded until the whole file is consistent.

File layout (``format: whistle-catalog/1``)::

    {"district": "changshan", "version": "...", "platform_office": {...},
     "departments": [{"code", "name", "name_en"}],
     "matters": [{"code", "name", "domain", "department", "legal_basis", "penalty_basis",
                  "discretion"}],
     "management_areas": [{"code", "name", "patrol_unit", "patrol_unit_name",
                           "case_township"}],
     "records": [  # append-only, in recording order
       {"type": "grant", "id", "recorded_at", "matters": [...], "target": {"class": ...} |
        {"township": ...}, "mode": "granted" | "entrusted", "effective_from",
        "transition_months", "agreement": {...} (entrusted only), "document"},
       {"type": "recall", "id", "recorded_at", "grant", "matters" (optional), "effective"},
       {"type": "correction", "id", "recorded_at", "corrects", "set": {...}, "reason"}]}
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from dispatch.catalog.models import (
    DEFAULT_TRANSITION_MONTHS,
    DOMAINS,
    MODES,
    Agreement,
    CatalogError,
    CatalogLog,
    CatalogProblem,
    CorrectionRecord,
    Department,
    GrantRecord,
    ManagementArea,
    Matter,
    PlatformOffice,
    RecallRecord,
    Record,
    Target,
)
from dispatch.catalog.service import Catalogue, local_instant, replay
from geo.boundaries import BoundaryError, District, bundled_district
from geo.records import ProblemList, read_json_object

FORMAT = "whistle-catalog/1"
CATALOG_DIR = Path(__file__).resolve().parents[2] / "data" / "catalog"
GRANT_CORRECTABLE = ("effective_from", "transition_months", "target", "agreement", "document",
                     "void")
RECALL_CORRECTABLE = ("effective", "void")


class _Problems(ProblemList):
    def __init__(self) -> None:
        super().__init__(CatalogProblem)


def read_document(path: Path | str) -> dict[str, Any]:
    """The raw JSON object of a catalogue file."""
    return read_json_object(path, "catalogue file", CatalogError)


def _text(raw: dict[str, Any], key: str, rid: str, out: _Problems, *, required: bool = True
          ) -> str:
    value = raw.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            out.add(rid, key, "missing")
        return ""
    if not isinstance(value, str):
        out.add(rid, key, f"expected text, got {type(value).__name__}")
        return ""
    return value.strip()


def _date(value: Any, rid: str, key: str, out: _Problems) -> date | None:
    if value is None:
        out.add(rid, key, "missing")
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        out.add(rid, key, f"{value!r} is not a date (YYYY-MM-DD)")
        return None


def _instant(value: Any, rid: str, key: str, out: _Problems) -> datetime | None:
    if value is None:
        out.add(rid, key, "missing")
        return None
    try:
        return local_instant(datetime.fromisoformat(str(value)))
    except ValueError:
        out.add(rid, key, f"{value!r} is not a date or date-time (ISO 8601)")
        return None


class _Parser:
    """Parses one document against one district, collecting problems instead of stopping."""

    def __init__(self, doc: dict[str, Any], district: District):
        self.doc = doc
        self.district = district
        self.out = _Problems()
        self.classes = {t.town_class for t in district.townships}
        self.townships = {t.code: t.code for t in district.townships}
        self.townships.update({t.name: t.code for t in district.townships})
        self.broken: set[str] = set()  # records already reported; do not re-report references

    def run(self) -> CatalogLog:
        doc, out = self.doc, self.out
        if doc.get("format", FORMAT) != FORMAT:
            out.add("catalogue", "format", f"{doc.get('format')!r} is not {FORMAT!r}")
        district_code = _text(doc, "district", "catalogue", out)
        if district_code and district_code != self.district.code:
            out.add("catalogue", "district",
                    f"catalogue is for {district_code!r}, not district {self.district.code!r}")
        version = _text(doc, "version", "catalogue", out)
        domains = self._domains()
        departments = self._departments()
        matters = self._matters(domains, departments)
        office = self._platform_office()
        areas = self._areas()
        default_months = doc.get("default_transition_months", DEFAULT_TRANSITION_MONTHS)
        if not isinstance(default_months, int) or isinstance(default_months, bool) \
                or default_months < 0:
            out.add("catalogue", "default_transition_months",
                    f"{default_months!r} is not a whole number of months >= 0")
            default_months = DEFAULT_TRANSITION_MONTHS
        records = self._records(matters, departments, default_months)
        log = CatalogLog(
            district=district_code or self.district.code, version=version or "unversioned",
            departments=departments, matters=matters, records=records,
            platform_office=office, management_areas=areas, domains=domains,
            team_suffix=str(doc.get("team_suffix") or "综合行政执法队"),
            title=str(doc.get("title") or ""), note=str(doc.get("_note") or ""),
        )
        if not out:  # replay only a structurally sound log; its findings name records too
            out.extend(replay(log)[2])
        if out:
            raise CatalogError(list(out))
        return log

    def _list(self, key: str, *, required: bool = True) -> list[dict[str, Any]]:
        raw = self.doc.get(key)
        if raw is None:
            if required:
                self.out.add("catalogue", key, "missing")
            return []
        if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
            self.out.add("catalogue", key, "expected a list of objects")
            return []
        return raw

    def _domains(self) -> dict[str, str]:
        raw = self.doc.get("domains")
        if raw is None:
            return dict(DOMAINS)
        if not isinstance(raw, dict) or not raw:
            self.out.add("catalogue", "domains", "expected an object {Chinese name: English}")
            return dict(DOMAINS)
        return {str(k): str(v) for k, v in raw.items()}

    def _departments(self) -> dict[str, Department]:
        out: dict[str, Department] = {}
        for i, raw in enumerate(self._list("departments")):
            rid = f"departments[{i}]"
            code = _text(raw, "code", rid, self.out)
            rid = f"department {code}" if code else rid
            name = _text(raw, "name", rid, self.out)
            if code in out:
                self.out.add(rid, "code", "duplicate department code")
            elif code:
                out[code] = Department(code, name, _text(raw, "name_en", rid, self.out,
                                                          required=False))
        return out

    def _matters(self, domains: dict[str, str], departments: dict[str, Department]
                 ) -> dict[str, Matter]:
        out: dict[str, Matter] = {}
        for i, raw in enumerate(self._list("matters")):
            rid = f"matters[{i}]"
            code = _text(raw, "code", rid, self.out)
            rid = f"matter {code}" if code else rid
            name = _text(raw, "name", rid, self.out)
            domain = _text(raw, "domain", rid, self.out)
            if domain and domain not in domains:
                self.out.add(rid, "domain", f"{domain!r} is not one of the catalogue's "
                             f"{len(domains)} domains")
            dept: str | None = None
            if "department" not in raw:
                self.out.add(rid, "department",
                             "missing (use null for a matter whose owner is still unclear)")
            elif raw["department"] is not None:
                dept = str(raw["department"])
                if dept not in departments:
                    self.out.add(rid, "department", f"unknown department {dept!r}")
            if code in out:
                self.out.add(rid, "code", "duplicate matter code")
            elif code:
                out[code] = Matter(
                    code=code, name=name, domain=domain, department=dept,
                    legal_basis=_text(raw, "legal_basis", rid, self.out, required=False),
                    penalty_basis=_text(raw, "penalty_basis", rid, self.out, required=False),
                    discretion=_text(raw, "discretion", rid, self.out, required=False),
                    note=_text(raw, "note", rid, self.out, required=False))
        return out

    def _platform_office(self) -> PlatformOffice:
        raw = self.doc.get("platform_office")
        if raw is None:
            return PlatformOffice("platform_office", "综合执法平台办公室")
        if not isinstance(raw, dict):
            self.out.add("catalogue", "platform_office", "expected an object")
            return PlatformOffice("platform_office", "综合执法平台办公室")
        code = _text(raw, "code", "platform_office", self.out)
        name = _text(raw, "name", "platform_office", self.out)
        en = _text(raw, "name_en", "platform_office", self.out, required=False)
        return PlatformOffice(code, name, en or "platform office")

    def _township(self, value: Any, rid: str, key: str) -> str:
        code = self.townships.get(str(value)) if value is not None else None
        if code is None:
            self.out.add(rid, key, f"{value!r} is not a township of district "
                         f"{self.district.code}")
            return ""
        return code

    def _areas(self) -> dict[str, ManagementArea]:
        out: dict[str, ManagementArea] = {}
        for i, raw in enumerate(self._list("management_areas", required=False)):
            rid = f"management_areas[{i}]"
            code = _text(raw, "code", rid, self.out)
            rid = f"management area {code}" if code else rid
            if code in self.townships:
                self.out.add(rid, "code", "collides with a township code or name")
            area = ManagementArea(
                code=code, name=_text(raw, "name", rid, self.out),
                patrol_unit=_text(raw, "patrol_unit", rid, self.out),
                patrol_unit_name=_text(raw, "patrol_unit_name", rid, self.out),
                case_township=self._township(raw.get("case_township"), rid, "case_township"),
                note=_text(raw, "note", rid, self.out, required=False))
            if code in out:
                self.out.add(rid, "code", "duplicate management area code")
            elif code:
                out[code] = area
        return out

    def _target(self, raw: Any, rid: str, key: str = "target") -> Target | None:
        if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in (
                "class", "township"):
            self.out.add(rid, key, 'expected {"class": <town class>} or {"township": <code>}')
            return None
        kind, value = next(iter(raw.items()))
        if kind == "class":
            if value not in self.classes:
                self.out.add(rid, key, f"unknown town class {value!r} (district "
                             f"{self.district.code} has {', '.join(sorted(self.classes))})")
                return None
            return Target("class", str(value))
        code = self._township(value, rid, key)
        return Target("township", code) if code else None

    def _agreement(self, raw: Any, rid: str, departments: dict[str, Department],
                   key: str = "agreement") -> Agreement | None:
        if not isinstance(raw, dict):
            self.out.add(rid, key, "an entrusted (委托) grant needs an agreement object with "
                         "department, basis, scope, term_start, term_end and duties")
            return None
        before = len(self.out)
        dept = _text(raw, "department", rid, self.out)
        if dept and dept not in departments:
            self.out.add(rid, f"{key}.department", f"unknown department {dept!r}")
        fields = {k: _text(raw, k, rid, self.out) for k in ("basis", "scope", "duties")}
        start = _date(raw.get("term_start"), rid, f"{key}.term_start", self.out)
        end = _date(raw.get("term_end"), rid, f"{key}.term_end", self.out)
        if start and end and end < start:
            self.out.add(rid, f"{key}.term_end", f"{end} is before term_start {start}")
        if len(self.out) > before or start is None or end is None:
            return None
        return Agreement(department=dept, term_start=start, term_end=end,
                         number=_text(raw, "number", rid, self.out, required=False), **fields)

    def _months(self, raw: Any, rid: str, key: str) -> int | None:
        if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
            self.out.add(rid, key, f"{raw!r} is not a whole number of months >= 0")
            return None
        return raw

    def _records(self, matters: dict[str, Matter], departments: dict[str, Department],
                 default_months: int) -> tuple[Record, ...]:
        out: list[Record] = []
        seen: dict[str, Record] = {}
        ids: set[str] = set()
        last: datetime | None = None
        for i, raw in enumerate(self._list("records")):
            rid = str(raw.get("id") or f"records[{i}]")
            if "id" not in raw:
                self.out.add(rid, "id", "missing")
            elif rid in ids:
                self.out.add(rid, "id", f"duplicate record id (records[{i}])")
                continue
            ids.add(rid)
            kind = raw.get("type")
            recorded = _instant(raw.get("recorded_at"), rid, "recorded_at", self.out)
            if recorded and last and recorded < last:
                self.out.add(rid, "recorded_at",
                             f"{recorded} is earlier than the record before it; the log is "
                             "append-only, so add records at the end in recording order")
            last = recorded or last
            before = len(self.out)
            if kind == "grant":
                rec: Record | None = self._grant(raw, rid, recorded, matters, departments,
                                                 default_months)
            elif kind == "recall":
                rec = self._recall(raw, rid, recorded, seen)
            elif kind == "correction":
                rec = self._correction(raw, rid, recorded, seen, departments)
            else:
                self.out.add(rid, "type", f"{kind!r} is not grant, recall or correction")
                rec = None
            if rec is not None and len(self.out) == before and recorded is not None:
                seen[rid] = rec
                out.append(rec)
            else:
                self.broken.add(rid)
        return tuple(out)

    def _grant(self, raw: dict[str, Any], rid: str, recorded: datetime | None,
               matters: dict[str, Matter], departments: dict[str, Department],
               default_months: int) -> GrantRecord | None:
        codes = raw.get("matters")
        if not isinstance(codes, list) or not codes:
            self.out.add(rid, "matters", "expected a non-empty list of matter codes")
            codes = []
        codes = [str(c) for c in codes]
        for c in codes:
            if c not in matters:
                self.out.add(rid, "matters", f"unknown matter {c!r}")
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            self.out.add(rid, "matters", f"listed twice: {', '.join(dupes)}")
        mode = raw.get("mode", "granted")
        if mode not in MODES:
            self.out.add(rid, "mode", f"{mode!r} is not one of {', '.join(MODES)}")
        target = self._target(raw.get("target"), rid)
        effective = _date(raw.get("effective_from"), rid, "effective_from", self.out)
        months_raw = raw.get("transition_months",
                             default_months if mode == "granted" else 0)
        months = self._months(months_raw, rid, "transition_months")
        agreement = None
        if mode == "entrusted":
            agreement = self._agreement(raw.get("agreement"), rid, departments)
            if agreement is not None:
                for c in codes:
                    owner = matters[c].department if c in matters else None
                    if c in matters and owner != agreement.department:
                        self.out.add(rid, "matters",
                                     f"{c} is owned by {owner or 'no department'}, so "
                                     f"{agreement.department} cannot entrust it")
                if effective and effective > agreement.term_end:
                    self.out.add(rid, "effective_from", f"{effective} is after the agreement "
                                 f"term ends ({agreement.term_end})")
        elif raw.get("agreement") is not None:
            self.out.add(rid, "agreement", "only an entrusted (委托) grant carries an "
                         "agreement; set mode to entrusted or drop the agreement")
        if target is None or effective is None or months is None or recorded is None \
                or mode not in MODES:
            return None
        return GrantRecord(id=rid, recorded_at=recorded, matters=tuple(codes), target=target,
                           mode=mode, effective_from=effective, transition_months=months,
                           agreement=agreement, document=str(raw.get("document") or ""),
                           note=str(raw.get("note") or ""))

    def _recall(self, raw: dict[str, Any], rid: str, recorded: datetime | None,
                seen: dict[str, Record]) -> RecallRecord | None:
        gid = str(raw.get("grant") or "")
        grant = seen.get(gid)
        if gid in self.broken:
            return None
        if not isinstance(grant, GrantRecord):
            self.out.add(rid, "grant", f"{gid!r} is not an earlier grant record" if gid
                         else "missing")
        codes = raw.get("matters") or []
        if not isinstance(codes, list):
            self.out.add(rid, "matters", "expected a list of matter codes")
            codes = []
        codes = [str(c) for c in codes]
        if isinstance(grant, GrantRecord):
            for c in codes:
                if c not in grant.matters:
                    self.out.add(rid, "matters", f"{c!r} is not a matter of grant {gid}")
        effective = _date(raw.get("effective"), rid, "effective", self.out)
        if effective is None or recorded is None or not isinstance(grant, GrantRecord):
            return None
        return RecallRecord(id=rid, recorded_at=recorded, grant=gid, matters=tuple(codes),
                            effective=effective, document=str(raw.get("document") or ""),
                            reason=str(raw.get("reason") or ""))

    def _correction(self, raw: dict[str, Any], rid: str, recorded: datetime | None,
                    seen: dict[str, Record], departments: dict[str, Department]
                    ) -> CorrectionRecord | None:
        target_id = str(raw.get("corrects") or "")
        target = seen.get(target_id)
        reason = _text(raw, "reason", rid, self.out)
        changes_raw = raw.get("set")
        if target_id in self.broken:
            return None
        if not isinstance(target, GrantRecord | RecallRecord):
            self.out.add(rid, "corrects", f"{target_id!r} is not an earlier grant or recall"
                         if target_id else "missing")
            return None
        if not isinstance(changes_raw, dict) or not changes_raw:
            self.out.add(rid, "set", "expected an object of fields to correct")
            return None
        allowed = GRANT_CORRECTABLE if isinstance(target, GrantRecord) else RECALL_CORRECTABLE
        changes: dict[str, Any] = {}
        for key, value in changes_raw.items():
            field = f"set.{key}"
            if key not in allowed:
                self.out.add(rid, field, f"cannot correct {key!r} of a {target.kind}; "
                             f"allowed: {', '.join(allowed)}")
            elif key in ("effective_from", "effective"):
                changes[key] = _date(value, rid, field, self.out)
            elif key == "transition_months":
                changes[key] = self._months(value, rid, field)
            elif key == "target":
                changes[key] = self._target(value, rid, field)
            elif key == "agreement":
                if isinstance(target, GrantRecord) and target.mode != "entrusted":
                    self.out.add(rid, field, "only an entrusted grant has an agreement")
                changes[key] = self._agreement(value, rid, departments, field)
            elif key == "void":
                if not isinstance(value, bool):
                    self.out.add(rid, field, "expected true or false")
                changes[key] = bool(value)
            else:
                changes[key] = str(value)
        if any(v is None for v in changes.values()) or recorded is None or not reason:
            return None
        return CorrectionRecord(id=rid, recorded_at=recorded, corrects=target_id,
                                changes=changes, reason=reason)


def parse_catalog(doc: dict[str, Any], district: District) -> CatalogLog:
    """Validate a catalogue document against ``district``; raise :class:`CatalogError`."""
    return _Parser(doc, district).run()


def load_catalog(path: Path | str, district: District | None = None,
                 known_at: date | datetime | None = None) -> Catalogue:
    """Read, validate and index a catalogue file.

    Parameters
    ----------
    path
        The JSON file.
    district
        The district its grants name; default: the bundled district the file names.
    known_at
        Replay only records recorded up to this instant (default: all of them).
    """
    doc = read_document(path)
    if district is None:
        try:
            district = bundled_district(str(doc.get("district") or ""))
        except BoundaryError as exc:
            raise CatalogError(f"catalogue.district: {exc}") from exc
    log = parse_catalog(doc, district)
    return Catalogue(log, district, local_instant(known_at) if known_at is not None else None)


def bundled_catalog_path(name: str = "changshan_sample") -> Path:
    """Path of a catalogue that ships with Whistle under ``data/catalog/``."""
    path = CATALOG_DIR / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in CATALOG_DIR.glob("*.json")) if CATALOG_DIR.is_dir() else []
        raise CatalogError(f"no bundled catalogue {name!r}; known: {', '.join(known) or 'none'}")
    return path
