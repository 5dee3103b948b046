"""What keeps the admin's lists fast at a shop's real size.

A shop's tables grow to hundreds of thousands of orders and millions of callback events.
A changelist load must then touch the page's rows and a bounded number of index entries,
never the whole table: no ``COUNT(*)`` of every row, no ``SELECT DISTINCT`` for a
filter's choices, no ``date_hierarchy`` (its years and months are a ``DISTINCT`` over
the table), and searches that an index can answer.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

# Up to this many rows a list counts exactly; beyond it, PostgreSQL's estimate is shown.
EXACT_COUNT_LIMIT = 10_000

# Rows, newest first, whose values a filter offers besides its fixed choices.
RECENT_ROWS = 1_000


class EstimatedCountPaginator(Paginator):
    """Counts at most ``EXACT_COUNT_LIMIT`` + 1 rows; a longer list gets the planner's
    estimate on PostgreSQL (exact counts elsewhere, where there is no cheap estimate).

    An exact count of a million rows reads a million index entries on every page load;
    past ten thousand rows nobody pages to the end, and a filter or a search is the way
    to find a row.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return len(queryset)
        rows = queryset.order_by().values("pk")
        counted = rows[: EXACT_COUNT_LIMIT + 1].count()
        if counted <= EXACT_COUNT_LIMIT:
            return counted
        if connections[queryset.db].vendor != "postgresql":
            return queryset.count()
        return max(counted, planner_estimate(rows))


def planner_estimate(queryset: QuerySet[Any]) -> int:
    """How many rows PostgreSQL's planner expects ``queryset`` to return."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def values_filter(
    field: str,
    title: Any,
    *,
    fixed: Callable[[], Iterable[str]] = tuple,
    newest: str = "-created_at",
    recent: bool = True,
) -> type[admin.SimpleListFilter]:
    """A filter on ``field`` whose choices cost no scan of the table.

    The choices are ``fixed()`` (from settings or the known statuses) and, if
    ``recent``, the values of the newest ``RECENT_ROWS`` rows (ordered by ``newest``,
    which an index serves). A value given in the URL is offered too, so a link to any
    value works. The query parameter is the field's name, as Django's own filter had.
    """

    class ValuesFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
            values = {str(value) for value in fixed() if value}
            if recent:
                model: type[Model] = model_admin.model
                newest_rows = model._default_manager.order_by(newest, "-pk")
                values.update(
                    str(value)
                    for value in newest_rows.values_list(field, flat=True)[:RECENT_ROWS]
                    if value
                )
            chosen = self.value()
            if chosen:
                values.add(chosen)
            return [(value, value) for value in sorted(values)]

        def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
            value = self.value()
            return queryset.filter(**{field: value}) if value else queryset

    ValuesFilter.title = title
    ValuesFilter.__name__ = f"{field.title().replace('_', '')}Filter"
    return ValuesFilter


def parse_uuid(term: str) -> uuid.UUID | None:
    """The UUID a search term spells (quotes and surrounding spaces allowed), else None."""
    try:
        return uuid.UUID(term.strip().strip("\"'"))
    except ValueError:
        return None


class IndexedSearchMixin:
    """Searches an index can answer.

    A term that is a UUID is looked up exactly, by ``uuid_search`` (a ``Q`` built per
    model, through unique indexes) instead of a ``LIKE`` over every row's id cast to
    text. Other terms go to Django's search over ``search_fields``, where identifiers
    use ``__exact`` (an index lookup) rather than ``icontains`` (a scan).
    """

    def uuid_search(self, term: str, value: uuid.UUID) -> Any:
        raise NotImplementedError

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        value = parse_uuid(search_term) if search_term else None
        if value is None:
            return super().get_search_results(request, queryset, search_term)  # type: ignore[misc]
        return queryset.filter(self.uuid_search(search_term.strip().strip("\"'"), value)), False
