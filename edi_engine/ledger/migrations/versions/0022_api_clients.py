"""API clients, the keys that sign their tokens, their usage; partners' API quotas

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08 00:30:00.000000

The API channel (issue 18): a partner's software deposits flows and follows its invoices
over HTTPS with OAuth2 client credentials (`partners api-client add CODE`).
- `api_clients`: one row per client; its secret is kept as an argon2id hash only, shown
  once when made. `generation` grows with each rotation: a token issued for an earlier one
  is refused. A client tied to one of its partner's registered certificates must present it.
- `api_signing_keys`: the secrets that sign tokens, made by edi_engine/api on first use
  (never by this migration), so that every worker and host checks the same tokens.
- `api_usage`: requests counted per client and window, for the quotas.
- `partners.api_rate` (requests per second) and `partners.api_daily` (per day): none, the
  [api] defaults (`partners update CODE --api-rate 20/second --api-daily 100000`).

Downgrading drops the three tables and the two columns: every client, its secret and every
token issued stop working; flows and invoices are untouched.
"""

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMNs (what batch mode does on SQLite for an added column): a table copy
    # would drop `partners`, which other tables reference
    with op.batch_alter_table('partners') as batch:
        batch.add_column(sa.Column('api_rate', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('api_daily', sa.Integer(), nullable=True))
    op.create_table(
        'api_clients',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('client_id', sa.String(length=40), nullable=False),
        sa.Column('partner_code', sa.String(length=8), nullable=False),
        sa.Column('secret_hash', sa.String(length=200), nullable=False),
        sa.Column('generation', sa.Integer(), server_default='1', nullable=False),
        sa.Column('certificate_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('rotated_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['partner_code'], ['partners.code']),
        sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('client_id'),
    )
    op.create_index(
        op.f('ix_api_clients_partner_code'), 'api_clients', ['partner_code'], unique=False
    )
    op.create_table(
        'api_signing_keys',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('secret', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'api_usage',
        sa.Column('client_id', sa.String(length=40), nullable=False),
        sa.Column('window', sa.String(length=24), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('client_id', 'window'),
    )


def downgrade() -> None:
    op.drop_table('api_usage')
    op.drop_table('api_signing_keys')
    op.drop_index(op.f('ix_api_clients_partner_code'), table_name='api_clients')
    op.drop_table('api_clients')
    with op.batch_alter_table('partners') as batch:
        batch.drop_column('api_daily')
        batch.drop_column('api_rate')
