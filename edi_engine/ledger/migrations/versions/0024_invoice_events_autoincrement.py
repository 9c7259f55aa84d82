"""invoice_events AUTOINCREMENT on SQLite: a purged change's id is never given again

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 12:00:00.000000

The API gives a supplier its status changes in `invoice_events.id` order, and its cursor
(`next`, GET /v1/statuses) is the last id given. On SQLite a plain INTEGER PRIMARY KEY
takes max(id) + 1: once a purge (edi_engine/operations/retention.py) deletes the changes
with the highest ids, the next change takes an id a client's cursor has passed already,
and that client never sees it. With AUTOINCREMENT, SQLite keeps the highest id ever
given in `sqlite_sequence` and never gives one below it. PostgreSQL's sequences never
give an id twice: nothing is done there.

On SQLite the table is rebuilt (every row with its id, both indexes and both foreign
keys); copying the rows sets `sqlite_sequence` to their highest id. An id given and
purged before this upgrade cannot be known, and may still be given once more. The
rebuild copies the whole table in one transaction, the ledger locked meanwhile: with
1,000,000 changes (a 208 MB ledger) it took 3 to 4 seconds on two busy cores, the WAL
reached 341 MB before its checkpoint and the ledger file grew to 366 MB (the old table's
pages are free for later rows; `VACUUM` gives them back to the disk).

Downgrading rebuilds the table without AUTOINCREMENT, its rows and ids kept, and SQLite
forgets the counter: a change may again take the id of one purged, as before.
"""

from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def _rebuild(autoincrement: bool) -> None:
    with op.batch_alter_table(
        'invoice_events',
        recreate='always',
        table_kwargs={'sqlite_autoincrement': autoincrement},
    ):
        pass


def upgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    # the rows are copied with their ids: SQLite's counter starts at the highest of them
    _rebuild(True)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    _rebuild(False)
