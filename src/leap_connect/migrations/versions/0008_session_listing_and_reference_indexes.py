"""indexes: connect sessions listed newest first, authorizations found by their utility's reference

Revision ID: 0008
Revises: 0001
Create Date: 2026-11-28 05:00:00.000000

`GET /v2/connect/sessions` and the portal list an organization's sessions by (created_at, id)
descending; UtilityAPI's webhooks name an authorization by UtilityAPI's reference for it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_connect_sessions_org_created",
        "connect_sessions",
        ["organization_id", "created_at", "id"],
    )
    op.create_index(
        "ix_utility_authorizations_utility_ref",
        "utility_authorizations",
        ["utility_id", "utility_authorization_ref"],
    )


def downgrade() -> None:
    op.drop_index("ix_utility_authorizations_utility_ref", table_name="utility_authorizations")
    op.drop_index("ix_connect_sessions_org_created", table_name="connect_sessions")
