"""status history keeps the source's time and the recipient at the time

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 15:00:00.000000

Each invoice event keeps when its status was produced at its source (a partner's
Horodatage), the recipient and service the invoice had then, and whether status flows tell
it to the supplier; an invoice keeps the delivery incident its recipient reported (94, 95).
Existing events were produced when the hub recorded them as far as the ledger knows, and
get the invoice's current recipient and service: the best that can be known of the past.

Downgrading deletes what the previous revision would send the supplier although it was
never the supplier's news: every recipient's acknowledgement (92, 94, 95: codes no
`CPPFactureStatuts` may carry, which would block the status flow) and every other event
not told to the supplier and not yet emitted (a re-delivery's 02 and 03: the supplier
would see its invoice go back). An invoice left in a delivery incident goes back to
MISE_A_DISPOSITION, where its history now ends: the previous revision cannot deliver it
again. A refusal at reception stays, for migration 0009 to handle.
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN on invoices, which other tables reference (a batch copy would drop it)
    op.add_column('invoices', sa.Column('delivery_incident', sa.String(length=2), nullable=True))
    op.add_column('invoice_events', sa.Column('produced_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('invoice_events', sa.Column('recipient_siret', sa.String(length=100), nullable=True))
    op.add_column('invoice_events', sa.Column('service_code', sa.String(length=100), nullable=True))
    op.add_column('invoice_events', sa.Column('to_supplier', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.execute(
        "UPDATE invoice_events SET produced_at = at, "
        "recipient_siret = (SELECT invoices.recipient_siret FROM invoices "
        "WHERE invoices.id = invoice_events.invoice_id), "
        "service_code = (SELECT invoices.service_code FROM invoices "
        "WHERE invoices.id = invoice_events.invoice_id)"
    )
    # a refusal at reception (migration 0009, no code) or an acknowledgement (92, 94, 95)
    # was never the supplier's news: only a lifecycle status is; one a status flow already
    # carried stays as it was: history is not rewritten
    op.execute(
        "UPDATE invoice_events SET to_supplier = false "
        "WHERE status_code NOT BETWEEN '01' AND '12' AND emitted_in IS NULL"
    )
    # no table references invoice_events: on SQLite its batch copy is safe
    with op.batch_alter_table('invoice_events', schema=None) as batch_op:
        batch_op.alter_column('produced_at', existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    # what the previous revision would tell the supplier and must not (see above)
    op.execute(
        "DELETE FROM invoice_events WHERE status_code IN ('92', '94', '95') "
        "OR (to_supplier = false AND emitted_in IS NULL AND status <> 'REFUSEE_RECEPTION')"
    )
    op.execute(
        "UPDATE invoices SET status = 'MISE_A_DISPOSITION', status_code = '03' "
        "WHERE delivery_incident IS NOT NULL"
    )
    with op.batch_alter_table('invoice_events', schema=None) as batch_op:
        batch_op.drop_column('to_supplier')
        batch_op.drop_column('service_code')
        batch_op.drop_column('recipient_siret')
        batch_op.drop_column('produced_at')
    op.drop_column('invoices', 'delivery_incident')
