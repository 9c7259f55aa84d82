"""status history keeps the source's time and the recipient at the time

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 15:00:00.000000

(placeholder: filled in by the change that needs it)
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
