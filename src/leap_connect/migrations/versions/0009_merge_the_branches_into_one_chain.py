"""merge the branches into one chain: the five migrations written side by side on 0001 now lead here

Revision ID: 0009
Revises: 0002, 0005, 0006, 0007, 0008
Create Date: 2026-11-28 06:00:00.000000

0002, 0005, 0006, 0007 and 0008 each revise 0001 and touch different tables, so their order does
not matter; this revision changes no schema, it only gives the chain one head again, so `upgrade
head` and new revisions have one place to start. A database that the old runner upgraded to
every head holds those five in alembic_version; upgrading it replaces them with this one.
Re-pointing the five into one line instead would make those rows ancestors of one another, and
alembic refuses to upgrade such a database ("Requested revision 0005 overlaps with other requested
revisions 0002").
"""

from collections.abc import Sequence

revision: str = "0009"
down_revision: str | Sequence[str] | None = ("0002", "0005", "0006", "0007", "0008")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
