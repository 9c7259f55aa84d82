"""partners and engagements can be deactivated

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:00:00.000000

Every partner and every published commitment already there stays active.
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN: a batch copy would drop `partners`, which other tables reference
    op.add_column('partners', sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column('engagements', sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    op.drop_column('engagements', 'active')
    op.drop_column('partners', 'active')
