"""flows keep the producer's own flow identifier for the CR

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 15:00:00.000000

`flows.producer_flow_id`: the IdFlx a deposited pivot or status file carries in its
envelope, echoed in the flow's CR (`IdFlux`). Flows received before are left NULL: their
CR is written already, and one written again (a re-run) reads the IdFlx back from the
archived original.
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN: a batch copy would drop `flows`, which other tables reference
    op.add_column('flows', sa.Column('producer_flow_id', sa.String(length=100), nullable=True))


def downgrade() -> None:
    op.drop_column('flows', 'producer_flow_id')
