"""authorization lifecycle: expiry, revocation, re-authorization

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 21:30:00.000000

`connect_flows.authorization_months`: how long a flow wishes a customer's permission to last
(PG&E's `PreferredAuthEndDate`); existing flows wish the 12 months every request asked before.

`utility_authorizations.status_checked_at`: when the utility was last asked whether a grant still
stands (the daily check). `revocation_requested_at` and `revocation_error`: a partner's request to
end a grant, which a job carries out at the utility and retries until it is done, with the
utility's last refusal. The two indexes serve the lifecycle job's two queries.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leap_connect.models.base

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("connect_flows", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("authorization_months", sa.Integer(), server_default="12", nullable=False)
        )
    with op.batch_alter_table("utility_authorizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "status_checked_at",
                leap_connect.models.base.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "revocation_requested_at",
                leap_connect.models.base.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("revocation_error", sa.String(length=1000), nullable=True))
        batch_op.create_index(
            "ix_utility_authorizations_status_expires", ["status", "expires_at"], unique=False
        )
        batch_op.create_index(
            "ix_utility_authorizations_status_checked",
            ["status", "status_checked_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("utility_authorizations", schema=None) as batch_op:
        batch_op.drop_index("ix_utility_authorizations_status_checked")
        batch_op.drop_index("ix_utility_authorizations_status_expires")
        batch_op.drop_column("revocation_error")
        batch_op.drop_column("revocation_requested_at")
        batch_op.drop_column("status_checked_at")
    with op.batch_alter_table("connect_flows", schema=None) as batch_op:
        batch_op.drop_column("authorization_months")
