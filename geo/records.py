"""Validation findings of data files, shared by every loader (catalogue, teams, planner data).

Loaders check a whole file before refusing it and report every finding at once, each naming
the record and the field, so whoever maintains the file can fix it in one pass. This module
holds the one shape those findings take, the error that carries them, and the JSON reader
every loader starts from. Subclasses name their subject ("the power catalogue", ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class RecordProblem:
    """One validation finding: which record, which field, and why it is refused."""

    record: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.record}.{self.field}" if self.field else self.record
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"record": self.record, "field": self.field, "message": self.message}


class RecordError(ValueError):
    """A data file or update refused; ``problems`` lists every finding.

    Subclasses set ``subject`` (used in the message), ``default_record`` (the record a plain
    string message is filed under), ``problem_type`` and optionally ``limit`` (findings shown
    in the message; all stay in ``problems``) and ``single_line`` (one finding is shown alone).
    """

    subject: ClassVar[str] = "the data"
    default_record: ClassVar[str] = "file"
    problem_type: ClassVar[type[RecordProblem]] = RecordProblem
    single_line: ClassVar[bool] = False
    default_limit: ClassVar[int | None] = None

    def __init__(self, problems: list[RecordProblem] | str, limit: int | None = None):
        limit = limit if limit is not None else self.default_limit
        if isinstance(problems, str):
            problems = [self.problem_type(self.default_record, "", problems)]
        self.problems = problems
        if self.single_line and len(problems) == 1:
            super().__init__(str(problems[0]))
            return
        shown = problems if limit is None else problems[:limit]
        lines = "\n".join(f"  - {p}" for p in shown)
        more = f"\n  … and {len(problems) - len(shown)} more" if len(shown) < len(problems) else ""
        super().__init__(f"{len(problems)} problem(s) in {self.subject}:\n{lines}{more}")


class ProblemList(list[RecordProblem]):
    """Collects findings while a loader walks a file; ``problem_type`` builds each one."""

    def __init__(self, problem_type: type[RecordProblem] = RecordProblem):
        super().__init__()
        self.problem_type = problem_type

    def add(self, record: str, field: str, message: str) -> None:
        self.append(self.problem_type(record, field, message))


def read_json_object(path: Path | str, what: str, error: type[RecordError]) -> dict[str, Any]:
    """The top-level JSON object of a data file; ``error`` names the file and the reason."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise error(f"{path}: no such {what}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path.name}: cannot read JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise error(f"{path.name}: expected a JSON object at the top level")
    return doc
