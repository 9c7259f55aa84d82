"""duplicate key of an invoice number, Unicode-normalised

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 17:30:00.000000

`invoices.number_key`: the invoice number as the duplicate control and the statuses
compare it (`edi_engine.number_key.key`: NFKC, invisible characters removed, dashes
and spaces folded), indexed with the supplier. Existing rows get it from the same function,
a batch of rows at a time, so that a large ledger is never read whole. `number` keeps
what the supplier wrote, for display. Downgrading drops the column: the previous release
compares `number` as it did.
"""

from alembic import op
import sqlalchemy as sa

from edi_engine.number_key import key


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

BATCH = 1000  # rows read and updated at a time


def upgrade() -> None:
    # a plain ADD COLUMN: a batch copy would drop `invoices`, which other tables reference
    op.add_column('invoices', sa.Column('number_key', sa.String(length=100), nullable=True))
    invoices = sa.table(
        'invoices', sa.column('id', sa.Integer), sa.column('number', sa.String),
        sa.column('number_key', sa.String),
    )
    bind, last = op.get_bind(), 0
    while True:
        rows = bind.execute(
            sa.select(invoices.c.id, invoices.c.number)
            .where(invoices.c.id > last).order_by(invoices.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        bind.execute(
            invoices.update().where(invoices.c.id == sa.bindparam('row_id'))
            .values(number_key=sa.bindparam('row_key')),
            [{'row_id': i, 'row_key': key(number or '')} for i, number in rows],
        )
        last = rows[-1][0]
    op.create_index('ix_invoices_number_key', 'invoices', ['supplier_id', 'number_key'])


def downgrade() -> None:
    op.drop_index('ix_invoices_number_key', table_name='invoices')
    op.drop_column('invoices', 'number_key')
