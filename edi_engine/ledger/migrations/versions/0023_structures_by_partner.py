"""structures indexed by partner and by accountant partner

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 12:00:00.000000

Which invoices a partner may know of (edi_engine/controls/visibility.py) is the invoices
addressed to the structures it serves, as their partner or their accountant: asked at
every API call, it read the whole referential each time. Two indexes, nothing else.
"""

from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_structures_partner_code', 'structures', ['partner_code'])
    op.create_index('ix_structures_accountant_partner', 'structures', ['accountant_partner'])


def downgrade() -> None:
    op.drop_index('ix_structures_accountant_partner', table_name='structures')
    op.drop_index('ix_structures_partner_code', table_name='structures')
