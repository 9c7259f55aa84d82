"""the suppliers each partner may deposit for, and operators

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 15:00:00.000000

So that nothing in production stops, every existing partner is tied to each supplier it
has already deposited accepted invoices for (invoices the hub delivered: their pivot
written), with the scheme their type of identifier says; no partner is an operator.
"""

from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

SCHEMES = {'1': 'siret', '2': 'vat'}  # TypeIdentifiant; any other: 'other'


def upgrade() -> None:
    # a plain ADD COLUMN: a batch copy would drop `partners`, which other tables reference
    op.add_column('partners', sa.Column('operator', sa.Boolean(), server_default=sa.false(), nullable=False))
    suppliers = op.create_table('partner_suppliers',
    sa.Column('partner_code', sa.String(length=8), nullable=False),
    sa.Column('identifier', sa.String(length=100), nullable=False),
    sa.Column('scheme', sa.String(length=10), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_code'], ['partners.code'], ),
    sa.PrimaryKeyConstraint('partner_code', 'identifier')
    )
    deposited = sa.text(
        "select distinct f.partner_code, i.supplier_id, i.supplier_id_type "
        "from invoices i join flows f on f.id = i.flow_id "
        "where i.pivot_file is not null and i.supplier_id is not null "
        "order by f.partner_code, i.supplier_id, i.supplier_id_type"
    )
    now, rows = datetime.now(UTC), {}
    for partner, supplier, kind in op.get_bind().execute(deposited):
        identifier = "".join(supplier.split()).upper()[:100]
        if identifier:
            rows.setdefault((partner, identifier), SCHEMES.get(kind, 'other'))
    if rows:
        op.bulk_insert(suppliers, [
            {'partner_code': p, 'identifier': i, 'scheme': s, 'added_at': now}
            for (p, i), s in rows.items()
        ])


def downgrade() -> None:
    op.drop_table('partner_suppliers')
    op.drop_column('partners', 'operator')
