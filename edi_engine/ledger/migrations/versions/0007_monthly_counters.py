"""monthly counters

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 00:28:18.812496

The counters start with what the ledger already holds: each flow processed to the end
(it has its CR) and each file written, in its month at the hub. A migration cannot read
the home's settings, so that month is taken in the default hub time zone, Europe/Paris.
"""

from collections import Counter, defaultdict
from datetime import UTC
from zoneinfo import ZoneInfo

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

ZONE = ZoneInfo("Europe/Paris")  # [hub] timezone's default
STATUS_SYNTAX = "IN_STATUT_CPP"  # a status flow counts as a flow, its lines not as invoices
UNKNOWN = "UNKNOWN"  # the syntax of a flow that could not be identified
COLUMNS = ('inbound_flows', 'outbound_flows', 'invoices_received', 'invoices_accepted',
           'invoices_rejected')


def upgrade() -> None:
    counters = op.create_table('monthly_counters',
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('partner_code', sa.String(length=8), nullable=False),
    sa.Column('syntax', sa.String(length=32), nullable=False),
    sa.Column('inbound_flows', sa.Integer(), server_default='0', nullable=False),
    sa.Column('outbound_flows', sa.Integer(), server_default='0', nullable=False),
    sa.Column('invoices_received', sa.Integer(), server_default='0', nullable=False),
    sa.Column('invoices_accepted', sa.Integer(), server_default='0', nullable=False),
    sa.Column('invoices_rejected', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('month', 'partner_code', 'syntax')
    )
    _count_what_is_there(counters)


def downgrade() -> None:
    op.drop_table('monthly_counters')


def _month(moment) -> str:
    if moment.tzinfo is None:  # SQLite hands back naive datetimes; they are UTC
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(ZONE):%Y-%m}"


def _count_what_is_there(counters: sa.Table) -> None:
    flows = sa.table(
        'flows',
        sa.column('id', sa.Integer()),
        sa.column('partner_code', sa.String()),
        sa.column('syntax', sa.String()),
        sa.column('received_at', sa.DateTime(timezone=True)),
        sa.column('invoice_count', sa.Integer()),
        sa.column('rejected_count', sa.Integer()),
    )
    outputs = sa.table(
        'outputs',
        sa.column('flow_id', sa.Integer()),
        sa.column('kind', sa.String()),
        sa.column('partner_code', sa.String()),
        sa.column('written_at', sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    totals = defaultdict(Counter)
    answered = sa.select(outputs.c.flow_id).where(outputs.c.kind == 'CR')
    for flow in bind.execute(sa.select(flows).where(flows.c.id.in_(answered))):
        counted = totals[(_month(flow.received_at), flow.partner_code, flow.syntax or UNKNOWN)]
        counted['inbound_flows'] += 1
        if flow.syntax != STATUS_SYNTAX:
            received, rejected = flow.invoice_count or 0, flow.rejected_count or 0
            counted['invoices_received'] += received
            counted['invoices_accepted'] += received - rejected
            counted['invoices_rejected'] += rejected
    written = sa.select(outputs.c.kind, outputs.c.partner_code, outputs.c.written_at)
    for output in bind.execute(written):
        totals[(_month(output.written_at), output.partner_code, output.kind)]['outbound_flows'] += 1
    rows = [
        {'month': month, 'partner_code': partner, 'syntax': syntax,
         **{column: counted[column] for column in COLUMNS}}
        for (month, partner, syntax), counted in totals.items()
    ]
    if rows:
        op.bulk_insert(counters, rows)
