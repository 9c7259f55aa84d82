"""invoices refused at reception get a state of their own; flows keep their attempts

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 15:00:00.000000

(placeholder: filled in by the change that needs it)
"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
