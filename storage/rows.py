"""Model instances from the plain rows of `Database.rows()`, for the hot look-ups.

`columns_of(Resident)` lists the table's columns for a Core select, and `load` makes a Resident of
its slice of a row the way the ORM loads one (the class's own `__new__`, no validation), then
detaches it with its identity, as a session would leave it after closing: it can be read, or
merged into a session, but a session never takes it for a new row.

`columns_of(Area, without=("boundary",))` leaves a column out of the select: a look-up that does
not need a ward's boundary (kilobytes of GeoJSON, repeated on every row of a join) does not
fetch it. The instance then has that attribute unloaded: reading it raises (a detached instance
cannot load it), and a `session.merge` of it leaves the column as it is in the database.
"""

from __future__ import annotations

from functools import cache
from typing import Generic, TypeVar

from sqlalchemy import inspect
from sqlalchemy.orm import make_transient_to_detached

Model = TypeVar("Model")


class Columns(Generic[Model]):
    def __init__(self, model: type[Model], without: tuple[str, ...] = ()) -> None:
        mapper = inspect(model)
        self.model = model
        unknown = set(without) - set(mapper.local_table.columns.keys())
        if unknown:
            raise ValueError(f"{model.__name__} has no column {', '.join(sorted(unknown))}")
        self.columns = tuple(column for column in mapper.local_table.columns if column.key not in without)
        self._keys = tuple(mapper.get_property_by_column(column).key for column in self.columns)
        self._primary = tuple(self.columns.index(column) for column in mapper.primary_key)
        self._new = mapper.class_manager.new_instance

    def __len__(self) -> int:
        return len(self.columns)

    def load(self, values) -> Model | None:
        """The instance of `values` (this model's columns in order), or None when its primary key
        is NULL (no row on the outer side of a join)."""
        if any(values[i] is None for i in self._primary):
            return None
        instance = self._new()
        instance.__dict__.update(zip(self._keys, values))
        make_transient_to_detached(instance)
        return instance


@cache
def columns_of(model: type[Model], without: tuple[str, ...] = ()) -> Columns[Model]:
    return Columns(model, without)


def split(row: tuple, *parts: Columns) -> tuple[list, tuple]:
    """The instances of a row that holds `parts`' columns one after the other (None for each
    part an outer join found nothing for), and the row's values after them."""
    instances, start = [], 0
    for part in parts:
        instances.append(part.load(row[start:start + len(part)]))
        start += len(part)
    return instances, row[start:]
