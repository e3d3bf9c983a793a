"""webhook endpoints: deleted ones are marked before they are removed; static headers encrypted

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 12:00:00.000000

`deleted_at`: deleting an endpoint marks it, and its delivery job then removes it and its log,
so a deletion never conflicts with an event's fan-out inserting a delivery for the endpoint.

`headers_encrypted`: the static headers, encrypted with the instance's encryption keys. Existing
rows keep their plain `headers` here, because migrations do not have the keys; the application
reads both forms, writes only the encrypted one, and the worker's `webhooks.encrypt_headers` job
encrypts the rows this migration leaves plain.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leap_connect.models.base

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("headers_encrypted", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "deleted_at", leap_connect.models.base.UTCDateTime(timezone=True), nullable=True
            )
        )


endpoints = sa.table("webhook_endpoints", sa.column("id", sa.Uuid()), sa.column("deleted_at"))
deliveries = sa.table(
    "webhook_deliveries", sa.column("id", sa.Uuid()), sa.column("endpoint_id", sa.Uuid())
)
attempts = sa.table("webhook_delivery_attempts", sa.column("delivery_id", sa.Uuid()))


def downgrade() -> None:
    # Encrypted headers cannot be decrypted here (no keys): downgrading loses them. Endpoints
    # marked deleted that their jobs have not removed yet are removed now, or they would come back.
    deleted = sa.select(endpoints.c.id).where(endpoints.c.deleted_at.is_not(None))
    logged = sa.select(deliveries.c.id).where(deliveries.c.endpoint_id.in_(deleted))
    op.execute(sa.delete(attempts).where(attempts.c.delivery_id.in_(logged)))
    op.execute(sa.delete(deliveries).where(deliveries.c.endpoint_id.in_(deleted)))
    op.execute(sa.delete(endpoints).where(endpoints.c.id.in_(deleted)))
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("headers_encrypted")
