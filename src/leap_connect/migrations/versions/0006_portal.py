"""portal: signed-in portal sessions and the daily count of opened Connect links

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-28 02:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leap_connect.models.base

revision: str = "0006"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_open_counts",
        sa.Column("flow_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("opens", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at", leap_connect.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["flow_id"],
            ["connect_flows.id"],
            name=op.f("fk_link_open_counts_flow_id_connect_flows"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_link_open_counts_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("flow_id", "day", name=op.f("pk_link_open_counts")),
    )
    with op.batch_alter_table("link_open_counts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_link_open_counts_org_day", ["organization_id", "day"], unique=False
        )

    op.create_table(
        "portal_sessions",
        sa.Column("token_hmac", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", leap_connect.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "last_seen_at", leap_connect.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "expires_at", leap_connect.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_portal_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_sessions")),
        sa.UniqueConstraint("token_hmac", name=op.f("uq_portal_sessions_token_hmac")),
    )
    with op.batch_alter_table("portal_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portal_sessions_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_portal_sessions_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("portal_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_sessions_user_id"))
        batch_op.drop_index(batch_op.f("ix_portal_sessions_expires_at"))

    op.drop_table("portal_sessions")
    with op.batch_alter_table("link_open_counts", schema=None) as batch_op:
        batch_op.drop_index("ix_link_open_counts_org_day")

    op.drop_table("link_open_counts")
