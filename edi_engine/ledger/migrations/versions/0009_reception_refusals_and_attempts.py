"""invoices refused at reception get a state of their own; flows keep their attempts

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 15:00:00.000000

An invoice the engine refused at reception was recorded REJETEE (05), a lifecycle status
its supplier's next status flow then carried. It becomes REFUSEE_RECEPTION, with no
status code ('' in the non-null column), and so does its one event: the engine's REJETEE
"rejected at reception in flow …". Such an event already told in a written status flow
keeps its `emitted_in` (history stays); one numbered in a status flow not yet written
leaves it, so that the flow is written without it. REJETEE stays for recipients'
rejections. Findings and invoices get the attempt of their flow that recorded them:
every existing one is the first's, since a re-run used to replace what it found.

Downgrade: an invoice refused at reception becomes REJETEE (05) again; the refusal events
no status flow told are deleted, so that the previous release never sends them as 05s.
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

AT_RECEPTION = "rejected at reception in flow %"
# an invoice the engine refused at reception: never delivered, and its only events are
# the engine's REJETEE at reception
REFUSED = f"""
    invoices.status = 'REJETEE' AND invoices.pivot_file IS NULL
    AND NOT EXISTS (
        SELECT 1 FROM invoice_events e WHERE e.invoice_id = invoices.id
        AND NOT (e.status = 'REJETEE' AND e.detail LIKE '{AT_RECEPTION}')
    )
"""


def upgrade() -> None:
    # plain ADD COLUMN: a batch copy would drop `invoices`, which other tables reference
    for table in ('flow_errors', 'invoices'):
        op.add_column(
            table, sa.Column('attempt', sa.Integer(), server_default='1', nullable=False)
        )
    op.execute(
        f"UPDATE invoices SET status = 'REFUSEE_RECEPTION', status_code = '' WHERE {REFUSED}"
    )
    op.execute(
        f"""
        UPDATE invoice_events SET status = 'REFUSEE_RECEPTION', status_code = ''
        WHERE status = 'REJETEE' AND detail LIKE '{AT_RECEPTION}' AND invoice_id IN (
            SELECT id FROM invoices WHERE status = 'REFUSEE_RECEPTION'
        )
        """
    )
    op.execute(
        """
        UPDATE invoice_events SET emitted_in = NULL
        WHERE status = 'REFUSEE_RECEPTION' AND emitted_in IN (
            SELECT id FROM status_flows WHERE written_at IS NULL
        )
        """
    )
    op.execute(
        """
        UPDATE status_flows SET changes = (
            SELECT count(*) FROM invoice_events WHERE emitted_in = status_flows.id
        ) WHERE written_at IS NULL
        """
    )


def downgrade() -> None:
    # the previous release cannot say that an invoice refused by one attempt of its flow
    # was accepted by a later one: that refusal goes from its history
    op.execute(
        """
        DELETE FROM invoice_events WHERE status = 'REFUSEE_RECEPTION' AND invoice_id IN (
            SELECT id FROM invoices WHERE status <> 'REFUSEE_RECEPTION'
        )
        """
    )
    # a refusal no status flow told goes from the history too: the previous release would
    # send its supplier a 05 for each event no status flow carries (emitted_in NULL); its
    # CR and its findings still say why the invoice was refused
    op.execute(
        "DELETE FROM invoice_events WHERE status = 'REFUSEE_RECEPTION' AND emitted_in IS NULL"
    )
    # the other refusals (told as 05 before this release) become the engine's REJETEE again,
    # as the previous release recorded them, and so do the invoices refused at reception
    for table in ('invoices', 'invoice_events'):
        op.execute(
            f"UPDATE {table} SET status = 'REJETEE', status_code = '05' "
            "WHERE status = 'REFUSEE_RECEPTION'"
        )
    op.drop_column('invoices', 'attempt')
    op.drop_column('flow_errors', 'attempt')
