"""readings kept per series; meter data status; SAID apart from the customer account number

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 21:30:00.000000

`meter_intervals` kept one reading per meter and start, so a net-metered meter's received
energy overwrote its delivered energy, and readings of two interval lengths overwrote each other.
`meter_interval_readings` keys a reading by meter, direction ("delivered", "received", "net"),
interval length and start, and keeps its unit.

The existing readings move into it as the delivered series of their own length, in kWh: that is
what the connectors meant them to be. Since a net-metered meter's may hold received energy, the
stored days are forgotten, so each is asked of the utility again and its readings replaced.

`meters.data_status`: READY, or COLLECTING while the utility gathers the meter's history (UtilityAPI
does only when asked, with `historical-collection`), or FAILED; `collection_requested_at`: when it
was asked. UtilityAPI meters recorded before this revision were never asked, so they start
COLLECTING, and their first intervals request queues the collection.

`meters.electric_service_account_number` is, as Leap defines it in CAISO, the service agreement ID
(SAID); it held the customer's account number, which moves to `customer_account_number`. UtilityAPI
meters' SAID is their `service_identifier`, already kept as `service_point_id`; a Green Button
meter's comes with its next authorization. `service_class`: UtilityAPI's, kept from now on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leap_connect.models.base

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

old_readings = sa.table(
    "meter_intervals",
    sa.column("meter_id", sa.Uuid()),
    sa.column("interval_start", leap_connect.models.base.UTCDateTime(timezone=True)),
    sa.column("duration_seconds", sa.Integer()),
    sa.column("kwh", sa.Double()),
)
new_readings = sa.table(
    "meter_interval_readings",
    sa.column("meter_id", sa.Uuid()),
    sa.column("direction", sa.String()),
    sa.column("interval_seconds", sa.Integer()),
    sa.column("interval_start", leap_connect.models.base.UTCDateTime(timezone=True)),
    sa.column("duration_seconds", sa.Integer()),
    sa.column("value", sa.Double()),
    sa.column("unit", sa.String()),
)
days = sa.table("meter_interval_days", sa.column("meter_id", sa.Uuid()))
meters = sa.table(
    "meters",
    sa.column("utility_id", sa.String()),
    sa.column("data_status", sa.String()),
    sa.column("electric_service_account_number", sa.String()),
    sa.column("customer_account_number", sa.String()),
    sa.column("service_point_id", sa.String()),
)
UTILITYAPI_UTILITY_IDS = ("cecony-utilityapi", "oru-utilityapi", "psegli-utilityapi")


def upgrade() -> None:
    op.create_table(
        "meter_interval_readings",
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column(
            "interval_start", leap_connect.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("unit", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meters.id"], name=op.f("fk_meter_interval_readings_meter_id_meters")
        ),
        sa.PrimaryKeyConstraint(
            "meter_id",
            "direction",
            "interval_seconds",
            "interval_start",
            name=op.f("pk_meter_interval_readings"),
        ),
    )
    op.execute(
        new_readings.insert().from_select(
            [
                "meter_id",
                "direction",
                "interval_seconds",
                "interval_start",
                "duration_seconds",
                "value",
                "unit",
            ],
            sa.select(
                old_readings.c.meter_id,
                sa.literal("delivered"),
                old_readings.c.duration_seconds,
                old_readings.c.interval_start,
                old_readings.c.duration_seconds,
                old_readings.c.kwh,
                sa.literal("kWh"),
            ),
        )
    )
    op.execute(sa.delete(days))
    op.drop_table("meter_intervals")

    with op.batch_alter_table("meters", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("data_status", sa.String(length=12), server_default="READY", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "collection_requested_at",
                leap_connect.models.base.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("customer_account_number", sa.String(length=200), nullable=True)
        )
        batch_op.add_column(sa.Column("service_class", sa.String(length=40), nullable=True))
    utilityapi = meters.c.utility_id.in_(UTILITYAPI_UTILITY_IDS)
    op.execute(
        meters.update().values(
            data_status=sa.case((utilityapi, "COLLECTING"), else_="READY"),
            customer_account_number=meters.c.electric_service_account_number,
            electric_service_account_number=sa.case(
                (utilityapi, meters.c.service_point_id), else_=None
            ),
        )
    )


def downgrade() -> None:
    op.execute(
        meters.update().values(electric_service_account_number=meters.c.customer_account_number)
    )
    with op.batch_alter_table("meters", schema=None) as batch_op:
        batch_op.drop_column("service_class")
        batch_op.drop_column("customer_account_number")
        batch_op.drop_column("collection_requested_at")
        batch_op.drop_column("data_status")
    # One reading per meter and start: the delivered kWh series is what the old table meant, and
    # of its lengths the finest is kept. Other series are lost; the days are asked for again.
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
    finest = (
        sa.select(
            new_readings.c.meter_id,
            sa.func.min(new_readings.c.interval_seconds).label("interval_seconds"),
        )
        .where(new_readings.c.direction == "delivered", new_readings.c.unit == "kWh")
        .group_by(new_readings.c.meter_id)
        .subquery()
    )
    op.execute(
        old_readings.insert().from_select(
            ["meter_id", "interval_start", "duration_seconds", "kwh"],
            sa.select(
                new_readings.c.meter_id,
                new_readings.c.interval_start,
                new_readings.c.duration_seconds,
                new_readings.c.value,
            )
            .join(
                finest,
                sa.and_(
                    finest.c.meter_id == new_readings.c.meter_id,
                    finest.c.interval_seconds == new_readings.c.interval_seconds,
                ),
            )
            .where(new_readings.c.direction == "delivered", new_readings.c.unit == "kWh"),
        )
    )
    op.execute(sa.delete(days))
    op.drop_table("meter_interval_readings")
