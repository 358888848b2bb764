"""API throughput: ``POST /api/v1/incidents`` under a loopback load, PostGIS and SQLite.

Run: ``python bench/api.py [--requests 2000] [--concurrency 8]
[--postgis postgresql://postgres@127.0.0.1:5432/whistle_test]``.

For each backend it starts ``whistle serve`` (uvicorn, one process) on a free loopback port
against a fresh store (PostGIS: a throw-away schema, dropped afterwards; SQLite: a temp file),
loads the Changshan boundaries, then sends ``--requests`` SYNTHETIC incidents from
``--concurrency`` client threads, each request a full intake: locate, competence, shortlist,
deadline, and a durable ticket write with its audit entry (PostgreSQL commits synchronously by
default). The load is bounded in count and time and stays on 127.0.0.1. Prints sustained
incidents/second and latency p50/p99 per backend, and the in-process decision rate of the same
incidents in this run as the baseline the HTTP + storage overhead is measured against.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
import numpy as np
import psycopg

from dispatch.dispatcher import Dispatcher
from dispatch.incidents import parse_incident
from dispatch.samples import synthetic_incidents
from geo.boundaries import bundled_district

ROOT = Path(__file__).resolve().parent.parent
WHISTLE = str(Path(sys.executable).with_name("whistle"))
TIME_LIMIT_S = 300.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema},public"))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def run_load(base: str, bodies: list[dict], concurrency: int) -> tuple[np.ndarray, float, int]:
    """Send every body once from ``concurrency`` threads; (latencies s, wall s, non-2xx)."""
    lat = np.full(len(bodies), np.nan)
    errors = [0]
    next_i = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + TIME_LIMIT_S

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=30.0) as client:
            while time.perf_counter() < deadline:
                with lock:
                    i = next_i[0]
                    next_i[0] += 1
                if i >= len(bodies):
                    return
                t0 = time.perf_counter()
                r = client.post("/api/v1/incidents", json=bodies[i])
                lat[i] = time.perf_counter() - t0
                if r.status_code not in (200, 201):
                    with lock:
                        errors[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat[~np.isnan(lat)], time.perf_counter() - t0, errors[0]


def serve(url: str, data_dir: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "WHISTLE_DATABASE_URL": url, "WHISTLE_DATA_DIR": data_dir}
    subprocess.run([WHISTLE, "boundaries", "load", str(ROOT / "data/boundaries/changshan")],
                   env=env, check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([WHISTLE, "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("server did not come up")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--postgis", default=os.environ.get(
        "WHISTLE_TEST_POSTGIS_URL", "postgresql://postgres@127.0.0.1:5432/whistle_test"))
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    district = bundled_district("changshan")
    disp = Dispatcher.for_district(district)
    frame = synthetic_incidents(district, sorted(disp.catalogue.matters), args.requests,
                                seed=args.seed, locator=disp.locator)
    run = uuid.uuid4().hex[:8]
    bodies = []
    for row in frame.itertuples(index=False):
        body = {"source": row.source, "external_id": f"{row.external_id}-{run}",
                "matter_code": row.matter_code, "lon": row.lon, "lat": row.lat,
                "reported_at": row.reported_at}
        if row.fine_yuan == row.fine_yuan:
            body["facts"] = {"fine_yuan": row.fine_yuan}
        bodies.append(body)

    models = [parse_incident(b) for b in bodies]
    t0 = time.perf_counter()
    for m in models:
        disp.decide(m)
    inproc = len(models) / (time.perf_counter() - t0)
    print(f"{args.requests:,} SYNTHETIC incidents, {args.concurrency} client threads, loopback")
    print(f"in-process decisions (baseline, no HTTP, no storage): {inproc:,.0f}/s")

    schema = f"bench_api_{run}"
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("sqlite", f"sqlite:///{tmp}/bench.db")]
        try:
            with psycopg.connect(args.postgis, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            targets.insert(0, ("postgis", with_schema(args.postgis, schema)))
        except psycopg.Error as exc:
            print(f"PostGIS not reachable ({exc}); measuring SQLite only")
        try:
            for name, url in targets:
                proc, base = serve(url, tmp)
                try:
                    lat, wall, errors = run_load(base, bodies, args.concurrency)
                finally:
                    proc.terminate()
                    proc.wait(timeout=10)
                p50, p99 = np.percentile(lat, [50, 99]) * 1e3
                rate = len(lat) / wall
                print(f"{name:<8} {rate:8,.0f} incidents/s sustained   p50 {p50:6.1f} ms   "
                      f"p99 {p99:6.1f} ms   errors {errors}   ({rate / inproc:.2f}x of "
                      "in-process)")
        finally:
            if targets[0][0] == "postgis":
                with psycopg.connect(args.postgis, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return 0


if __name__ == "__main__":
    sys.exit(main())
