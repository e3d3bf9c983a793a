"""customer journey: where customers reach the partner for help

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 21:30:00.000000

`organizations.support_contact`: an e-mail address or an https:// URL that every customer page,
error pages included, offers as the way to reach the partner. Empty for existing partners until
they set it (`leap-connect orgs update --support-contact`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("support_contact", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("support_contact")
