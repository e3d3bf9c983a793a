"""webhook delivery batches: one delivery job per endpoint instead of one per attempt

Revision ID: 0007
Revises: 0001
Create Date: 2026-11-28 04:30:00.000000

Deliveries remember how much of the retry schedule they have used (it was in each attempt's job),
an index finds an endpoint's due deliveries, and the attempt jobs still waiting become one job per
endpoint with pending deliveries. Stop the workers while it runs.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import leap_connect.models.base

revision: str = "0007"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DELIVER_JOB = "webhooks.deliver"
UNFINISHED = ("QUEUED", "RUNNING")

moment = leap_connect.models.base.UTCDateTime(timezone=True)
jobs = sa.table(
    "jobs",
    sa.column("id", sa.Uuid()),
    sa.column("kind", sa.String()),
    sa.column("payload", sa.JSON()),
    sa.column("status", sa.String()),
    sa.column("run_at", moment),
    sa.column("attempts", sa.Integer()),
    sa.column("max_attempts", sa.Integer()),
    sa.column("dedupe_key", sa.String()),
    sa.column("created_at", moment),
    sa.column("updated_at", moment),
)
deliveries = sa.table(
    "webhook_deliveries",
    sa.column("id", sa.Uuid()),
    sa.column("endpoint_id", sa.Uuid()),
    sa.column("status", sa.String()),
    sa.column("attempt_count", sa.Integer()),
    sa.column("next_attempt_at", moment),
    sa.column("scheduled_retries", sa.Integer()),
)


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scheduled_retries", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_index(
            "ix_webhook_deliveries_endpoint_due",
            ["endpoint_id", "status", "next_attempt_at"],
            unique=False,
        )
    _one_job_per_endpoint()


def _one_job_per_endpoint() -> None:
    connection = op.get_bind()
    waiting = connection.execute(
        sa.select(jobs.c.id, jobs.c.payload).where(
            jobs.c.kind == DELIVER_JOB, jobs.c.status.in_(UNFINISHED)
        )
    ).all()
    for _, payload in waiting:
        if "delivery_id" in payload:
            connection.execute(
                sa.update(deliveries)
                .where(deliveries.c.id == uuid.UUID(payload["delivery_id"]))
                .values(scheduled_retries=int(payload.get("retry", 0)))
            )
    if waiting:
        connection.execute(sa.delete(jobs).where(jobs.c.id.in_([job_id for job_id, _ in waiting])))
    due = connection.execute(
        sa.select(deliveries.c.endpoint_id, sa.func.min(deliveries.c.next_attempt_at))
        .where(deliveries.c.status == "PENDING")
        .group_by(deliveries.c.endpoint_id)
    ).all()
    now = datetime.now(UTC)
    for endpoint_id, run_at in due:
        connection.execute(
            sa.insert(jobs).values(
                id=uuid.uuid4(),
                kind=DELIVER_JOB,
                payload={"webhook_endpoint_id": str(endpoint_id)},
                status="QUEUED",
                run_at=run_at or now,
                attempts=0,
                max_attempts=10,
                dedupe_key=f"webhook-endpoint:{endpoint_id}",
                created_at=now,
                updated_at=now,
            )
        )


def downgrade() -> None:
    _one_job_per_attempt()
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_endpoint_due")
        batch_op.drop_column("scheduled_retries")


def _one_job_per_attempt() -> None:
    connection = op.get_bind()
    connection.execute(
        sa.delete(jobs).where(jobs.c.kind == DELIVER_JOB, jobs.c.status.in_(UNFINISHED))
    )
    pending = connection.execute(
        sa.select(
            deliveries.c.id,
            deliveries.c.attempt_count,
            deliveries.c.scheduled_retries,
            deliveries.c.next_attempt_at,
        ).where(deliveries.c.status == "PENDING")
    ).all()
    now = datetime.now(UTC)
    for delivery_id, attempt_count, retries, run_at in pending:
        attempt = attempt_count + 1
        connection.execute(
            sa.insert(jobs).values(
                id=uuid.uuid4(),
                kind=DELIVER_JOB,
                payload={"delivery_id": str(delivery_id), "attempt": attempt, "retry": retries},
                status="QUEUED",
                run_at=run_at or now,
                attempts=0,
                max_attempts=5,
                dedupe_key=f"webhook-delivery:{delivery_id}:{attempt}",
                created_at=now,
                updated_at=now,
            )
        )
