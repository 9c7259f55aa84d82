"""the suppliers each partner may deposit for, and operators

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 15:00:00.000000

(placeholder: filled in by the change that needs it)
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
