"""Encryption at rest: the data keys, and free text and contact details as AES-256-GCM bytea.

Makes data key 1 (wrapped by the configured master key: `migrate` needs the same key as the
server) and encrypts what the columns of `app.encryption.ENCRYPTED` already hold. Downgrading
decrypts them back to text.

Revision ID: 0005
Revises: 0002
"""

import os

import sqlalchemy as sa
from alembic import op

from app.encryption import ENCRYPTED, KEY_BYTES, DataKey, Keyring, MasterKey

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The columns as this revision made them (ENCRYPTED may grow in later revisions).
COLUMNS = {
    "app_user": ("email", "phone"),
    "student": ("email", "phone"),
    "mark": ("comment",),
    "portfolio": ("headline",),
    "portfolio_item": ("title", "body"),
    "data_request": ("details", "resolution"),
}
assert all(set(columns) <= set(ENCRYPTED[t]) for t, columns in COLUMNS.items())


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE data_key (
          id integer PRIMARY KEY,
          wrapped bytea NOT NULL,
          master_fingerprint text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          retired_at timestamptz
        )
        """
    )
    op.execute(
        "COMMENT ON TABLE data_key IS 'Data keys of encryption at rest, wrapped by the master key"
        " (which is never stored here): see docs/encryption.md'"
    )
    master = MasterKey.from_settings()
    wrapped = master.wrap(1, os.urandom(KEY_BYTES))
    bind = op.get_bind()
    bind.execute(
        sa.text("INSERT INTO data_key (id, wrapped, master_fingerprint) VALUES (1, :w, :f)"),
        {"w": wrapped, "f": master.fingerprint},
    )
    ring = Keyring.unwrap(master, [DataKey(1, wrapped, master.fingerprint)])
    for table, columns in COLUMNS.items():
        plain = bind.execute(
            sa.text(f"SELECT id, {', '.join(columns)} FROM {table}")  # noqa: S608 (constants)
        ).all()
        for column in columns:
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN {column} TYPE bytea"
                f" USING convert_to({column}, 'UTF8')"
            )
        _write(
            bind,
            table,
            columns,
            [
                (row[0], *(ring.encrypt(table, c, row[0], row[1 + n]) for n, c in enumerate(columns)))
                for row in plain
            ],
        )


def downgrade() -> None:
    bind = op.get_bind()
    master = MasterKey.from_settings()
    keys = [
        DataKey(int(r[0]), bytes(r[1]), str(r[2]))
        for r in bind.execute(
            sa.text("SELECT id, wrapped, master_fingerprint FROM data_key WHERE retired_at IS NULL")
        )
    ]
    ring = Keyring.unwrap(master, keys) if keys else None
    for table, columns in COLUMNS.items():
        sealed = bind.execute(
            sa.text(f"SELECT id, {', '.join(columns)} FROM {table}")  # noqa: S608 (constants)
        ).all()
        for column in columns:
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar"
                f" USING encode({column}, 'hex')"
            )
        if sealed and ring is None:
            raise RuntimeError("encrypted values but no data key to decrypt them with")
        _write(
            bind,
            table,
            columns,
            [
                (row[0], *(ring.decrypt(table, c, row[0], row[1 + n]) for n, c in enumerate(columns)))  # type: ignore[union-attr]
                for row in sealed
            ],
        )
    op.execute("DROP TABLE data_key")


def _write(bind: sa.Connection, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:  # type: ignore[type-arg]
    if not rows:
        return
    assignments = ", ".join(f"{c} = :{c}" for c in columns)
    bind.execute(
        sa.text(f"UPDATE {table} SET {assignments} WHERE id = :id"),  # noqa: S608 (constants)
        [{"id": row[0], **dict(zip(columns, row[1:], strict=True))} for row in rows],
    )
