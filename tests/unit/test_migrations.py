"""Migrations are the only way the schema changes: head must match the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from edi_engine.ledger import db
from edi_engine.ledger.models import Base


def test_head_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    db.migrate(url)
    with db.engine_for(url).connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_migrating_twice_is_harmless(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    db.migrate(url)
    db.migrate(url)
    with db.engine_for(url).connect() as connection:
        assert (
            MigrationContext.configure(connection).get_current_revision()
            == ScriptDirectory.from_config(db.alembic_config(url)).get_current_head()
        )


def test_a_ledger_from_the_first_release_upgrades_with_its_data(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path}/ledger.db"
    command.upgrade(db.alembic_config(url), "0001")
    with db.engine_for(url).begin() as connection:
        connection.execute(
            text(
                "insert into partners (code, name, channel, created_at) "
                "values ('OLD001', 'Old partner', 'local', '2026-01-01 00:00:00')"
            )
        )

    db.migrate(url)

    with db.engine_for(url).connect() as connection:
        row = connection.execute(text("select code, channel, markers from partners")).one()
    assert tuple(row) == ("OLD001", "local", 0)


def _number_after_upgrade(url: str) -> str:
    """The flow number the engine gives first once the ledger is at head."""
    from sqlalchemy.orm import Session

    from edi_engine.reception import intake

    db.migrate(url)
    with Session(db.engine_for(url)) as session, session.begin():
        return intake.next_number(session)


def test_a_sqlite_ledger_whose_flows_were_all_purged_does_not_number_from_one_again(
    tmp_path: Path,
) -> None:
    """SQLite forgets a deleted row's id: the flows the monthly counters counted (never
    purged) say how many numbers were given; the partners may still hold their CRs."""
    from alembic import command
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path}/ledger.db"
    command.upgrade(db.alembic_config(url), "0015")
    with db.engine_for(url).begin() as connection:
        connection.execute(
            text(
                "insert into monthly_counters (month, partner_code, syntax, inbound_flows) "
                "values ('2026-01', 'FOUR01', 'IN_DP_E1_UBL_INVOICE', 40), "
                "('2026-02', 'FOUR02', 'IN_STATUT_CPP', 1)"
            )
        )
        assert connection.scalar(text("select count(*) from flows")) == 0  # all purged

    assert _number_after_upgrade(url) == "FL0000000042"


def test_a_sqlite_ledger_counting_flows_with_autoincrement_numbers_on_from_it(
    tmp_path: Path,
) -> None:
    """A flows table declared AUTOINCREMENT keeps its highest id in sqlite_sequence."""
    from alembic import command
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path}/ledger.db"
    command.upgrade(db.alembic_config(url), "0015")
    with db.engine_for(url).begin() as connection:
        # sqlite_sequence exists once any table is AUTOINCREMENT; its row for flows is what
        # SQLite would have kept of a flows table declared so
        connection.execute(text("create table counted (id integer primary key autoincrement)"))
        connection.execute(text("insert into sqlite_sequence (name, seq) values ('flows', 57)"))

    assert _number_after_upgrade(url) == "FL0000000058"


def test_a_ledger_with_its_flows_numbers_on_from_the_highest(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path}/ledger.db"
    command.upgrade(db.alembic_config(url), "0015")
    with db.engine_for(url).begin() as connection:
        connection.execute(
            text(
                "insert into partners (code, name, channel, created_at) "
                "values ('FOUR01', 'Supplier', 'local', '2026-01-01 00:00:00')"
            )
        )
        for flow_id in (3, 9):  # 1, 2 and 4-8 purged
            connection.execute(
                text(
                    "insert into flows (id, number, partner_code, file_name, content_hash, "
                    "size, archive_path, status, received_at, updated_at, invoice_count, "
                    "rejected_count, attempts) values (:id, :number, 'FOUR01', 'f.xml', "
                    "'00', 1, 'a', 'IN_INTEGRE', '2026-01-01 00:00:00', "
                    "'2026-01-01 00:00:00', 1, 0, 1)"
                ),
                {"id": flow_id, "number": f"FL{flow_id:010d}"},
            )

    assert _number_after_upgrade(url) == "FL0000000010"


def test_a_flows_earlier_copy_is_looked_up_by_its_content_not_among_all_its_partners_flows(
    tmp_path: Path,
) -> None:
    """Every flow asks whether its partner sent its content before: with the partner's
    index, SQLite read every earlier flow of the partner, each flow slower than the last."""
    from sqlalchemy import event

    from edi_engine.ledger.models import Flow
    from edi_engine.reception import intake

    url = f"sqlite:///{tmp_path}/ledger.db"
    db.migrate(url)
    asked: list[tuple[str, tuple]] = []

    def sent(_conn, _cursor, statement, parameters, _context, _many) -> None:
        asked.append((statement, parameters))

    event.listen(db.engine_for(url), "before_cursor_execute", sent)
    try:
        with db.session_scope(url) as session:
            flow = Flow(id=10, partner_code="FOUR01", content_hash="0" * 64)
            assert intake.original_of(session, flow) is None
            statement, parameters = asked[-1]
            plan = session.connection().exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", parameters
            )
            steps = [row[-1] for row in plan]
    finally:
        event.remove(db.engine_for(url), "before_cursor_execute", sent)
    assert steps[0].startswith(
        "SEARCH flows USING INDEX ix_flows_content (content_hash=? AND partner_code=?"
    ), steps


def test_which_invoices_a_partner_may_know_of_is_asked_of_the_structures_indexes(
    tmp_path: Path,
) -> None:
    """Asked at every API call: without the indexes of migration 0023, SQLite read every
    structure of the referential each time (a national one holds tens of thousands)."""
    from sqlalchemy import select

    from edi_engine.controls.visibility import visible
    from edi_engine.ledger.models import Invoice

    url = f"sqlite:///{tmp_path}/ledger.db"
    db.migrate(url)
    query = select(Invoice.id).where(Invoice.id == 1, visible("DEST01"))
    with db.session_scope(url) as session:
        compiled = query.compile(session.bind, compile_kwargs={"literal_binds": True})
        plan = [
            row[-1]
            for row in session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
        ]
    assert not any(step.startswith("SCAN structures") for step in plan), plan
    assert any("ix_structures_partner_code" in step for step in plan), plan
    assert any("ix_structures_accountant_partner" in step for step in plan), plan
