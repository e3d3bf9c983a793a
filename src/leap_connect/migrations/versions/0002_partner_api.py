"""partner api: stored interval readings and the days they cover

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 01:44:46.542222
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leap_connect.models.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meter_interval_days",
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reading_count", sa.Integer(), nullable=False),
        sa.Column(
            "fetched_at", leap_connect.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meters.id"], name=op.f("fk_meter_interval_days_meter_id_meters")
        ),
        sa.PrimaryKeyConstraint("meter_id", "day", name=op.f("pk_meter_interval_days")),
    )
    op.create_table(
        "meter_intervals",
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column(
            "interval_start", leap_connect.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("kwh", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meters.id"], name=op.f("fk_meter_intervals_meter_id_meters")
        ),
        sa.PrimaryKeyConstraint("meter_id", "interval_start", name=op.f("pk_meter_intervals")),
    )


def downgrade() -> None:
    op.drop_table("meter_intervals")
    op.drop_table("meter_interval_days")
