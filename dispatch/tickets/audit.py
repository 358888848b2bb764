"""The tamper-evident audit log: one global hash chain over every recorded event.

Every change of a ticket or a whistle summons appends one :class:`AuditEntry`. Entries are
numbered ``seq`` = 1, 2, 3, ... without gaps and each stores the hash of the one before it,
so the log is a single chain over all records. One global chain rather than one per ticket:
deleting every event of a ticket (and the ticket) leaves a gap in ``seq`` and a broken link,
which a per-ticket chain would not show. The price is that writers take turns appending
(a table lock on PostGIS, the write lock on SQLite), which a township's event rate allows.

The hash of an entry is ``sha256`` (hex) over the UTF-8 bytes of a canonical JSON object of
these keys: seq, entity, entity_id, action, from_state, to_state, actor, actor_role, reason,
occurred_at, recorded_at, data, prev_hash — keys sorted, no whitespace (separators ``,`` and
``:``), non-ASCII characters literal, times as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC,
numbers as Python's :mod:`json` writes them. The first entry's ``prev_hash`` is 64 zeros.
Anyone can recompute it from an export with a few lines in any language.

The database also refuses UPDATE and DELETE on the audit table (triggers on both
backends), so tampering needs someone who can drop triggers; :func:`ChainVerifier` then
finds the first entry that no longer fits. What a chain cannot show is a cut of its newest
entries or a rewrite of everything from some entry on: record the head (``seq`` and hash
that ``verify`` prints) somewhere else, e.g. in the weekly report, and pass it back as an
*anchor* to check that the chain still contains it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dispatch.tickets.models import AuditEntry

GENESIS = "0" * 64
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def time_text(t: datetime) -> str:
    """The canonical text of a time: UTC with microseconds and a ``Z``."""
    return t.astimezone(UTC).strftime(TIME_FORMAT)


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, literal non-ASCII, finite numbers only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def hashed_fields(seq: int, entity: str, entity_id: int, action: str, from_state: str | None,
                  to_state: str | None, actor: str, actor_role: str | None, reason: str,
                  occurred_at: datetime, recorded_at: datetime, data: Mapping[str, Any],
                  prev_hash: str) -> dict[str, Any]:
    """The object whose canonical JSON is hashed (see the module docstring)."""
    return {"seq": seq, "entity": entity, "entity_id": entity_id, "action": action,
            "from_state": from_state, "to_state": to_state, "actor": actor,
            "actor_role": actor_role, "reason": reason,
            "occurred_at": time_text(occurred_at), "recorded_at": time_text(recorded_at),
            "data": dict(data), "prev_hash": prev_hash}


def digest(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


def entry_hash(e: AuditEntry) -> str:
    """The hash ``e`` should carry, recomputed from its content and ``prev_hash``."""
    return digest(hashed_fields(e.seq, e.entity, e.entity_id, e.action, e.from_state,
                                e.to_state, e.actor, e.actor_role, e.reason, e.occurred_at,
                                e.recorded_at, e.data, e.prev_hash))


@dataclass(frozen=True)
class AuditProblem:
    """The first thing found wrong: at chain entry ``seq`` (None for a record-level finding)."""

    kind: str  # gap, prev_hash, hash, anchor, unrecorded, state, missing_record
    message: str
    seq: int | None = None
    entity: str | None = None
    entity_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "seq": self.seq,
                "entity": self.entity, "entity_id": self.entity_id}


@dataclass(frozen=True)
class AuditReport:
    """Outcome of a walk over the chain: ``entries`` checked up to the first problem, if any."""

    entries: int
    head_seq: int
    head_hash: str
    problem: AuditProblem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        if self.problem is None:
            return f"ok, {self.entries} entries (head {self.head_seq}:{self.head_hash})"
        return f"audit log broken: {self.problem.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "head_seq": self.head_seq,
                "head_hash": self.head_hash,
                "problem": self.problem.as_dict() if self.problem else None}


def _short(h: str) -> str:
    return h[:12] + "…" if len(h) > 12 else h


@dataclass
class ChainVerifier:
    """Feed entries in ``seq`` order; stops at the first broken link.

    Besides the links it replays the states the entries record, so the caller can compare
    them with the stored records (a state changed behind the log's back shows up there).

    Parameters
    ----------
    anchor
        ``(seq, hash)`` of a head recorded earlier; the chain must still hold it.
    """

    anchor: tuple[int, str] | None = None
    count: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problem: AuditProblem | None = None
    #: (entity, id) -> last state recorded; ("summons_department", id, code) for departments.
    states: dict[tuple[Any, ...], str] = field(default_factory=dict)

    def feed(self, e: AuditEntry) -> bool:
        """Check one entry; False (and ``problem`` set) when the chain breaks here."""
        if self.problem is not None:
            return False
        where = f"entry {e.seq} ({e.entity} {e.entity_id}, {e.action})"
        expected_seq = self.head_seq + 1
        if e.seq != expected_seq:
            what = (f"entries {expected_seq}–{e.seq - 1} are missing" if e.seq > expected_seq
                    else f"sequence goes back from {self.head_seq} to {e.seq}")
            self.problem = AuditProblem("gap", f"{where}: {what}", e.seq, e.entity, e.entity_id)
            return False
        if e.prev_hash != self.head_hash:
            self.problem = AuditProblem(
                "prev_hash", f"{where}: prev_hash {_short(e.prev_hash)} does not match the hash "
                             f"of entry {self.head_seq} ({_short(self.head_hash)})",
                e.seq, e.entity, e.entity_id)
            return False
        computed = entry_hash(e)
        if e.hash != computed:
            self.problem = AuditProblem(
                "hash", f"{where}: content does not match its hash (stored {_short(e.hash)}, "
                        f"recomputed {_short(computed)}): the entry was altered",
                e.seq, e.entity, e.entity_id)
            return False
        if self.anchor is not None and e.seq == self.anchor[0] and e.hash != self.anchor[1]:
            self.problem = AuditProblem(
                "anchor", f"{where}: hash {_short(e.hash)} differs from the recorded anchor "
                          f"{_short(self.anchor[1])}: the chain was rewritten from here or "
                          "earlier", e.seq, e.entity, e.entity_id)
            return False
        self.count += 1
        self.head_seq, self.head_hash = e.seq, e.hash
        self._replay(e)
        return True

    def _replay(self, e: AuditEntry) -> None:
        department = e.data.get("department") if e.entity == "summons" else None
        if department is not None:
            if e.to_state is not None:
                self.states[("summons_department", e.entity_id, department)] = e.to_state
            return
        if e.to_state is not None:
            self.states[(e.entity, e.entity_id)] = e.to_state
        if e.entity == "summons" and e.action == "summons.raise":
            for d in e.data.get("departments", ()):
                self.states[("summons_department", e.entity_id, d["department"])] = "summoned"

    def finish(self) -> AuditReport:
        """The report; checks that the anchor, if given, was reached."""
        if (self.problem is None and self.anchor is not None
                and self.head_seq < self.anchor[0]):
            self.problem = AuditProblem(
                "anchor", f"the chain ends at entry {self.head_seq} but the recorded anchor is "
                          f"entry {self.anchor[0]}: newer entries were cut off", self.anchor[0])
        return AuditReport(self.count, self.head_seq, self.head_hash, self.problem)


def compare_states(replayed: Mapping[tuple[Any, ...], str],
                   stored: Mapping[tuple[Any, ...], str]) -> AuditProblem | None:
    """First disagreement between the states the log replays and the stored records."""
    def name(key: tuple[Any, ...]) -> tuple[str, str, int]:
        if key[0] == "summons_department":
            return f"department {key[2]} of summons {key[1]}", "summons", key[1]
        return f"{key[0]} {key[1]}", key[0], key[1]

    for key in sorted(stored, key=lambda k: (k[0], k[1], k[2:])):
        label, entity, eid = name(key)
        if key not in replayed:
            return AuditProblem("unrecorded", f"{label} is stored as {stored[key]!r} but has no "
                                              "entry in the audit log", None, entity, eid)
        if replayed[key] != stored[key]:
            return AuditProblem("state", f"{label} is stored as {stored[key]!r} but the audit "
                                         f"log ends at {replayed[key]!r}: changed outside the "
                                         "log", None, entity, eid)
    for key in sorted(set(replayed) - set(stored), key=lambda k: (k[0], k[1], k[2:])):
        label, entity, eid = name(key)
        return AuditProblem("missing_record", f"{label} has audit entries but is not stored "
                                              "(deleted outside the log)", None, entity, eid)
    return None
