"""Background jobs for solves that take seconds: submit → id → status → result.

Solvers run on a small thread pool inside the server process (OR-Tools and CP-SAT release the
GIL while they search), so an HTTP request never waits on a solve. Jobs live in memory: they
are recomputable from their parameters, and a restarted server simply has no jobs. Finished
jobs are kept until ``keep`` newer ones have finished.
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

JobState = Literal["queued", "running", "done", "failed"]
# A job's work gets a progress reporter and returns its JSON result, or (result, artifact) to
# keep a Python object (e.g. a calendar plan for its CSV/XLSX exports) beside it.
Work = Callable[[Callable[[str, float | None], None]], dict[str, Any] | tuple[dict[str, Any], Any]]


class JobInputError(ValueError):
    """The job's parameters were refused; ``field`` names the parameter."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass
class Job:
    """One solve: its kind, parameters, state, progress lines and result or error."""

    id: str
    kind: str
    params: dict[str, Any]
    state: JobState = "queued"
    submitted_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    progress: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    artifact: Any = None
    error: dict[str, str] | None = None

    def status(self) -> dict[str, Any]:
        now = time.time()
        return {
            "id": self.id, "kind": self.kind, "state": self.state, "params": self.params,
            "submitted_at": self.submitted_at, "started_at": self.started_at,
            "finished_at": self.finished_at,
            "elapsed_s": round((self.finished_at or now) - (self.started_at or now), 3),
            "progress": self.progress[-20:], "error": self.error,
            "result_url": f"/api/v1/plans/jobs/{self.id}/result" if self.state == "done" else None,
        }


class JobRunner:
    """Runs jobs on ``workers`` threads and remembers the last ``keep`` finished ones."""

    def __init__(self, workers: int = 1, keep: int = 100) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="whistle-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self.keep = keep

    def submit(self, kind: str, params: dict[str, Any], work: Work) -> Job:
        job = Job(id=uuid.uuid4().hex[:12], kind=kind, params=params)
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Work) -> None:
        job.state, job.started_at = "running", time.time()

        def report(message: str, value: float | None = None) -> None:
            job.progress.append({"t": round(time.time() - (job.started_at or 0), 2),
                                 "message": message, "value": value})

        try:
            out = work(report)
            job.result, job.artifact = out if isinstance(out, tuple) else (out, None)
            job.state = "done"
        except JobInputError as exc:
            job.error = {"field": exc.field, "message": exc.message}
            job.state = "failed"
        except Exception as exc:  # a solver bug must not take the server down
            job.error = {"field": "job", "message": f"{type(exc).__name__}: {exc}",
                         "trace": traceback.format_exc(limit=5)}
            job.state = "failed"
        finally:
            job.finished_at = time.time()
            self._trim()

    def _trim(self) -> None:
        with self._lock:
            finished = [k for k, j in self._jobs.items() if j.state in ("done", "failed")]
            for k in finished[: max(0, len(finished) - self.keep)]:
                del self._jobs[k]

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def wait(self, job_id: str, timeout_s: float = 60.0) -> Job | None:
        """Block until the job finishes (tests and scripts); None if unknown."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            job = self.get(job_id)
            if job is None or job.state in ("done", "failed"):
                return job
            time.sleep(0.02)
        return self.get(job_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
