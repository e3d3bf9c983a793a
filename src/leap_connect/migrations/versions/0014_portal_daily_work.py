"""portal: link opens recorded per visitor and day, instead of counted in memory

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 21:30:00.000000

`link_opens` holds one row per flow, UTC day and visitor (a keyed hash of the client's address, user
agent and the day: no address is stored), written by every server within seconds, so the funnel
counts people from durable rows. It replaces `link_open_counts`, whose sums counted every showing of
a page (repeat visits and e-mail scanners too) and cannot be split into visitors: they are dropped.
Downgrading turns the rows back into one count per flow and day.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leap_connect.models.base

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_opens",
        sa.Column("flow_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("visitor", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("browser_binding_hmac", sa.String(length=64), nullable=False),
        sa.Column("opened_at", leap_connect.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["connect_flows.id"], name=op.f("fk_link_opens_flow_id_connect_flows")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_link_opens_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("flow_id", "day", "visitor", name=op.f("pk_link_opens")),
    )
    with op.batch_alter_table("link_opens", schema=None) as batch_op:
        batch_op.create_index("ix_link_opens_org_day", ["organization_id", "day"], unique=False)

    with op.batch_alter_table("link_open_counts", schema=None) as batch_op:
        batch_op.drop_index("ix_link_open_counts_org_day")
    op.drop_table("link_open_counts")


def downgrade() -> None:
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
    op.execute(
        "INSERT INTO link_open_counts (flow_id, day, organization_id, opens, updated_at)"
        " SELECT flow_id, day, organization_id, COUNT(*), MAX(opened_at) FROM link_opens"
        " GROUP BY flow_id, day, organization_id"
    )
    with op.batch_alter_table("link_opens", schema=None) as batch_op:
        batch_op.drop_index("ix_link_opens_org_day")
    op.drop_table("link_opens")
