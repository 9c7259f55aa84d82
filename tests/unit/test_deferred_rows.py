"""Rows written at the commit (edi_engine/ledger/deferred.py), on a real SQLite ledger: they go
in with the commit, once and in order; a rolled back savepoint or transaction takes its
own with it and no one else's, even when a read within the savepoint wrote them early."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from edi_engine.ledger import db, deferred
from edi_engine.ledger.models import Output

OUTPUTS = Output.__table__
AT = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def session(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/ledger.db"
    db.migrate(url)
    with Session(db.engine_for(url)) as session:
        yield session


def row(name: str, **more: object) -> dict[str, object]:
    return {"kind": "CR", "partner_code": "FOUR01", "file_name": name, "written_at": AT, **more}


def names(session: Session) -> list[str]:
    return list(session.scalars(select(Output.file_name).order_by(Output.id)))


def test_rows_go_in_with_the_commit_in_order(session: Session) -> None:
    deferred.add(session, OUTPUTS, [row("a.xml"), row("b.xml")])
    deferred.add(session, OUTPUTS, [row("c.xml", previous_kept_as="old.xml"), row("d.xml")])
    assert deferred.pending(session) == 4
    session.commit()
    assert names(session) == ["a.xml", "b.xml", "c.xml", "d.xml"]
    kept = session.scalars(select(Output.previous_kept_as).order_by(Output.id)).all()
    assert kept == [None, None, "old.xml", None]
    assert deferred.pending(session) == 0


def test_a_rolled_back_transaction_writes_none_of_its_rows(session: Session) -> None:
    deferred.add(session, OUTPUTS, [row("lost.xml")])
    session.rollback()
    deferred.add(session, OUTPUTS, [row("kept.xml")])
    session.commit()
    assert names(session) == ["kept.xml"]


def test_a_rolled_back_savepoint_forgets_its_rows_only(session: Session) -> None:
    deferred.add(session, OUTPUTS, [row("first.xml")])
    marked = deferred.mark(session)
    with pytest.raises(RuntimeError), session.begin_nested():
        deferred.add(session, OUTPUTS, [row("failed.xml")])
        raise RuntimeError("the flow failed")
    deferred.back_to(session, marked)
    deferred.add(session, OUTPUTS, [row("third.xml")])
    session.commit()
    assert names(session) == ["first.xml", "third.xml"]


def test_rows_written_early_in_a_savepoint_that_rolls_back_are_written_again(
    session: Session,
) -> None:
    """A read within a flow's savepoint (a CR kept under another name, say) writes every
    waiting row first, the earlier flows' too: the savepoint's rollback undoes those
    writes, and the earlier flows' rows go in with the commit all the same, once."""
    deferred.add(session, OUTPUTS, [row("earlier.xml")])
    marked = deferred.mark(session)
    with pytest.raises(RuntimeError), session.begin_nested():
        deferred.add(session, OUTPUTS, [row("failed.xml")])
        deferred.flush(session)
        assert names(session) == ["earlier.xml", "failed.xml"]
        raise RuntimeError("the flow failed")
    deferred.back_to(session, marked)
    assert names(session) == []
    session.commit()
    assert names(session) == ["earlier.xml"]


def test_a_savepoint_released_keeps_its_rows_waiting(session: Session) -> None:
    with session.begin_nested():
        deferred.add(session, OUTPUTS, [row("a.xml")])
    assert deferred.pending(session) == 1  # a release writes nothing: the commit does
    session.commit()
    assert names(session) == ["a.xml"]


def test_a_large_flow_s_rows_are_never_held_all(session: Session) -> None:
    for n in range(deferred.FLUSH_ROWS * 2 + 10):
        deferred.add(session, OUTPUTS, [row(f"PIVOT_{n}.xml")])
        assert deferred.pending(session) < deferred.FLUSH_ROWS
    session.commit()
    assert len(names(session)) == deferred.FLUSH_ROWS * 2 + 10


def test_an_object_updated_behind_the_orm_is_read_again_if_its_savepoint_rolls_back(
    session: Session,
) -> None:
    """As the pipeline ends a flow: its row updated by a statement of its own and its
    attributes set as committed; the savepoint fails, and the object says what the ledger
    says again, not what was rolled back."""
    output = Output(**row("a.xml"))
    session.add(output)
    session.commit()
    marked = deferred.mark(session)
    with pytest.raises(RuntimeError), session.begin_nested():
        deferred.behind(session, output)
        statement = update(OUTPUTS).where(OUTPUTS.c.id == output.id)
        session.connection().execute(statement, {"delivery_error": "rolled back"})
        set_committed_value(output, "delivery_error", "rolled back")
        raise RuntimeError("the flow failed")
    deferred.back_to(session, marked)
    assert output.delivery_error is None
