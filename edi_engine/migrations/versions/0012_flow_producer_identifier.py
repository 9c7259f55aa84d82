"""flows keep the producer's own flow identifier for the CR

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 15:00:00.000000

(placeholder: filled in by the change that needs it)
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
