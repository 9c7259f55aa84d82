"""flow numbers never reused; a recorded file's source acknowledged

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 17:30:00.000000

`flow_numbers`: one row holding the last flow number given (issue 13, item 7). A flow's
number came from its row id, and SQLite gives the highest id again once its row is
deleted: after a purge, FL0000000001 was given a second time. The row is seeded with the
highest number the ledger shows was given, and only grows:
- the highest id a flow has (every number given so far was its flow's id);
- on PostgreSQL, the highest its id sequence gave (those flows may be purged already);
- on SQLite, the flows' row of sqlite_sequence when the table counts with AUTOINCREMENT;
  without it (the engine's own schema), a deleted row leaves no trace of its id, so
- the flows `monthly_counters` counted (never purged: each flow processed, once): when
  every flow was purged, the numbers given since the first were at most that many. A
  flow purged unanswered, or before release 0007 counted the flows there, is not in it.

`pending_sources`: the flows whose file is recorded but not yet removed from its inbox
(or the partner's SFTP server). Only such a flow's very file is acknowledged without a
flow of its own when the intake meets it again (it stopped between its commit and the
removal); any other file, even one with the same name, modification time and content, is
a new deposit with a flow and a CR. It starts empty: a file an earlier release left in an
inbox after recording it is taken as a new deposit (a duplicate of its flow, with a CR),
never removed unanswered.

Field lengths need no change of the schema: every partner value is bounded to its
column before the database sees it (edi_engine/ledger/fields.py).
"""

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    numbers = op.create_table(
        'flow_numbers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('last_number', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.bulk_insert(numbers, [{'id': 1, 'last_number': _last_given(op.get_bind())}])
    op.create_table(
        'pending_sources',
        sa.Column('flow_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['flow_id'], ['flows.id']),
        sa.PrimaryKeyConstraint('flow_id'),
    )


def downgrade() -> None:
    op.drop_table('pending_sources')
    op.drop_table('flow_numbers')


def _last_given(bind) -> int:
    """The highest flow number the ledger shows was given (see above)."""
    given = [
        bind.scalar(sa.text('SELECT max(id) FROM flows')),
        bind.scalar(sa.text('SELECT sum(inbound_flows) FROM monthly_counters')),
    ]
    if bind.dialect.name == 'postgresql':
        sequence = bind.scalar(sa.text("SELECT pg_get_serial_sequence('flows', 'id')"))
        if sequence:
            given.append(bind.scalar(sa.text(
                f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {sequence}"
            )))
    elif bind.dialect.name == 'sqlite' and bind.scalar(sa.text(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
    )):
        given.append(bind.scalar(sa.text(
            "SELECT max(seq) FROM sqlite_sequence WHERE name = 'flows'"
        )))
    return max(int(n or 0) for n in given)
