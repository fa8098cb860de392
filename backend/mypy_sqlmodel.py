"""mypy plugin: a SQLModel table's field read on the class is the column SQLAlchemy puts there.

SQLModel's annotations describe instances (`Booking.hold_expires_at` is a datetime or None on a
row), so mypy takes `Booking.id.in_(...)` or `update(Booking).where(Booking.id == 1)` for an int
and a bool.
At run time the class attribute is an `InstrumentedAttribute`; this plugin says so, which types
queries the way SQLAlchemy's own `Mapped[...]` annotations would.
"""
from collections.abc import Callable

from mypy.nodes import MDEF, NameExpr, TypeInfo, Var
from mypy.plugin import AttributeContext, ClassDefContext, Plugin
from mypy.plugins.common import add_attribute_to_class
from mypy.types import CallableType, Instance, Type, TypeType, get_proper_type

SQLMODEL = "sqlmodel.main.SQLModel"
METADATA = "sqlmodel_columns"
TABLE = "sqlalchemy.sql.schema.Table"
COLUMN = "sqlalchemy.orm.attributes.InstrumentedAttribute"


class SQLModelColumns(Plugin):
    """Type reads of table fields on the class as instrumented attributes."""

    def get_class_attribute_hook(self, fullname: str) -> Callable[[AttributeContext], Type] | None:
        owner, _, name = fullname.rpartition(".")
        symbol = self.lookup_fully_qualified(owner)
        if symbol is None or not isinstance(symbol.node, TypeInfo) or not symbol.node.has_base(SQLMODEL):
            return None
        field = symbol.node.names.get(name)
        if name.startswith("_") or field is None or field.kind != MDEF or not isinstance(field.node, Var):
            return None
        if field.node.is_classvar or field.node.is_property:
            return None
        return self._column

    def get_customize_class_mro_hook(self, fullname: str) -> Callable[[ClassDefContext], None] | None:
        return _remember_table

    def get_additional_deps(self, file: object) -> list[tuple[int, str, int]]:
        return [(10, "sqlalchemy.orm.attributes", -1), (10, "sqlalchemy.sql.schema", -1)]

    def _column(self, ctx: AttributeContext) -> Type:
        """The column for a field read on a table class; the declared type anywhere else."""
        owner = _accessed_class(ctx)
        column = self.lookup_fully_qualified(COLUMN)
        if ctx.is_lvalue or owner is None or not _is_table(owner) or column is None:
            return ctx.default_attr_type
        assert isinstance(column.node, TypeInfo)
        return Instance(column.node, [ctx.default_attr_type])


def _accessed_class(ctx: AttributeContext) -> TypeInfo | None:
    """The class the attribute is read on (`Booking` in `Booking.id`)."""
    owner = get_proper_type(ctx.type)
    if isinstance(owner, CallableType) and owner.is_type_obj():
        return owner.type_object()
    if isinstance(owner, TypeType) and isinstance(owner.item, Instance):
        return owner.item.type
    return None


def _remember_table(ctx: ClassDefContext) -> None:
    """Note a class declared with `table=True` where mypy's cache keeps it (the keywords it drops).

    Such a class also gets the `__table__` SQLAlchemy gives it, which SQLModel does not declare.
    """
    table = ctx.cls.keywords.get("table")
    if isinstance(table, NameExpr) and table.fullname == "builtins.True" and ctx.cls.info.has_base(SQLMODEL):
        ctx.cls.info.metadata[METADATA] = {"table": True}
        core_table = ctx.api.lookup_fully_qualified_or_none(TABLE)
        if core_table is not None and isinstance(core_table.node, TypeInfo):
            add_attribute_to_class(ctx.api, ctx.cls, "__table__", Instance(core_table.node, []), is_classvar=True)


def _is_table(info: TypeInfo) -> bool:
    """Whether the class was declared with `table=True`."""
    return bool(info.metadata.get(METADATA, {}).get("table"))


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point."""
    return SQLModelColumns
