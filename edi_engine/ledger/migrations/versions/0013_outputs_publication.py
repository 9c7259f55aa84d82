"""outputs are staged, committed, then published by rename

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 17:30:00.000000

An output is written into the engine's own run/outgoing/ before the commit that records
it, and renamed into outbox/<PARTNER>/ only after it (issue 13: nothing reaches a partner
before the commit). `outputs.staged`: where it waits, NULL once published;
`outputs.published_at`: when it reached the partner's folder; `outputs.previous_kept_as`:
the name the earlier output under the same name takes just before this one is published
(a re-run's CR keeps the previous attempt's); `outputs.next_try_at`: when an output held
back (something its partner left under its name) is tried again, later each time. Outputs
written before were published when written: `published_at` is their `written_at`.

Downgrading is refused while an output is still staged: the previous release would never
publish it (remove whatever holds its name in the partner's folder, then run `edi-engine
run --once` once it is due: a held-back output is tried again at least hourly).
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMNs: the outputs table keeps its rows and constraints as they are
    op.add_column('outputs', sa.Column('staged', sa.String(length=255), nullable=True))
    op.add_column(
        'outputs', sa.Column('published_at', sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        'outputs', sa.Column('previous_kept_as', sa.String(length=255), nullable=True)
    )
    op.add_column(
        'outputs', sa.Column('next_try_at', sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index('ix_outputs_staged', 'outputs', ['staged'], unique=True)
    outputs = sa.table('outputs', sa.column('written_at'), sa.column('published_at'))
    op.execute(outputs.update().values(published_at=outputs.c.written_at))


def downgrade() -> None:
    staged = op.get_bind().scalar(
        sa.text('SELECT count(*) FROM outputs WHERE staged IS NOT NULL')
    )
    if staged:
        raise RuntimeError(
            f"{staged} output(s) are staged in run/outgoing/ and not yet published; the "
            "previous release would never publish them. Remove whatever holds their names in "
            "the partners' folders (`edi-engine flows show` names it), then run `edi-engine "
            "run --once` (each is tried again at least hourly) before downgrading."
        )
    op.drop_index('ix_outputs_staged', table_name='outputs')
    op.drop_column('outputs', 'next_try_at')
    op.drop_column('outputs', 'previous_kept_as')
    op.drop_column('outputs', 'published_at')
    op.drop_column('outputs', 'staged')
