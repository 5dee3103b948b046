"""The callback path's hottest statements, written once instead of compiled per request.

Each callback runs these; through the ORM, building and compiling them cost more CPU
than the database spends answering them (``docs/benchmarks.rst``, "Profile of an
in-request callback"). They are plain SQL over the models' own table and column
names (quoted by the connection), every value a parameter, adapted by the fields
that store it; each function says what ORM query it stands for, and
``tests/test_statements.py`` checks each against that query.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model, Sum
from django.utils import timezone as dj_timezone

from ..models import CallbackEvent, DrainSchedule, Invoice


def _connection(model: type[Model]) -> BaseDatabaseWrapper:
    return connections[router.db_for_write(model)]


@cache
def _names(alias: str, model: type[Model]) -> dict[str, str]:
    """``table`` and each field's column, quoted for the connection ``alias``."""
    quote = connections[alias].ops.quote_name
    names = {"table": quote(model._meta.db_table)}
    for field in model._meta.concrete_fields:
        names[field.name] = quote(str(field.column))
    return names


def _uuid(connection: BaseDatabaseWrapper, value: uuid.UUID) -> Any:
    return Invoice._meta.get_field("provider_id").get_db_prep_value(value, connection)


def _time(connection: BaseDatabaseWrapper, value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def invoices_named(
    account: str, ids: Sequence[uuid.UUID], dedupe_key: str
) -> list[tuple[Invoice, bool]]:
    """``account``'s invoices with these provider ids (only ``pk``, ``provider_id`` and
    ``account`` loaded), each with ``applied``: an event with ``dedupe_key`` was applied
    to it already. Stands for ``Invoice.objects.filter(account=...,
    provider_id__in=...).only("pk", "provider_id", "account").annotate(applied=Exists(
    CallbackEvent.objects.filter(invoice=OuterRef("pk"), dedupe_key=...,
    state="applied")))``."""
    connection = _connection(Invoice)
    sql = _invoices_named_sql(connection.alias, len(ids))
    field = Invoice._meta.get_field("provider_id")
    params = [dedupe_key, CallbackEvent.State.APPLIED, account]
    params += [_uuid(connection, value) for value in ids]
    loaded = ["id", "provider_id", "account"]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [
            (
                Invoice.from_db(connection.alias, loaded, (pk, field.to_python(found), account)),
                bool(applied),
            )
            for pk, found, applied in cursor
        ]


@cache
def _invoices_named_sql(alias: str, count: int) -> str:
    invoice, event = _names(alias, Invoice), _names(alias, CallbackEvent)
    slots = ", ".join(["%s"] * count)
    return (
        f"SELECT i.{invoice['id']}, i.{invoice['provider_id']}, EXISTS("
        f"SELECT 1 FROM {event['table']} e WHERE e.{event['invoice']} = i.{invoice['id']} "
        f"AND e.{event['dedupe_key']} = %s AND e.{event['state']} = %s) "
        f"FROM {invoice['table']} i "
        f"WHERE i.{invoice['account']} = %s AND i.{invoice['provider_id']} IN ({slots})"
    )


def drain_requested(name: str) -> bool:
    """Whether the drain ``name`` is asked for and has not started. Stands for
    ``DrainSchedule.objects.filter(name=..., requested_at__isnull=False).exists()``."""
    connection = _connection(DrainSchedule)
    names = _names(connection.alias, DrainSchedule)
    sql = (
        f"SELECT 1 FROM {names['table']} "
        f"WHERE {names['name']} = %s AND {names['requested_at']} IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [name])
        return cursor.fetchone() is not None


def claim(pk: int, until: datetime, now: datetime, *, due_only: bool, waiting: bool) -> bool:
    """Set the invoice's lease to ``until`` if nobody holds it (and, ``due_only``, its
    callbacks' next read is due; ``waiting``, authentic callbacks still wait on it);
    whether it did. Stands for ``Invoice.objects.filter(Q(read_lease_until__isnull=True)
    | Q(read_lease_until__lte=now), pk=...).update(read_lease_until=until)`` (and the due
    condition, and ``Exists(CallbackEvent.objects.filter(invoice=OuterRef("pk"),
    verified=True, state="pending"))``)."""
    connection = _connection(Invoice)
    names = _names(connection.alias, Invoice)
    lease, due = names["read_lease_until"], names["callbacks_read_after"]
    sql = (
        f"UPDATE {names['table']} SET {lease} = %s WHERE {names['id']} = %s "
        f"AND ({lease} IS NULL OR {lease} <= %s)"
    )
    params = [_time(connection, until), pk, _time(connection, now)]
    if due_only:
        sql += f" AND ({due} IS NULL OR {due} <= %s)"
        params.append(_time(connection, now))
    if waiting:
        event = _names(connection.alias, CallbackEvent)
        sql += (
            f" AND EXISTS (SELECT 1 FROM {event['table']} e "
            f"WHERE e.{event['invoice']} = {names['table']}.{names['id']} "
            f"AND e.{event['verified']} = %s AND e.{event['state']} = %s)"
        )
        params += [True, CallbackEvent.State.PENDING]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


def waiting_events(invoice_pk: int, started: datetime) -> list[tuple[int, str, int, datetime]]:
    """``(pk, body, attempts, received_at)`` of the authentic pending events of the
    invoice received by ``started``, locked (rows another transaction holds are skipped).
    Stands for ``CallbackEvent.objects.select_for_update(skip_locked=True).filter(
    invoice=..., verified=True, state="pending", received_at__lte=started).only("body",
    "attempts", "received_at")``."""
    connection = _connection(CallbackEvent)
    names = _names(connection.alias, CallbackEvent)
    sql = (
        f"SELECT {names['id']}, {names['body']}, {names['attempts']}, {names['received_at']} "
        f"FROM {names['table']} "
        f"WHERE {names['invoice']} = %s AND {names['verified']} = %s "
        f"AND {names['state']} = %s AND {names['received_at']} <= %s"
    )
    features = connection.features
    if features.has_select_for_update and features.has_select_for_update_skip_locked:
        sql += " FOR UPDATE SKIP LOCKED"
    params = [invoice_pk, True, CallbackEvent.State.PENDING, _time(connection, started)]
    column = CallbackEvent._meta.get_field("received_at").get_col(CallbackEvent._meta.db_table)
    converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
    rows = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for pk, body, attempts, at in cursor:
            for converter in converters:
                at = converter(at, column, connection)
            rows.append((pk, body, attempts, at))
    return rows


def settle(pks: Sequence[int], state: str, outcome: str, now: datetime) -> int:
    """Give these events ``state`` and ``outcome`` and count an attempt; how many.
    Stands for ``CallbackEvent.objects.filter(pk__in=...).update(state=..., outcome=...,
    attempts=F("attempts") + 1, processed_at=now)``."""
    if not pks:
        return 0
    connection = _connection(CallbackEvent)
    names = _names(connection.alias, CallbackEvent)
    attempts = names["attempts"]
    slots = ", ".join(["%s"] * len(pks))
    sql = (
        f"UPDATE {names['table']} SET {names['state']} = %s, {names['outcome']} = %s, "
        f"{attempts} = {attempts} + 1, {names['processed_at']} = %s "
        f"WHERE {names['id']} IN ({slots})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [state, outcome, _time(connection, now), *pks])
        return cursor.rowcount


@cache
def _columns(alias: str, model: type[Model]) -> tuple[list[str], str]:
    """The attribute names of ``model``'s stored fields, and their quoted columns
    prefixed for a select list."""
    quote = connections[alias].ops.quote_name
    fields = model._meta.concrete_fields
    return [f.attname for f in fields], ", ".join(f"{{p}}.{quote(str(f.column))}" for f in fields)


def locked_invoice(pk: int) -> Invoice:
    """The invoice and its order, their rows locked until the transaction ends. Stands
    for ``Invoice.objects.select_for_update().select_related("order").get(pk=pk)``."""
    from ..models import Order

    connection = _connection(Invoice)
    alias = connection.alias
    invoice_names, invoice_columns = _columns(alias, Invoice)
    order_names, order_columns = _columns(alias, Order)
    invoice, order = _names(alias, Invoice), _names(alias, Order)
    sql = (
        f"SELECT {invoice_columns.format(p='i')}, {order_columns.format(p='o')} "
        f"FROM {invoice['table']} i INNER JOIN {order['table']} o "
        f"ON i.{invoice['order']} = o.{order['id']} WHERE i.{invoice['id']} = %s"
    )
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk])
        row = cursor.fetchone()
    if row is None:
        raise Invoice.DoesNotExist(f"no invoice {pk}")
    values = _from_db(connection, Invoice, row[: len(invoice_names)])
    found = Invoice.from_db(alias, invoice_names, values)
    found.order = Order.from_db(
        alias, order_names, _from_db(connection, Order, row[len(invoice_names) :])
    )
    return found


@cache
def _converters(alias: str, model: type[Model]) -> list[tuple[Any, list[Any]]]:
    """Per stored field of ``model``: its column and the database's converters of it,
    as the ORM applies them to what a query returns."""
    connection = connections[alias]
    found = []
    for field in model._meta.concrete_fields:
        column = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(column)
        found.append((column, converters + column.get_db_converters(connection)))
    return found


def _from_db(connection: BaseDatabaseWrapper, model: type[Model], row: Sequence[Any]) -> list[Any]:
    """A row's values as the model's fields read them (the database's converters)."""
    values = []
    for (column, converters), value in zip(_converters(connection.alias, model), row, strict=True):
        for converter in converters:
            value = converter(value, column, connection)
        values.append(value)
    return values


def credited_total(
    invoice_pk: int, column: str, statuses: Sequence[str], types: Sequence[str]
) -> Any:
    """The sum of the ``column`` field (``amount`` or ``processed_amount``) of the
    invoice's deposits in these statuses and types, None when there are none. Stands
    for ``Deposit.objects.filter(invoice=..., status__in=..., type__in=...)
    .aggregate(total=Sum(column))["total"]``."""
    from ..models import Deposit

    connection = _connection(Deposit)
    names = _names(connection.alias, Deposit)
    sql = (
        f"SELECT SUM({names[column]}) FROM {names['table']} WHERE {names['invoice']} = %s "
        f"AND {names['status']} IN ({', '.join(['%s'] * len(statuses))}) "
        f"AND {names['type']} IN ({', '.join(['%s'] * len(types))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [invoice_pk, *statuses, *types])
        row = cursor.fetchone()
    # Converted as the ORM converts the aggregate (SQLite keeps decimals as numbers).
    total = row[0] if row is not None else None
    expression = Sum(column, output_field=Deposit._meta.get_field(column))
    for converter in connection.ops.get_db_converters(expression) + expression.get_db_converters(
        connection
    ):
        total = converter(total, expression, connection)
    return total


def insert_many(instances: Sequence[Model]) -> None:
    """Insert new instances of one model, as many a statement as the database takes,
    their keys not read back. Stands for ``Model.objects.bulk_create(instances)``."""
    if not instances:
        return
    model = type(instances[0])
    connection = _connection(model)
    if connection.vendor not in ("postgresql", "sqlite"):
        model._default_manager.bulk_create(instances)
        return
    quoted = _names(connection.alias, model)
    rows = [_insert_values(instance, connection) for instance in instances]
    fields = rows[0][0]
    columns = ", ".join(quoted[f.name] for f in fields)
    row_slots = "(" + ", ".join(["%s"] * len(fields)) + ")"
    size = max(1, connection.ops.bulk_batch_size(fields, instances))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            cursor.execute(
                f"INSERT INTO {quoted['table']} ({columns}) "
                f"VALUES {', '.join([row_slots] * len(batch))}",
                [value for _fields, values in batch for value in values],
            )


def update_fields(instance: Model, names: Sequence[str]) -> None:
    """Write these fields of a saved instance (``auto_now`` ones refreshed first), as
    ``instance.save(update_fields=names)`` does, without its signals."""
    model = type(instance)
    connection = _connection(model)
    quoted = _names(connection.alias, model)
    fields = [model._meta.get_field(name) for name in names]
    values = [
        _db_value(field, field.pre_save(instance, False), connection)  # type: ignore[union-attr, arg-type]
        for field in fields
    ]
    assignments = ", ".join(f"{quoted[field.name]} = %s" for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quoted['table']} SET {assignments} WHERE {quoted['id']} = %s",
            [*values, instance.pk],
        )


# The value types a database driver takes as they are for these fields: adapting them
# through the field returns them unchanged, at a cost per column per callback. Any
# other field, or value, is adapted as ``save()`` adapts it.
_AS_IS: tuple[tuple[type[Field[Any, Any]], tuple[type, ...]], ...] = (
    (models.BooleanField, (bool, type(None))),
    (models.IntegerField, (int, type(None))),
    (models.CharField, (str, type(None))),
    (models.TextField, (str, type(None))),
)


@cache
def _as_is(field: Field[Any, Any]) -> tuple[type, ...]:
    """The types of value ``field`` can give the driver as they are."""
    return next((types for kind, types in _AS_IS if isinstance(field, kind)), ())


def _db_value(field: Field[Any, Any], value: Any, connection: BaseDatabaseWrapper) -> Any:
    """``value`` as ``field`` gives it to the database."""
    if type(value) in _as_is(field):
        return value
    return field.get_db_prep_save(value, connection)


def _insert_values(
    instance: Model, connection: BaseDatabaseWrapper
) -> tuple[list[Field[Any, Any]], list[Any]]:
    """The fields an ``INSERT`` of ``instance`` writes and their values for the
    database (``pre_save`` first, as ``save()`` does: ``auto_now_add`` is set)."""
    fields = _insert_fields(type(instance))
    return fields, [_db_value(f, f.pre_save(instance, True), connection) for f in fields]


@cache
def _insert_fields(model: type[Model]) -> list[Field[Any, Any]]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def insert(instance: Model) -> None:
    """Insert a new instance and set its primary key, as ``instance.save()`` does for a
    model without signals of its own; the ``INSERT ... RETURNING`` of databases that
    have it (PostgreSQL, SQLite), else ``save()`` itself."""
    model = type(instance)
    connection = _connection(model)
    if not connection.features.can_return_columns_from_insert:
        instance.save()
        return
    quoted = _names(connection.alias, model)
    fields, values = _insert_values(instance, connection)
    columns = ", ".join(quoted[f.name] for f in fields)
    slots = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quoted['table']} ({columns}) VALUES ({slots}) RETURNING {quoted['id']}",
            values,
        )
        row = cursor.fetchone()
    assert row is not None
    instance.pk = row[0]
    instance._state.adding = False
    instance._state.db = connection.alias


def store_event(event: CallbackEvent) -> bool:
    """Insert a callback event, unless the same request was stored before (the same
    ``account`` and ``replay_key``): then count it on that row (``times_received``,
    ``last_received_at``) and take that row's id, state and outcome instead. Returns
    whether it was such a replay. One ``INSERT ... ON CONFLICT`` on PostgreSQL and
    SQLite, so replays arriving at once add no row either."""
    connection = _connection(CallbackEvent)
    if event.replay_key is None:
        insert(event)
        return False
    if connection.vendor not in ("postgresql", "sqlite"):
        return _store_event_portably(event)
    _fields, values = _insert_values(event, connection)
    sql = _store_event_sql(connection.alias)
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    assert row is not None
    pk, state, outcome, invoice_id, attempts, received = row
    event.pk, event.times_received = pk, received
    event._state.adding, event._state.db = False, connection.alias
    if received == 1:
        return False
    event.state, event.outcome, event.invoice_id, event.attempts = (
        state,
        outcome,
        invoice_id,
        attempts,
    )
    return True


@cache
def _store_event_sql(alias: str) -> str:
    """``store_event``'s statement for the connection ``alias`` (its text never varies)."""
    names = _names(alias, CallbackEvent)
    columns = ", ".join(names[f.name] for f in _insert_fields(CallbackEvent))
    slots = ", ".join(["%s"] * len(_insert_fields(CallbackEvent)))
    table, times = names["table"], names["times_received"]
    returned = ("id", "state", "outcome", "invoice", "attempts", "times_received")
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({slots}) "
        f"ON CONFLICT ({names['account']}, {names['replay_key']}) DO UPDATE SET "
        f"{times} = {table}.{times} + 1, "
        f"{names['last_received_at']} = excluded.{names['received_at']} "
        f"RETURNING {', '.join(names[name] for name in returned)}"
    )


def _store_event_portably(event: CallbackEvent) -> bool:
    """``store_event`` for databases without ``ON CONFLICT``: a look, then an insert
    (the unique constraint turns a race into one ``IntegrityError``, then counted)."""
    from django.db import IntegrityError, transaction
    from django.db.models import F

    same = CallbackEvent.objects.filter(account=event.account, replay_key=event.replay_key)
    for _attempt in range(2):
        first = same.first()
        if first is not None:
            # As ON CONFLICT does: the replay's own arrival (the event is not saved, so
            # auto_now_add has not set its received_at).
            arrived = event.received_at or dj_timezone.now()
            same.update(times_received=F("times_received") + 1, last_received_at=arrived)
            first.times_received += 1
            event.__dict__.update(
                {k: v for k, v in first.__dict__.items() if not k.startswith("_")}
            )
            # The copied keys bypass the relations' setters: drop the related objects
            # the replay was built with, so event.invoice is the stored row's.
            event._state.fields_cache.clear()
            event._state.adding = False
            return True
        try:
            with transaction.atomic():
                event.save()
            return False
        except IntegrityError:
            continue
    raise RuntimeError("a callback event neither found nor stored")
