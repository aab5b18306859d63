"""Keyed rows and an INSERT-only seal table: the record survives its database owner.

Every disclosure row gets `mac` (HMAC-SHA256 of its content under the audit key, which is never
stored in the database) and `txn` (the id of the transaction that wrote it, so the sealer knows
when no row can appear behind a seal). `disclosure_seal` chains committed rows in batches
(app/seals.py); like `disclosure` it refuses UPDATE, DELETE and TRUNCATE. Rows written before
this revision are given their MAC here, if and only if their old SHA-256 chain is intact.

Revision ID: 0004
Revises: 0002
"""

import hashlib
import json
from datetime import UTC

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("disclosure", sa.Column("mac", sa.Text(), nullable=True))
    op.add_column(
        "disclosure",
        sa.Column(
            "txn",
            sa.BigInteger(),
            nullable=False,
            server_default=sa.text("(pg_current_xact_id()::text::bigint)"),
        ),
    )
    # BRIN: the sealer reads rows by transaction id, which grows with the table; a BRIN index
    # costs the request's INSERT almost nothing where a B-tree would add a write per row.
    op.execute("CREATE INDEX ix_disclosure_txn ON disclosure USING brin (txn)")
    op.create_table(
        "disclosure_seal",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("district_id", sa.BigInteger(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("horizon", sa.BigInteger(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("total_rows", sa.BigInteger(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=True),
        sa.Column("rows_digest", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.Text(), nullable=True),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), server_default=sa.text("now()")),
    )
    op.create_index("ix_disclosure_seal_district_id", "disclosure_seal", ["district_id", "id"])
    # The same guard as migration 0002's for the record itself.
    op.execute(
        "CREATE TRIGGER disclosure_seal_no_update_delete BEFORE UPDATE OR DELETE ON disclosure_seal"
        " FOR EACH ROW EXECUTE FUNCTION disclosure_append_only()"
    )
    op.execute(
        "CREATE TRIGGER disclosure_seal_no_truncate BEFORE TRUNCATE ON disclosure_seal"
        " FOR EACH STATEMENT EXECUTE FUNCTION disclosure_append_only()"
    )
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON disclosure_seal FROM PUBLIC")
    _sign_existing_rows()


def _old_hash(row: sa.Row, prev_hash: str | None) -> str:
    """The SHA-256 chain of revisions 0001-0002 (app/disclosures.py before keyed rows)."""
    content = {
        "district_id": row.district_id,
        "student_id": row.student_id,
        "viewer_user_id": row.viewer_user_id,
        "basis": row.basis,
        "grant_id": row.grant_id,
        "purpose": row.purpose,
        "field_classes": list(row.field_classes),
        "request_id": row.request_id,
        "disclosed_at": row.disclosed_at.astimezone(UTC).isoformat(),
        "prev_hash": prev_hash,
    }
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def _sign_existing_rows() -> None:
    """Give the rows already on record their MAC, up to the first broken link of the old chain
    (from there on they stay unsigned, and `audit verify` reports them)."""
    from app.config import get_settings
    from app.disclosures import signer_for

    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT * FROM disclosure ORDER BY district_id, id")).fetchall()
    if not rows:
        return
    signer = signer_for(get_settings().audit_key)
    ids: list[int] = []
    macs: list[str] = []
    prev: dict[int, str | None] = {}
    broken: set[int] = set()
    for row in rows:
        if row.district_id in broken:
            continue
        expected = prev.get(row.district_id)
        if row.prev_hash != expected or _old_hash(row, row.prev_hash) != row.hash:
            broken.add(row.district_id)
            continue
        prev[row.district_id] = row.hash
        ids.append(row.id)
        macs.append(signer.row_mac(row._mapping))
    op.execute("ALTER TABLE disclosure DISABLE TRIGGER disclosure_no_update_delete")
    bind.execute(
        sa.text(
            "UPDATE disclosure d SET mac = u.mac"
            " FROM unnest(CAST(:ids AS BIGINT[]), CAST(:macs AS TEXT[])) AS u(id, mac)"
            " WHERE d.id = u.id"
        ),
        {"ids": ids, "macs": macs},
    )
    op.execute("ALTER TABLE disclosure ENABLE TRIGGER disclosure_no_update_delete")


def downgrade() -> None:
    op.drop_table("disclosure_seal")
    op.execute("DROP INDEX ix_disclosure_txn")
    op.drop_column("disclosure", "txn")
    op.drop_column("disclosure", "mac")
