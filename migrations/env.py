"""Alembic environment for Flask-Migrate: the schema of cardshop.models.

Logging is left to the app (no fileConfig: it would replace the JSON log handlers of
a process that runs migrations in-process, such as the tests).
"""

from alembic import context
from alembic.operations import ops
from flask import current_app
from sqlalchemy import ForeignKeyConstraint

config = context.config
migrate = current_app.extensions["migrate"]
target_metadata = migrate.db.metadata


def run_migrations_offline() -> None:
    url = migrate.db.engine.url.render_as_string(hide_password=False)
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def defer_use_alter(upgrade_ops: ops.UpgradeOps) -> None:
    """op.create_table() leaves out foreign keys marked use_alter; add them after
    every table exists, as create_all() does."""
    later = []
    for operation in upgrade_ops.ops:
        if not isinstance(operation, ops.CreateTableOp):
            continue
        deferred = [item for item in operation.columns if isinstance(item, ForeignKeyConstraint) and item.use_alter]
        # Filter by identity: == on a SQLAlchemy column builds an expression.
        operation.columns = [item for item in operation.columns if all(item is not fk for fk in deferred)]
        for item in deferred:
            targets = [element._get_colspec().split(".") for element in item.elements]
            add = ops.CreateForeignKeyOp(
                item.name, operation.table_name, targets[0][0], list(item.column_keys), [c for _, c in targets]
            )
            # Inside batch_alter_table, so SQLite (which cannot ALTER a constraint in) works too.
            later.append(ops.ModifyTableOps(operation.table_name, [add]))
    upgrade_ops.ops.extend(later)


def run_migrations_online() -> None:
    def skip_empty(context, revision, directives):  # type: ignore[no-untyped-def]
        # `db migrate` with no model changes writes no empty revision.
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            return
        if directives:
            defer_use_alter(directives[0].upgrade_ops)

    options = {"compare_type": True, "process_revision_directives": skip_empty, **migrate.configure_args}
    with migrate.db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, **options)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
