"""The dashboard's reads. Every number is a database aggregate over a time window.

Times are UTC throughout: the per-user daily limit resets at midnight UTC, so
"today" means the same thing on every panel. Rows are bucketed by hour or day
in the database (GROUP BY), never by looping over searches in Python; the only
Python loops here run over aggregated rows (a few hundred at most) or, on
SQLite, over a bounded sample for percentiles (SQLite has no percentile
function; the page says so).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Aggregate, Count, Exists, F, Max, OuterRef, Q, QuerySet, Sum

from webapp.dashboard.models import SearchRecovery
from webapp.db_functions import PercentileCont, UtcDate, UtcTrunc
from webapp.search.models import Provider, Search, UserSearchLimit

FINISHED_OK = (Search.Status.DONE, Search.Status.PARTIAL)
# On SQLite, percentiles come from at most this many rows (see latency_report).
PERCENTILE_SAMPLE = 5000
LIST_LIMIT = 20
TOP = 10
QUOTA_WARNING_PERCENT = 80
# The IQS answer when the trial's daily quota is used up (api-docs 000).
IQS_QUOTA_ERROR = "Retrieval.TestUserQueryPerDayExceeded"


# --- database helpers -------------------------------------------------------------


def database_has_percentiles() -> bool:
    return connection.vendor == "postgresql"


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks: what percentile_cont computes."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


# --- the time windows -------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The periods the page reports on; days are UTC calendar days, today included."""

    now: datetime
    today: datetime
    tomorrow: datetime
    day_ago: datetime
    week_ago: datetime
    week_start: datetime
    hours_start: datetime
    days_start: datetime
    month_start: datetime
    last_month_start: datetime
    hours: list[datetime]
    days: list[datetime]

    @property
    def usage_start(self) -> datetime:
        """Far enough back for the 30 daily buckets, this month and the whole last month."""
        return min(self.days_start, self.last_month_start)


def window_at(now: datetime) -> Window:
    now = now.astimezone(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    hours_start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    days_start = today - timedelta(days=29)
    return Window(
        now=now,
        today=today,
        tomorrow=today + timedelta(days=1),
        day_ago=now - timedelta(hours=24),
        week_ago=now - timedelta(days=7),
        week_start=today - timedelta(days=6),
        hours_start=hours_start,
        days_start=days_start,
        month_start=today.replace(day=1),
        last_month_start=(today.replace(day=1) - timedelta(days=1)).replace(day=1),
        hours=[hours_start + timedelta(hours=n) for n in range(24)],
        days=[days_start + timedelta(days=n) for n in range(30)],
    )


def _on_days(searches: QuerySet[Search], first: datetime, last: datetime) -> QuerySet[Search]:
    """Searches created on the UTC days from ``first`` to ``last``, both included.

    The filter repeats the search_usage_by_day index's expression, so the
    database reads that index alone, in day order.
    """
    return searches.alias(utc_day=UtcDate("created_at")).filter(
        utc_day__gte=first.date(), utc_day__lte=last.date()
    )


# --- prices and cost ----------------------------------------------------------------


@dataclass(frozen=True)
class Prices:
    iqs_per_call: Decimal
    image_search_per_call: Decimal
    input_per_token: Decimal
    output_per_token: Decimal

    @classmethod
    def from_settings(cls) -> Prices:
        def money(value: float) -> Decimal:
            return Decimal(str(value))

        return cls(
            iqs_per_call=money(settings.IQS_PRICE_PER_CALL_CNY),
            image_search_per_call=money(settings.IMAGE_SEARCH_PRICE_PER_1000_CALLS_CNY) / 1000,
            input_per_token=money(settings.TOKEN_PRICE_INPUT_PER_1K_CNY) / 1000,
            output_per_token=money(settings.TOKEN_PRICE_OUTPUT_PER_1K_CNY) / 1000,
        )


@dataclass
class Usage:
    """Billable amounts: calls to real (not emulated) providers, and their tokens."""

    calls: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, row: dict[str, Any], prefix: str = "") -> None:
        self.calls += row[f"{prefix}calls"] or 0
        self.tool_calls += row[f"{prefix}tool_calls"] or 0
        self.input_tokens += row[f"{prefix}input_tokens"] or 0
        self.output_tokens += row[f"{prefix}output_tokens"] or 0


def usage_cost(*, provider: str, usage: Usage, prices: Prices) -> Decimal:
    """IQS: CNY per call. image_search: CNY 48 per 1,000 tool calls plus tokens. Library: free.

    An IQS "call" is one run of a search by a worker against the real IQS
    (Search.attempts), so a re-dispatched search counts each time it ran.
    """
    if provider == Provider.IQS:
        return usage.calls * prices.iqs_per_call
    if provider == Provider.IMAGE_SEARCH:
        return (
            usage.tool_calls * prices.image_search_per_call
            + usage.input_tokens * prices.input_per_token
            + usage.output_tokens * prices.output_per_token
        )
    return Decimal(0)


def _billable_sums(prefix: str = "", extra: Q | None = None) -> dict[str, Aggregate]:
    billable = Q(emulated=False) if extra is None else Q(emulated=False) & extra
    return {
        f"{prefix}calls": Sum("attempts", filter=billable),
        f"{prefix}tool_calls": Sum("tool_calls", filter=billable),
        f"{prefix}input_tokens": Sum("input_tokens", filter=billable),
        f"{prefix}output_tokens": Sum("output_tokens", filter=billable),
    }


# --- traffic, quota, cost per day ---------------------------------------------------


@dataclass
class Buckets:
    """Counts per time bucket, split by provider and by status."""

    starts: list[datetime]
    by_provider: dict[str, list[int]] = field(default_factory=dict)
    by_status: dict[str, list[int]] = field(default_factory=dict)
    cost_by_provider: dict[str, list[Decimal]] = field(default_factory=dict)
    failed_by_provider: dict[str, int] = field(default_factory=dict)

    def total(self) -> int:
        return sum(sum(counts) for counts in self.by_status.values())


def _bucket_counts(
    starts: list[datetime], rows: Iterable[dict[str, Any]], key: str, *, by_date: bool
) -> Buckets:
    index: dict[object, int] = {
        (start.date() if by_date else start): n for n, start in enumerate(starts)
    }
    buckets = Buckets(starts=starts)
    for row in rows:
        position = index.get(row[key])
        if position is None:
            continue
        for split, name in (
            (buckets.by_provider, row["provider"]),
            (buckets.by_status, row["status"]),
        ):
            split.setdefault(name, [0] * len(starts))[position] += row["searches"]
        if row["status"] == Search.Status.FAILED:
            failed = buckets.failed_by_provider
            failed[row["provider"]] = failed.get(row["provider"], 0) + row["searches"]
    return buckets


def traffic_by_hour(window: Window) -> Buckets:
    rows = (
        _on_days(Search.objects.all(), window.hours_start, window.today)
        .filter(created_at__gte=window.hours_start)
        .annotate(hour=UtcTrunc("created_at", "hour"))
        .values("hour", "provider", "status")
        .annotate(searches=Count("id"))
        .order_by()
    )
    return _bucket_counts(window.hours, rows, "hour", by_date=False)


@dataclass
class DailyUsage:
    """One pass over the last 30 days and two calendar months: traffic, cost and quota."""

    traffic: Buckets
    month_usage: dict[str, Usage]
    last_month_usage: dict[str, Usage]
    today_usage: dict[str, Usage]
    thirty_day_usage: dict[str, Usage]
    finished_ok_30d: int
    emulated_iqs_today: int


def daily_usage(window: Window, prices: Prices) -> DailyUsage:
    rows = list(
        _on_days(Search.objects.all(), window.usage_start, window.today)
        .annotate(day=UtcDate("created_at"))
        .values("day", "provider", "status")
        .annotate(
            searches=Count("id"),
            emulated_searches=Count("id", filter=Q(emulated=True)),
            **_billable_sums(),
        )
        .order_by()
    )
    traffic = _bucket_counts(window.days, rows, "day", by_date=True)
    day_index = {day.date(): n for n, day in enumerate(window.days)}
    today_date = window.today.date()
    month_start, last_month_start = window.month_start.date(), window.last_month_start.date()
    month: dict[str, Usage] = defaultdict(Usage)
    last_month: dict[str, Usage] = defaultdict(Usage)
    today: dict[str, Usage] = defaultdict(Usage)
    thirty: dict[str, Usage] = defaultdict(Usage)
    cost_per_day: dict[str, list[Decimal]] = {}
    finished_ok = 0
    emulated_iqs_today = 0
    for row in rows:
        provider, day = row["provider"], row["day"]
        usage = Usage()
        usage.add(row)
        if day >= month_start:
            month[provider].add(row)
        elif day >= last_month_start:
            last_month[provider].add(row)
        if day == today_date:
            today[provider].add(row)
            if provider == Provider.IQS:
                emulated_iqs_today += row["emulated_searches"]
        if day in day_index:
            thirty[provider].add(row)
            cost = usage_cost(provider=provider, usage=usage, prices=prices)
            cost_per_day.setdefault(provider, [Decimal(0)] * len(window.days))[day_index[day]] += (
                cost
            )
            if row["status"] in FINISHED_OK:
                finished_ok += row["searches"]
    traffic.cost_by_provider = cost_per_day
    return DailyUsage(
        traffic=traffic,
        month_usage=dict(month),
        last_month_usage=dict(last_month),
        today_usage=dict(today),
        thirty_day_usage=dict(thirty),
        finished_ok_30d=finished_ok,
        emulated_iqs_today=emulated_iqs_today,
    )


@dataclass(frozen=True)
class Quota:
    calls_today: int
    quota: int
    emulated_today: int
    refused_today: bool

    @property
    def percent(self) -> int:
        return math.floor(100 * self.calls_today / self.quota)

    @property
    def level(self) -> str:
        """ok | warning (80 % used) | exceeded (100 %, or IQS already refused today)."""
        if self.calls_today >= self.quota or self.refused_today:
            return "exceeded"
        if self.percent >= QUOTA_WARNING_PERCENT:
            return "warning"
        return "ok"

    @property
    def bar_percent(self) -> int:
        return min(self.percent, 100)

    @property
    def remaining(self) -> int:
        return max(self.quota - self.calls_today, 0)


def iqs_quota(usage: DailyUsage, errors: list[ErrorSummary], window: Window) -> Quota:
    today = usage.today_usage.get(Provider.IQS, Usage())
    refused = any(
        e.provider == Provider.IQS
        and e.code == IQS_QUOTA_ERROR
        and e.latest is not None
        and e.latest.created_at >= window.today
        for e in errors
    )
    return Quota(
        calls_today=today.calls,
        quota=settings.IQS_DAILY_QUOTA,
        emulated_today=usage.emulated_iqs_today,
        refused_today=refused,
    )


# --- cost by month and by user ------------------------------------------------------


@dataclass(frozen=True)
class MonthCost:
    month: datetime
    by_provider: dict[str, Decimal]
    complete: bool

    @property
    def total(self) -> Decimal:
        return sum(self.by_provider.values(), Decimal(0))


def cost_by_month(window: Window, usage: DailyUsage, prices: Prices) -> list[MonthCost]:
    """This month so far and the whole of last month, from the daily pass."""

    def costs(table: dict[str, Usage]) -> dict[str, Decimal]:
        return {
            provider: usage_cost(provider=provider, usage=amounts, prices=prices)
            for provider, amounts in table.items()
        }

    return [
        MonthCost(window.month_start, costs(usage.month_usage), complete=False),
        MonthCost(window.last_month_start, costs(usage.last_month_usage), complete=True),
    ]


@dataclass
class UserActivity:
    user_id: int
    username: str = ""
    searches_today: int = 0
    searches_week: int = 0
    last_seen: datetime | None = None
    cost_today: Decimal = Decimal(0)
    cost_week: Decimal = Decimal(0)
    cost_month: Decimal = Decimal(0)
    own_limit_id: int | None = None
    own_limit: int | None = None
    default_limit: int | None = None

    @property
    def limit(self) -> int | None:
        return self.own_limit if self.own_limit_id is not None else self.default_limit

    @property
    def limit_percent(self) -> int | None:
        if self.limit is None:
            return None
        if self.limit == 0:
            return 100
        return math.floor(100 * self.searches_today / self.limit)


def user_activity(window: Window, prices: Prices) -> dict[int, UserActivity]:
    """Per user: searches today and over the last 7 UTC days, when last seen, and cost
    today, over 7 days and this month."""
    week = (
        _on_days(Search.objects.all(), window.week_start, window.today)
        # "+ 0": grouping by the bare column makes SQLite walk the whole
        # (user, created_at) index instead of the few days the usage index holds.
        .values(uid=F("user_id") + 0, provider_key=F("provider"))
        .annotate(
            today=Count("id", filter=Q(created_at__gte=window.today)),
            week=Count("id"),
            last_seen=Max("created_at"),
            **_billable_sums("week_"),
            **_billable_sums("today_", Q(created_at__gte=window.today)),
        )
        .order_by()
    )
    # The month's cost is its own query: it reads up to 31 days, so it carries
    # only the four sums (every extra FILTER costs on every row).
    month = (
        _on_days(Search.objects.filter(emulated=False), window.month_start, window.today)
        .values(uid=F("user_id") + 0, provider_key=F("provider"))
        .annotate(
            month_calls=Sum("attempts"),
            month_tool_calls=Sum("tool_calls"),
            month_input_tokens=Sum("input_tokens"),
            month_output_tokens=Sum("output_tokens"),
        )
        .order_by()
    )
    people: dict[int, UserActivity] = {}

    def add_cost(person: UserActivity, row: dict[str, Any], prefix: str) -> None:
        usage = Usage()
        usage.add(row, prefix)
        cost = usage_cost(provider=row["provider_key"], usage=usage, prices=prices)
        attribute = f"cost_{prefix.rstrip('_')}"
        setattr(person, attribute, getattr(person, attribute) + cost)

    for row in week:
        person = people.setdefault(row["uid"], UserActivity(user_id=row["uid"]))
        person.searches_today += row["today"]
        person.searches_week += row["week"]
        if person.last_seen is None or row["last_seen"] > person.last_seen:
            person.last_seen = row["last_seen"]
        add_cost(person, row, "week_")
        add_cost(person, row, "today_")
    for row in month:
        add_cost(people.setdefault(row["uid"], UserActivity(user_id=row["uid"])), row, "month_")
    return people


def name_people(people: Iterable[UserActivity]) -> None:
    """Fill in user names and limits for the people a table is about to show."""
    wanted = {person.user_id: person for person in people}
    if not wanted:
        return
    default_limit: int | None = settings.SEARCHES_PER_USER_PER_DAY
    names = dict(User.objects.filter(pk__in=wanted).values_list("pk", "username"))
    limits = {row.user_id: row for row in UserSearchLimit.objects.filter(user_id__in=wanted)}
    for user_id, person in wanted.items():
        person.username = names.get(user_id, f"user {user_id}")
        person.default_limit = default_limit
        own = limits.get(user_id)
        if own is not None:
            person.own_limit_id = own.pk
            person.own_limit = own.searches_per_day


# --- latency -------------------------------------------------------------------------


@dataclass(frozen=True)
class LatencySummary:
    provider: str
    searches: int
    reported_p50: float | None
    reported_p95: float | None
    wait_p50: float | None
    wait_p95: float | None
    total_p50: float | None
    total_p95: float | None


@dataclass
class LatencyReport:
    days: list[datetime]
    # provider → metric ("wait_p50", "wait_p95", "total_p50", "total_p95") → value per day
    per_day: dict[str, dict[str, list[float | None]]]
    summary: list[LatencySummary]
    exact: bool
    sampled_rows: int = 0
    sample_every: int = 1
    summary_rows: int = 0


_METRICS = {"reported": "search_time_ms", "wait": "provider_ms", "total": "duration_ms"}


def latency_report(window: Window, finished_ok_30d: int) -> LatencyReport:
    """p50 and p95 per provider: per day over 30 days, and over the last 24 hours.

    PostgreSQL computes them exactly (percentile_cont). SQLite has no such
    function, so there they are computed here from a sample: every k-th search
    by id over the 30 days (an even spread, at most PERCENTILE_SAMPLE rows), and
    the latest PERCENTILE_SAMPLE searches of the last 24 hours.
    """
    finished = Search.objects.filter(status__in=FINISHED_OK)
    if database_has_percentiles():
        return _latency_in_database(window, finished)
    return _latency_from_sample(window, finished, finished_ok_30d)


def _latency_in_database(window: Window, finished: QuerySet[Search]) -> LatencyReport:
    per_day: dict[str, dict[str, list[float | None]]] = {}
    day_index = {day.date(): n for n, day in enumerate(window.days)}
    rows = (
        _on_days(finished, window.days_start, window.today)
        .annotate(day=UtcDate("created_at"))
        .values("day", "provider")
        .annotate(
            wait_p50=PercentileCont("provider_ms", 0.5),
            wait_p95=PercentileCont("provider_ms", 0.95),
            total_p50=PercentileCont("duration_ms", 0.5),
            total_p95=PercentileCont("duration_ms", 0.95),
        )
        .order_by()
    )
    for row in rows:
        metrics = per_day.setdefault(row["provider"], {})
        for metric in ("wait_p50", "wait_p95", "total_p50", "total_p95"):
            metrics.setdefault(metric, [None] * len(window.days))[day_index[row["day"]]] = row[
                metric
            ]
    percentiles: dict[str, Any] = {}
    for name, column in _METRICS.items():
        percentiles[f"{name}_p50"] = PercentileCont(column, 0.5)
        percentiles[f"{name}_p95"] = PercentileCont(column, 0.95)
    summary = [
        LatencySummary(
            provider=row["provider"],
            searches=row["searches"],
            reported_p50=row["reported_p50"],
            reported_p95=row["reported_p95"],
            wait_p50=row["wait_p50"],
            wait_p95=row["wait_p95"],
            total_p50=row["total_p50"],
            total_p95=row["total_p95"],
        )
        for row in finished.filter(created_at__gte=window.day_ago)
        .values("provider")
        .annotate(searches=Count("id"), **percentiles)
        .order_by("provider")
    ]
    return LatencyReport(days=window.days, per_day=per_day, summary=summary, exact=True)


def _latency_from_sample(
    window: Window, finished: QuerySet[Search], finished_ok_30d: int
) -> LatencyReport:
    every = max(1, math.ceil(finished_ok_30d / PERCENTILE_SAMPLE))
    in_thirty_days = finished.filter(created_at__gte=window.days_start)
    if every > 1:
        # id % k: native arithmetic, unlike Django's Mod(), a Python function on SQLite.
        in_thirty_days = in_thirty_days.alias(slot=F("id") % every).filter(slot=0)
    sample = list(
        in_thirty_days.annotate(day=UtcDate("created_at"))
        .values_list("day", "provider", "provider_ms", "duration_ms")
        .order_by()
    )
    values: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    day_index = {day.date(): n for n, day in enumerate(window.days)}
    for day, provider, wait, total in sample:
        n = day_index.get(day)
        if n is None:
            continue
        if wait is not None:
            values[(provider, n, "wait")].append(wait)
        if total is not None:
            values[(provider, n, "total")].append(total)
    per_day: dict[str, dict[str, list[float | None]]] = {}
    for (provider, n, metric), found in values.items():
        found.sort()
        metrics = per_day.setdefault(provider, {})
        for fraction, suffix in ((0.5, "p50"), (0.95, "p95")):
            metrics.setdefault(f"{metric}_{suffix}", [None] * len(window.days))[n] = percentile(
                found, fraction
            )

    recent = list(
        finished.filter(created_at__gte=window.day_ago)
        .order_by("-created_at")
        .values_list("provider", "search_time_ms", "provider_ms", "duration_ms")[:PERCENTILE_SAMPLE]
    )
    grouped: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    counts: dict[str, int] = defaultdict(int)
    for provider, reported, wait, total in recent:
        counts[provider] += 1
        for name, value in (("reported", reported), ("wait", wait), ("total", total)):
            if value is not None:
                grouped[provider][name].append(value)
    summary = []
    for provider in sorted(grouped):
        metric_values = {name: sorted(found) for name, found in grouped[provider].items()}

        def pick(
            name: str, fraction: float, found: dict[str, list[float]] = metric_values
        ) -> float | None:
            return percentile(found.get(name, []), fraction)

        summary.append(
            LatencySummary(
                provider=provider,
                searches=counts[provider],
                reported_p50=pick("reported", 0.5),
                reported_p95=pick("reported", 0.95),
                wait_p50=pick("wait", 0.5),
                wait_p95=pick("wait", 0.95),
                total_p50=pick("total", 0.5),
                total_p95=pick("total", 0.95),
            )
        )
    return LatencyReport(
        days=window.days,
        per_day=per_day,
        summary=summary,
        exact=False,
        sampled_rows=len(sample),
        sample_every=every,
        summary_rows=len(recent),
    )


# --- errors ---------------------------------------------------------------------------


@dataclass
class ErrorSummary:
    provider: str
    code: str
    last_24h: int
    last_7d: int
    latest_id: int
    latest: Search | None = None


def error_summary(window: Window) -> list[ErrorSummary]:
    """Failures by provider and error code over 7 days, with the latest of each."""
    rows = (
        Search.objects.filter(
            created_at__gte=window.week_ago,
            status__in=[Search.Status.FAILED, Search.Status.PARTIAL],
        )
        .exclude(error_code="")
        .values("provider", "error_code")
        .annotate(
            last_24h=Count("id", filter=Q(created_at__gte=window.day_ago)),
            last_7d=Count("id"),
            latest_id=Max("id"),
        )
        .order_by("-last_24h", "-last_7d", "error_code")
    )
    errors = [
        ErrorSummary(
            provider=row["provider"],
            code=row["error_code"],
            last_24h=row["last_24h"],
            last_7d=row["last_7d"],
            latest_id=row["latest_id"],
        )
        for row in rows
    ]
    latest = Search.objects.select_related("user").in_bulk([e.latest_id for e in errors])
    for error in errors:
        error.latest = latest.get(error.latest_id)
    return errors


# --- queues: stuck and failed searches -----------------------------------------------


def stuck_searches(*, now: datetime, minutes: int | None = None) -> QuerySet[Search]:
    """Searches queued or running longer than STUCK_SEARCH_MINUTES, oldest first.

    A queued search keeps its created_at when staff dispatch it again, so a
    search dispatched again within the threshold is not stuck (yet): it is in
    the queue, and dispatching it once more would queue it twice.
    """
    cutoff = now - timedelta(minutes=minutes or settings.STUCK_SEARCH_MINUTES)
    recently_dispatched = SearchRecovery.objects.filter(
        search=OuterRef("pk"), created_at__gte=cutoff
    )
    waiting_too_long = Q(status=Search.Status.QUEUED, created_at__lt=cutoff)
    running_too_long = Q(status=Search.Status.RUNNING) & (
        Q(started_at__lt=cutoff) | Q(started_at__isnull=True, created_at__lt=cutoff)
    )
    return (
        Search.objects.filter(waiting_too_long | running_too_long)
        .exclude(Exists(recently_dispatched))
        .select_related("user")
        .order_by("created_at")
    )


def failed_recently(window: Window) -> QuerySet[Search]:
    return (
        Search.objects.filter(status=Search.Status.FAILED, created_at__gte=window.day_ago)
        .select_related("user")
        .order_by("-created_at")
    )


# --- provider health ---------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderHealth:
    key: str
    label: str
    configured: bool | None  # None: needs no key
    emulated: bool | None  # None: not offered in this installation
    offered: bool
    last_success: Search | None
    last_error: Search | None
    error_streak: int
    searches_24h: int
    failed_24h: int

    @property
    def state(self) -> str:
        """ok | failing | idle, for the badge."""
        if self.error_streak and (
            self.last_success is None
            or (self.last_error and self.last_error.created_at > self.last_success.created_at)
        ):
            return "failing"
        return "ok" if self.last_success else "idle"


def _configured(key: str) -> bool | None:
    if key == Provider.IQS:
        return bool(settings.IQS_API_KEY)
    if key == Provider.IMAGE_SEARCH:
        return bool(settings.DASHSCOPE_API_KEY)
    return None


def provider_health(hourly: Buckets) -> list[ProviderHealth]:
    """Per provider: key configured (never the key), emulated, last success and error, streak."""
    from webapp.search.provider_registry import provider_infos

    offered = {info.key: info for info in provider_infos()}
    health = []
    for key, label in Provider.choices:
        searches = Search.objects.filter(provider=key)
        last_success = searches.filter(status__in=FINISHED_OK).order_by("-created_at").first()
        last_error = searches.filter(status=Search.Status.FAILED).order_by("-created_at").first()
        streak_since = searches.filter(status=Search.Status.FAILED)
        if last_success is not None:
            streak_since = streak_since.filter(created_at__gt=last_success.created_at)
        streak = streak_since.count() if last_error is not None else 0
        info = offered.get(key)
        health.append(
            ProviderHealth(
                key=key,
                label=label,
                configured=_configured(key),
                emulated=info.emulated if info else None,
                offered=info is not None,
                last_success=last_success,
                last_error=last_error,
                error_streak=streak,
                searches_24h=sum(hourly.by_provider.get(key, [])),
                failed_24h=hourly.failed_by_provider.get(key, 0),
            )
        )
    return health


# --- who searches for what ----------------------------------------------------------------


@dataclass(frozen=True)
class TopQuery:
    query: str
    searches: int
    people: int


def top_queries(window: Window) -> list[TopQuery]:
    rows = (
        Search.objects.filter(created_at__gte=window.week_start)
        .exclude(query="")
        .values("query")
        .annotate(searches=Count("id"), people=Count("user_id", distinct=True))
        .order_by("-searches", "query")[:TOP]
    )
    return [TopQuery(row["query"], row["searches"], row["people"]) for row in rows]
