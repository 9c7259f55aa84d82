"""invoice_guards: what workers on PostgreSQL lock to take one invoice after the other

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 21:00:00.000000

The duplicate control took one advisory lock per invoice, held until its flow's commit: a
flow of 30,000 invoices filled the server's lock table (`out of shared memory`). A row
lock costs the lock table nothing, however many a transaction holds: the control now
locks one row per invoice key (edi_engine/controls/duplicates.py), inserting it the first
time. A row says nothing of an invoice; the table may be emptied at any time.
"""

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'invoice_guards',
        sa.Column('key', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade() -> None:
    op.drop_table('invoice_guards')
