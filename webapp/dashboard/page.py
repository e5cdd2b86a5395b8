"""Everything the dashboard page shows, gathered in one call for the view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings

from webapp.dashboard import charts, selectors
from webapp.dashboard.selectors import Buckets, LatencyReport, Prices, UserActivity, Window
from webapp.search.models import Provider, Search

STATUS_ORDER = ["done", "partial", "failed", "running", "queued"]
STATUS_COLORS = {
    "done": "#1a7f37",
    "partial": "#bf8700",
    "failed": "#cf222e",
    "running": "#2952cc",
    "queued": "#8c959f",
}
PROVIDER_COLORS = {"iqs": "#2952cc", "image_search": "#8250df", "library": "#1b7c83"}
OTHER_COLOR = "#57606a"
USAGE_ROWS = 25


def provider_name(key: str) -> str:
    return str(Provider(key).label) if key in Provider.values else key


def status_name(key: str) -> str:
    return str(Search.Status(key).label) if key in Search.Status.values else key


def money(value: float | Decimal | None) -> str:
    """CNY with two decimals; a non-zero amount below a fen still shows as spent."""
    if value is None:
        return "—"
    amount = Decimal(str(value))
    if 0 < amount < Decimal("0.01"):
        return "< CNY 0.01"
    return f"CNY {amount:,.2f}"


def milliseconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f} ms" if value < 1000 else f"{value / 1000:,.2f} s"


def _ordered(keys: list[str], order: list[str]) -> list[str]:
    return [k for k in order if k in keys] + sorted(k for k in keys if k not in order)


def _traffic_charts(buckets: Buckets, *, slug: str, span: str, hourly: bool) -> list[charts.Chart]:
    if hourly:
        categories = [start.strftime("%d %b %H:00") for start in buckets.starts]
        ticks = [start.strftime("%H:00") for start in buckets.starts]
        x_label = "Hour (UTC)"
    else:
        categories = [start.strftime("%a %d %b") for start in buckets.starts]
        ticks = [start.strftime("%d %b") for start in buckets.starts]
        x_label = "Day (UTC)"
    by_status = [
        charts.Series(status_name(key), buckets.by_status[key], STATUS_COLORS.get(key, OTHER_COLOR))
        for key in _ordered(list(buckets.by_status), STATUS_ORDER)
    ]
    by_provider = [
        charts.Series(
            provider_name(key), buckets.by_provider[key], PROVIDER_COLORS.get(key, OTHER_COLOR)
        )
        for key in _ordered(list(buckets.by_provider), list(PROVIDER_COLORS))
    ]
    return [
        charts.stacked_bars(
            slug=f"{slug}-status",
            title=f"Searches {span}, by status",
            x_label=x_label,
            y_label="Searches",
            categories=categories,
            tick_labels=ticks,
            series=by_status,
        ),
        charts.stacked_bars(
            slug=f"{slug}-provider",
            title=f"Searches {span}, by provider",
            x_label=x_label,
            y_label="Searches",
            categories=categories,
            tick_labels=ticks,
            series=by_provider,
        ),
    ]


def _latency_charts(report: LatencyReport) -> list[charts.Chart]:
    categories = [day.strftime("%a %d %b") for day in report.days]
    ticks = [day.strftime("%d %b") for day in report.days]
    result = []
    for metric, title in (
        ("wait", "Time waiting on the provider, per day"),
        ("total", "End-to-end time, submit to done, per day"),
    ):
        series = []
        for key in _ordered(list(report.per_day), list(PROVIDER_COLORS)):
            color = PROVIDER_COLORS.get(key, OTHER_COLOR)
            metrics = report.per_day[key]
            empty: list[float | None] = [None] * len(report.days)
            series.append(
                charts.Series(
                    f"{provider_name(key)} p50", metrics.get(f"{metric}_p50", empty), color
                )
            )
            series.append(
                charts.Series(
                    f"{provider_name(key)} p95",
                    metrics.get(f"{metric}_p95", empty),
                    color,
                    dashed=True,
                )
            )
        result.append(
            charts.line_chart(
                slug=f"latency-{metric}",
                title=title,
                x_label="Day (UTC)",
                y_label="Milliseconds",
                categories=categories,
                tick_labels=ticks,
                series=series,
                value_format=milliseconds,
            )
        )
    return result


def _cost_chart(buckets: Buckets) -> charts.Chart:
    def cny(value: float | None) -> str:
        return money(value)

    return charts.stacked_bars(
        slug="cost-day",
        title="Estimated spend per day, by provider",
        x_label="Day (UTC)",
        y_label="CNY",
        categories=[start.strftime("%a %d %b") for start in buckets.starts],
        tick_labels=[start.strftime("%d %b") for start in buckets.starts],
        series=[
            charts.Series(
                provider_name(key),
                [float(v) for v in buckets.cost_by_provider[key]],
                PROVIDER_COLORS.get(key, OTHER_COLOR),
            )
            for key in _ordered(list(buckets.cost_by_provider), list(PROVIDER_COLORS))
        ],
        value_format=cny,
    )


@dataclass(frozen=True)
class MonthRow:
    month: datetime
    complete: bool
    cells: list[Decimal]
    total: Decimal


def _month_table(months: list[selectors.MonthCost]) -> tuple[list[str], list[MonthRow]]:
    keys = _ordered(list({k for m in months for k in m.by_provider}), list(PROVIDER_COLORS))
    rows = [
        MonthRow(
            month=m.month,
            complete=m.complete,
            cells=[m.by_provider.get(key, Decimal(0)) for key in keys],
            total=m.total,
        )
        for m in months
    ]
    return keys, rows


@dataclass(frozen=True)
class CostTotals:
    provider: str
    today: Decimal
    thirty_days: Decimal
    month: Decimal


def _cost_totals(usage: selectors.DailyUsage, prices: Prices) -> list[CostTotals]:
    keys = set(usage.month_usage) | set(usage.thirty_day_usage)
    rows = []
    for key in _ordered(list(keys), list(PROVIDER_COLORS)):

        def cost(table: dict[str, selectors.Usage], key: str = key) -> Decimal:
            found = table.get(key)
            if found is None:
                return Decimal(0)
            return selectors.usage_cost(provider=key, usage=found, prices=prices)

        rows.append(
            CostTotals(
                provider=key,
                today=cost(usage.today_usage),
                thirty_days=cost(usage.thirty_day_usage),
                month=cost(usage.month_usage),
            )
        )
    return rows


def _people_tables(people: dict[int, UserActivity]) -> dict[str, Any]:
    everyone = list(people.values())
    today = sorted(
        (p for p in everyone if p.searches_today),
        key=lambda p: (-p.searches_today, p.user_id),
    )
    active = sorted(
        (p for p in everyone if p.searches_week), key=lambda p: (-p.searches_week, p.user_id)
    )[: selectors.TOP]
    spenders = sorted(
        (p for p in everyone if p.cost_month), key=lambda p: (-p.cost_month, p.user_id)
    )[: selectors.TOP]
    shown_today = today[:USAGE_ROWS]
    selectors.name_people([*shown_today, *active, *spenders])
    return {
        "usage_today": shown_today,
        "usage_today_more": max(len(today) - USAGE_ROWS, 0),
        "active_users": active,
        "spenders": spenders,
    }


def _month_projection(window: Window, month_so_far: Decimal) -> Decimal:
    """This month's spend if the rest of it goes like the part so far."""
    elapsed = (window.now - window.month_start).total_seconds()
    next_month = (window.month_start.replace(day=28) + timedelta(days=4)).replace(day=1)
    length = (next_month - window.month_start).total_seconds()
    if elapsed <= 0:
        return month_so_far
    return (month_so_far * Decimal(length) / Decimal(elapsed)).quantize(Decimal("0.01"))


def dashboard_context(*, now: datetime) -> dict[str, Any]:
    """The whole page: traffic, latency, errors, quota, cost, limits, queues, providers."""
    window = selectors.window_at(now)
    prices = Prices.from_settings()
    hourly = selectors.traffic_by_hour(window)
    usage = selectors.daily_usage(window, prices)
    errors = selectors.error_summary(window)
    quota = selectors.iqs_quota(usage, errors, window)
    month_columns, month_rows = _month_table(selectors.cost_by_month(window, usage, prices))
    latency = selectors.latency_report(window, usage.finished_ok_30d)
    stuck = selectors.stuck_searches(now=window.now)
    failed = selectors.failed_recently(window)
    cost_totals = _cost_totals(usage, prices)
    month_total = sum((row.month for row in cost_totals), Decimal(0))
    today_index = len(window.days) - 1
    return {
        "window": window,
        "generated_at": window.now,
        "prices": prices,
        "iqs_priced": prices.iqs_per_call > 0,
        "tokens_priced": prices.input_per_token > 0 or prices.output_per_token > 0,
        "stuck_minutes": settings.STUCK_SEARCH_MINUTES,
        "default_limit": settings.SEARCHES_PER_USER_PER_DAY,
        "searches_today": sum(counts[today_index] for counts in usage.traffic.by_status.values()),
        "searches_24h": hourly.total(),
        "failed_24h_total": sum(hourly.failed_by_provider.values()),
        "traffic_charts": [
            *_traffic_charts(hourly, slug="traffic-hour", span="in the last 24 hours", hourly=True),
            *_traffic_charts(
                usage.traffic, slug="traffic-day", span="in the last 30 days", hourly=False
            ),
        ],
        "latency": latency,
        "latency_charts": _latency_charts(latency),
        "percentile_sample": selectors.PERCENTILE_SAMPLE,
        "errors": errors,
        "quota": quota,
        "cost_chart": _cost_chart(usage.traffic),
        "cost_totals": cost_totals,
        "cost_today": sum((row.today for row in cost_totals), Decimal(0)),
        "cost_thirty_days": sum((row.thirty_days for row in cost_totals), Decimal(0)),
        "cost_month": month_total,
        "cost_month_projected": _month_projection(window, month_total),
        "month_columns": month_columns,
        "month_rows": month_rows,
        **_people_tables(selectors.user_activity(window, prices)),
        "stuck": list(stuck[: selectors.LIST_LIMIT]),
        "stuck_total": stuck.count(),
        "failed": list(failed[: selectors.LIST_LIMIT]),
        "failed_total": failed.count(),
        "providers": selectors.provider_health(hourly),
        "top_queries": selectors.top_queries(window),
    }
