"""flows that kill their worker are tried a bounded number of times: no schema change

The deaths of a flow's workers are counted from its events (leasing.WORKER_LOST, since
its last re-run), which every ledger already has; this revision keeps its place in the
chain and changes nothing.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 17:30:00.000000
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
