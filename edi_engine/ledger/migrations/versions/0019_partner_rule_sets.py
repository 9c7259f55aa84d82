"""partners.rules: the business rule sets a partner's invoices are checked against

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 00:30:00.000000

Every UBL and CII invoice is checked against the official rules the hub turns on in
[rules] (edi_engine/reception/rules.py). A partner may have its own sets (`partners update CODE
--rules en16931,br_fr`): a comma-separated list, empty for none; no value for the hub's.
"""

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('partners') as batch:
        batch.add_column(sa.Column('rules', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('partners') as batch:
        batch.drop_column('rules')
