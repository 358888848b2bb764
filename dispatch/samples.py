"""Synthetic incidents for replay tests and benchmarks (SYNTHETIC: not real tickets).

No historical 12345 data of Changshan is public, so replay is exercised on incidents drawn
from a seed: points inside the real township polygons (denser in the three streets, where
most hotline tickets come from), matters from the power catalogue, times spread over a year,
and a few fines at or above the ¥50,000 major-penalty threshold.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from geo.boundaries import District
from geo.locate import Locator

CHINA_TZ = timezone(timedelta(hours=8))
SOURCES = ("hotline_12345", "grid", "patrol", "digital_city")
SOURCE_SHARE = (0.55, 0.25, 0.1, 0.1)
STREET_SHARE = 0.6  # share of incidents in 街道 (urban streets)


def synthetic_incidents(district: District, matter_codes: list[str], n: int, seed: int = 12345,
                        start: datetime = datetime(2025, 1, 1, tzinfo=CHINA_TZ),
                        days: int = 365, locator: Locator | None = None) -> pd.DataFrame:
    """``n`` incidents with columns source, external_id, matter_code, lon, lat, reported_at
    (ISO 8601, +08:00) and fine_yuan (NaN when not assessed); same seed, same frame."""
    rng = np.random.default_rng(seed)
    locator = locator or Locator(district)
    streets = [i for i, t in enumerate(district.townships) if t.kind == "街道"]
    weights = np.array([STREET_SHARE / len(streets) if i in streets
                        else (1 - STREET_SHARE) / (len(district.townships) - len(streets))
                        for i in range(len(district.townships))])
    want = rng.choice(len(district.townships), size=n, p=weights)
    lon = np.empty(n)
    lat = np.empty(n)
    for i in range(len(district.townships)):
        idx = np.flatnonzero(want == i)
        minx, miny, maxx, maxy = district.townships[i].geometry.bounds
        got: list[np.ndarray] = []
        need = idx.size
        while need > 0:  # rejection sampling, vectorised per round
            # Rounded before the check, so the published 6-decimal point is the one located.
            x = np.round(rng.uniform(minx, maxx, need * 3 + 16), 6)
            y = np.round(rng.uniform(miny, maxy, need * 3 + 16), 6)
            keep = locator.township_index(x, y) == i
            got.append(np.column_stack([x[keep], y[keep]])[:need])
            need -= len(got[-1])
        pts = np.concatenate(got) if got else np.empty((0, 2))
        lon[idx], lat[idx] = pts[:, 0], pts[:, 1]
    seconds = rng.uniform(0, days * 86400, n)
    times = [(start + timedelta(seconds=float(s))).isoformat(timespec="seconds")
             for s in np.sort(seconds)]
    fines = np.where(rng.random(n) < 0.03, rng.choice([20_000, 50_000, 80_000], n), np.nan)
    sources = rng.choice(SOURCES, size=n, p=SOURCE_SHARE)
    return pd.DataFrame({
        "source": sources,
        "external_id": [f"SYN-{seed}-{k:07d}" for k in range(n)],
        "matter_code": rng.choice(matter_codes, size=n),
        "lon": lon, "lat": lat,
        "reported_at": times, "fine_yuan": fines,
    })
