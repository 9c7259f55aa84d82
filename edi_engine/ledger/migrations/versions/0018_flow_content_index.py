"""flows: the content of a flow looked up among its partner's flows by one index

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 23:40:00.000000

Every flow processed asks whether an earlier flow of its partner had the same content
(edi_engine/reception/intake.py, original_of). With an index on the hash and another on the
partner, SQLite chose the partner's and read every earlier flow of that partner: the
longer a supplier had used the hub, the slower each of its flows. One index on both
answers it from the rows with that content only.
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_flows_content_hash", table_name="flows")
    op.create_index("ix_flows_content", "flows", ["content_hash", "partner_code"])


def downgrade() -> None:
    op.drop_index("ix_flows_content", table_name="flows")
    op.create_index("ix_flows_content_hash", "flows", ["content_hash"])
