"""What a load test found: the searches it followed, and the report it ends with.

Pure: the locustfile hands in Locust's figures as plain rows, so the rules
(what is lost, what is an error, when the run fails) are testable alone.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

FINISHED = frozenset({"done", "failed", "partial"})  # the API's final statuses
PERCENTILES = (0.5, 0.95, 0.99)
KINDS = ("text", "image")
_CALL = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)\((?P<args>.*)\)$", re.DOTALL)
_HTTP_ERROR = re.compile(r"^'?(?P<status>\d{3}) ")


@dataclass
class SearchRecord:
    """One search a simulated person submitted, and what they saw of it.

    Times are ``time.monotonic()`` seconds. ``status`` is the API's answer,
    filled in at the end; the watcher's own "done" is only ``done_at``.
    """

    search_id: int
    kind: str  # "text" or "image"
    owner: str  # the username whose session may read it
    submitted_at: float
    first_image_at: float | None = None
    done_at: float | None = None
    status: str | None = None
    error_code: str = ""

    @property
    def confirmed(self) -> bool:
        return self.status in FINISHED


@dataclass
class SearchLog:
    """Every search of the run, by ID. Locust's users are greenlets of one thread: no lock."""

    records: dict[int, SearchRecord] = field(default_factory=dict)

    def submitted(self, search_id: int, *, kind: str, owner: str, at: float) -> None:
        self.records[search_id] = SearchRecord(search_id, kind, owner, at)

    def first_image(self, search_id: int, *, at: float) -> None:
        record = self.records.get(search_id)
        if record is not None and record.first_image_at is None:
            record.first_image_at = at

    def done(self, search_id: int, *, at: float) -> None:
        record = self.records.get(search_id)
        if record is not None and record.done_at is None:
            record.done_at = at

    def confirm(
        self,
        search_id: int,
        *,
        status: str,
        error_code: str = "",
        took: float | None = None,
        at: float,
    ) -> None:
        """The API's word on a search.

        A finished search nobody saw finish (its watcher was stopped with the
        run) is done ``took`` seconds after submit, the server's own figure,
        else at ``at``, when the check saw it.
        """
        record = self.records[search_id]
        record.status = status
        record.error_code = error_code
        if status in FINISHED:
            self.done(search_id, at=at if took is None else record.submitted_at + took)

    def unconfirmed(self) -> list[SearchRecord]:
        return [record for record in self.records.values() if not record.confirmed]


# --- figures ---------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (the value q of the samples are at or below); None if none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def _spread(values: list[float]) -> dict[str, Any]:
    summary: dict[str, Any] = {"count": len(values)}
    for q in PERCENTILES:
        value = percentile(values, q)
        summary[f"p{round(q * 100)}"] = None if value is None else round(value, 2)
    return summary


def search_timings(log: SearchLog) -> dict[str, dict[str, Any]]:
    """Seconds from submit to first image and to done, per kind of search."""
    timings = {}
    for kind in KINDS:
        records = [r for r in log.records.values() if r.kind == kind]
        firsts = [r.first_image_at - r.submitted_at for r in records if r.first_image_at]
        dones = [r.done_at - r.submitted_at for r in records if r.done_at and r.confirmed]
        timings[kind] = {"first_image_s": _spread(firsts), "done_s": _spread(dones)}
    return timings


def search_counts(log: SearchLog) -> dict[str, Any]:
    records = list(log.records.values())
    statuses = Counter(r.status or "unfinished" for r in records)
    return {
        "submitted": len(records),
        "finished": sum(1 for r in records if r.confirmed),
        "lost": sum(1 for r in records if not r.confirmed),
        "by_status": dict(sorted(statuses.items())),
        "by_kind": dict(sorted(Counter(r.kind for r in records).items())),
    }


def error_kind(error: str) -> str:
    """A short name for one of Locust's error texts: "HTTP 500", "ConnectionError", ...

    Locust keeps errors as the exception's repr: ``CatchResponseError('HTTP 502')``
    for the failures this scenario names itself, ``HTTPError('500 Server Error:
    ...')`` for a status Locust judged, or any other exception's repr.
    """
    match = _CALL.fullmatch(error.strip())
    if match is None:
        return error.strip()[:80] or "unknown"
    name, args = match["name"], match["args"].strip()
    if name == "CatchResponseError":
        return args.strip("'\"")[:80]
    if name == "HTTPError":
        status = _HTTP_ERROR.match(args)
        if status is not None:
            return f"HTTP {status['status']}"
    return name.rsplit(".", 1)[-1]


def errors_by_kind(errors: list[tuple[str, str, int]], log: SearchLog) -> dict[str, int]:
    """Locust's (where, error text, occurrences), plus searches that ended in "failed"."""
    kinds: Counter[str] = Counter()
    for _, text, occurrences in errors:
        kinds[error_kind(text)] += occurrences
    for record in log.records.values():
        if record.status == "failed":
            kinds[f"search failed ({record.error_code or 'no code'})"] += 1
    return dict(sorted(kinds.items()))


def build_report(
    *,
    log: SearchLog,
    endpoints: list[dict[str, Any]],
    errors: list[tuple[str, str, int]],
    requests_per_second: float,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """The whole report, as JSON-ready data.

    ``endpoints``: one row per Locust entry; ``errors``: Locust's (where, error
    text, occurrences), "where" being the entry's method and name.
    """
    found_errors = errors_by_kind(errors, log)
    counts = search_counts(log)
    return {
        "settings": settings,
        "requests_per_second": round(requests_per_second, 2),
        "endpoints": endpoints,
        "errors": found_errors,
        "error_detail": [
            {"where": where, "kind": error_kind(text), "count": count, "error": text[:300]}
            for where, text, count in sorted(errors, key=lambda e: -e[2])
        ],
        "searches": counts,
        "timings": search_timings(log),
        "passed": not found_errors and counts["lost"] == 0,
    }


def exit_code(report: dict[str, Any]) -> int:
    return 0 if report["passed"] else 1


# --- the printed form ------------------------------------------------------------------------


def format_report(report: dict[str, Any]) -> str:
    lines = ["", "=== Loupe load test ==="]
    settings = report["settings"]
    lines.append(", ".join(f"{key} {value}" for key, value in settings.items()))
    lines.append(f"Requests/s overall: {report['requests_per_second']}")
    lines.append("")
    lines.append(f"{'endpoint':<48} {'reqs':>6} {'fails':>5} {'p50':>7} {'p95':>7} {'p99':>7}")
    for row in report["endpoints"]:
        lines.append(
            f"{row['method'] + ' ' + row['name']:<48.48} {row['requests']:>6} {row['failures']:>5} "
            f"{_ms(row['p50_ms'])} {_ms(row['p95_ms'])} {_ms(row['p99_ms'])}"
        )
    lines.append("")
    counts = report["searches"]
    lines.append(
        f"Searches: {counts['submitted']} submitted, {counts['finished']} finished, "
        f"{counts['lost']} lost; by status {counts['by_status']}"
    )
    for kind, timing in report["timings"].items():
        for label, key in (("first image", "first_image_s"), ("done", "done_s")):
            spread = timing[key]
            lines.append(
                f"  {kind:<5} submit to {label:<11} n={spread['count']:<4} "
                f"p50 {_s(spread['p50'])}  p95 {_s(spread['p95'])}  p99 {_s(spread['p99'])}"
            )
    errors = report["errors"]
    lines.append("Errors: " + (", ".join(f"{k}: {n}" for k, n in errors.items()) or "none"))
    for detail in report["error_detail"][:10]:
        lines.append(f"  {detail['count']:>5} x {detail['where']}: {detail['error'][:120]}")
    lines.append("PASSED" if report["passed"] else "FAILED (errors or lost searches)")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return f"{'-' if value is None else f'{value:.0f}ms':>7}"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"
