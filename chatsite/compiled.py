"""Hot queries built once: their SQL kept, their values bound anew on each call.

The ORM builds a query's SQL from scratch on every call (filters resolved, expressions
copied, the statement compiled); for the handful of statements every turn runs, that
costs more CPU than the database spends answering them. A `Compiled` query is an ORM
queryset built once per database with marker values in place of its variable ones; each
call puts the real values where the markers were and runs the same SQL through `raw()`,
which still makes model instances with each field's own conversion from the database.

Whole numbers (ids) and strings are bound as they are, as the ORM passes them to every
backend; dates go through the backend's own adaptation, as the ORM's do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any, Generic, TypeVar

from django.db import connections, models

M = TypeVar("M", bound=models.Model)

# Marker values no real id or word takes; each call site's markers are these, in order.
# Inside a 32-bit integer column's range: the ORM drops a lookup on a value outside it.
_INT_MARK = -1_987_654_321
_STR_MARK = "\x00compiled-marker-{}\x00"
_DATE_MARK = date(1901, 2, 3)


def _marker(kind: str, i: int) -> Any:
    if kind == "int":
        return _INT_MARK - i
    if kind == "str":
        return _STR_MARK.format(i)
    if kind == "date":
        return _DATE_MARK + timedelta(days=i)
    raise ValueError(f"Unknown kind of value: {kind}")


class Compiled(Generic[M]):
    """`build(*markers)` returns the queryset; `kinds` says each marker's type ("int",
    "str" or "date"). The queryset must select its model's primary key (raw() needs it)."""

    def __init__(self, build: Callable[..., models.QuerySet[M]], kinds: Sequence[str]) -> None:
        self.build = build
        self.kinds = list(kinds)
        self.markers = [_marker(kind, i) for i, kind in enumerate(kinds)]
        # Per database alias: the model, the SQL, its parameters, and where each
        # marker's value goes (a value used twice in the query has two places).
        self._built: dict[str, tuple[type[M], str, list[Any], list[list[int]]]] = {}
        self._lock = threading.Lock()

    def _statement(self, using: str) -> tuple[type[M], str, list[Any], list[list[int]]]:
        built = self._built.get(using)
        if built is None:
            with self._lock:
                queryset = self.build(*self.markers)
                sql, params = queryset.query.get_compiler(using).as_sql()
                params = list(params)
                positions = []
                for kind, marker in zip(self.kinds, self.markers, strict=True):
                    marker = self._adapted(kind, marker, using)
                    found = [i for i, param in enumerate(params) if param == marker]
                    if not found:
                        raise ValueError(f"A marker is missing from {sql!r}")
                    positions.append(found)
                built = self._built[using] = (queryset.model, sql, params, positions)
        return built

    def all(self, *values: Any, using: str = "default") -> list[M]:
        """The rows of the query with `values` in the markers' places."""
        model, sql, params, positions = self._statement(using)
        bound = list(params)
        for kind, places, value in zip(self.kinds, positions, values, strict=True):
            value = self._adapted(kind, value, using)
            for place in places:
                bound[place] = value
        return list(model._default_manager.db_manager(using).raw(sql, bound))

    @staticmethod
    def _adapted(kind: str, value: Any, using: str) -> Any:
        if kind == "date":
            return connections[using].ops.adapt_datefield_value(value)
        return value

    def first(self, *values: Any, using: str = "default") -> M | None:
        rows = self.all(*values, using=using)
        return rows[0] if rows else None


class Insert(Generic[M]):
    """New rows of `model` written by one INSERT whose SQL is built once per database and
    number of rows: every concrete field but the automatic key, each value prepared by
    its field as the ORM prepares it (`pre_save`, then `get_db_prep_save`), the new keys
    read back into the instances in order. Like `bulk_create`, it sends no signals.
    Where the backend cannot read keys back from a bulk insert, it is `bulk_create`."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self.fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        self._sql: dict[tuple[str, int], str] = {}

    def _statement(self, using: str, rows: int) -> str:
        sql = self._sql.get((using, rows))
        if sql is None:
            quote = connections[using].ops.quote_name
            columns = ", ".join(quote(f.column) for f in self.fields)
            row = "(" + ", ".join(["%s"] * len(self.fields)) + ")"
            # Names from the model's own metadata, quoted by the backend; values are
            # parameters.
            table, key = quote(self.model._meta.db_table), quote(self.model._meta.pk.column)
            values = ", ".join([row] * rows)
            sql = f"INSERT INTO {table} ({columns}) VALUES {values} RETURNING {key}"  # noqa: S608
            self._sql[using, rows] = sql
        return sql

    def save(self, objs: Sequence[M], *, using: str = "default") -> None:
        connection = connections[using]
        if not connection.features.can_return_rows_from_bulk_insert:
            self.model._default_manager.db_manager(using).bulk_create(objs)
            return
        params = [
            field.get_db_prep_save(field.pre_save(obj, True), connection)
            for obj in objs
            for field in self.fields
        ]
        with connection.cursor() as cursor:
            cursor.execute(self._statement(using, len(objs)), params)
            keys = cursor.fetchall()
        for obj, (key,) in zip(objs, keys, strict=True):
            setattr(obj, self.model._meta.pk.attname, key)
            obj._state.adding, obj._state.db = False, using


class Update(Generic[M]):
    """New values for some fields of one row of `model`, found by its key: an UPDATE
    whose SQL is built once per database, each value prepared by its field. Like
    `QuerySet.update`, it sends no signals; it returns the rows changed (0 or 1)."""

    def __init__(self, model: type[M], field_names: Sequence[str]) -> None:
        self.model = model
        self.fields = [model._meta.get_field(name) for name in field_names]
        self._sql: dict[str, str] = {}

    def _statement(self, using: str) -> str:
        sql = self._sql.get(using)
        if sql is None:
            quote = connections[using].ops.quote_name
            columns = ", ".join(f"{quote(f.column)} = %s" for f in self.fields)
            # Names from the model's own metadata, quoted by the backend.
            table, key = quote(self.model._meta.db_table), quote(self.model._meta.pk.column)
            sql = f"UPDATE {table} SET {columns} WHERE {key} = %s"  # noqa: S608
            self._sql[using] = sql
        return sql

    def run(self, key: Any, *values: Any, using: str = "default") -> int:
        connection = connections[using]
        params = [
            field.get_db_prep_save(value, connection)
            for field, value in zip(self.fields, values, strict=True)
        ]
        with connection.cursor() as cursor:
            cursor.execute(self._statement(using), [*params, key])
            return cursor.rowcount
