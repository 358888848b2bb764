"""Input checks at the boundary of the ticket layer: each failure names its field.

Times are the subtle part. Whistle records the whole process as it happens (全过程记录,
河津市赋权增能通知 §(四)10: "坚决防止不即时记录、事后违法补充记录"): an event may carry the time it
happened (``at``, e.g. an officer's device that synced late), but never a time in the future of
the server clock, and never a time before the previous event of the same record. The server
clock time is stored beside it, so any lag between the two stays visible.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dispatch.tickets.errors import TicketError


def utcnow() -> datetime:
    """This process's clock (UTC, microseconds); writes use the store's clock instead (see
    :mod:`dispatch.tickets.store`)."""
    return datetime.now(UTC)


def require_text(value: object, field: str, what: str) -> str:
    """A non-blank string, else TicketError ``field: required (what)``."""
    if not isinstance(value, str) or not value.strip():
        raise TicketError(field, f"required ({what})")
    return value


def optional_text(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise TicketError(field, f"{value!r} is not a non-empty string")
    return value


def check_time(value: object, field: str, now: datetime) -> datetime:
    """An aware datetime not after ``now``, converted to UTC.

    Naive datetimes are refused rather than guessed: a hotline feed in Beijing time and a
    server in UTC would otherwise disagree by eight hours.
    """
    if not isinstance(value, datetime):
        raise TicketError(field, f"{value!r} is not a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise TicketError(field, f"{value.isoformat()} has no time zone; give an offset such as "
                                 "+08:00")
    value = value.astimezone(UTC)
    if value > now:
        raise TicketError(field, f"{value.isoformat()} is in the future (server clock "
                                 f"{now.isoformat()})")
    return value


def check_not_before(at: datetime, previous: datetime | None, field: str, record: str) -> None:
    """Refuse an event dated before the previous event of the same record (back-filling)."""
    if previous is not None and at < previous:
        raise TicketError(field, f"{at.isoformat()} precedes the previous event of {record} "
                                 f"({previous.isoformat()}); events are recorded in order, "
                                 "never back-filled")


def check_lonlat(lon: object, lat: object) -> tuple[float, float]:
    """WGS84 degrees as floats, finite and in range."""
    out = []
    for name, v, bound in (("lon", lon, 180.0), ("lat", lat, 90.0)):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise TicketError(name, f"{v!r} is not a number (WGS84 degrees)")
        f = float(v)
        if not math.isfinite(f) or abs(f) > bound:
            raise TicketError(name, f"{v!r} is outside -{bound:g}..{bound:g} degrees")
        out.append(f)
    return out[0], out[1]


def json_object(value: object, field: str) -> dict[str, Any]:
    """A JSON-encodable mapping with string keys (finite numbers only), copied to a dict."""
    if not isinstance(value, Mapping):
        raise TicketError(field, f"expected a mapping, got {type(value).__name__}")
    out = dict(value)
    for key, v in out.items():
        if not isinstance(key, str):
            raise TicketError(field, f"key {key!r} is not a string")
        try:
            json.dumps(v, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TicketError(f"{field}.{key}", f"cannot be stored as JSON ({exc})") from exc
    return out
