"""outputs.uploaded_as: an SFTP upload whose rename may have happened

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 06:00:00.000000

An output for an SFTP partner is uploaded to `.<name>.tmp` on the partner's server, then
renamed. The name is recorded (and committed) just before the rename, so that a process
killed between the rename and the commit that records the delivery is not followed by a
second upload: the next run renames the temporary if it is still there, and otherwise
records the delivery (edi_engine/delivery/uploads.py).

Downgrading drops the column: an output caught between the two commits is then uploaded
again by the older engine, as it was before this migration (a partner that had taken the
first copy receives it twice); nothing is lost.
"""

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN: the outputs table keeps its rows and constraints as they are
    op.add_column('outputs', sa.Column('uploaded_as', sa.String(length=255), nullable=True))
    # each run looks for the uploads a stopped run left renaming: only those rows indexed
    renaming = sa.text('uploaded_as IS NOT NULL')
    op.create_index(
        'ix_outputs_renaming', 'outputs', ['partner_code'],
        sqlite_where=renaming, postgresql_where=renaming,
    )


def downgrade() -> None:
    op.drop_index('ix_outputs_renaming', table_name='outputs')
    with op.batch_alter_table('outputs') as batch:
        batch.drop_column('uploaded_as')
