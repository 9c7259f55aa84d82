"""Batches built to cost memory are refused by what they declare, before it is read; the
batches real tools write still open (issue 13, point 3)."""

from __future__ import annotations

import io
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from generated import hostile

from edi_engine.problems import FlowRejected
from edi_engine.reception import unpack
from edi_engine.settings import LimitSettings

INVOICE = b"<Invoice/>"


def _members(path: Path, limits: LimitSettings | None = None) -> list[unpack.Member]:
    read = unpack.zip_members if path.suffix == ".zip" else unpack.tar_members
    return list(read(path, limits or LimitSettings()))


def _refusal(path: Path, limits: LimitSettings | None = None) -> tuple[str, str | None]:
    with pytest.raises(FlowRejected) as caught:
        _members(path, limits)
    (problem,) = caught.value.problems
    return problem.code, problem.value


def _written(tmp_path: Path, case: hostile.Hostile) -> Path:
    path = tmp_path / case.name
    path.write_bytes(case.content)
    return path


@pytest.mark.parametrize(
    ("build", "value"),
    [
        (lambda: hostile.tar_gnu_long_name(64 * hostile.MiB), str(64 * hostile.MiB)),
        (lambda: hostile.tar_pax_header(64 * hostile.MiB), str(64 * hostile.MiB)),
        (lambda: hostile.tar_million_directories(20_000), None),
        (lambda: hostile.tar_long_member_name(256), "256"),
        (lambda: hostile.zip_many_entries(10_001), None),
    ],
    ids=["gnu-long-name", "pax-header", "directories", "long-member-name", "zip-entries"],
)
def test_each_hostile_batch_gets_its_code(tmp_path: Path, build, value: str | None) -> None:
    case = build()
    assert _refusal(_written(tmp_path, case)) == (case.code, value)


def test_folders_count_against_max_batch_members(tmp_path: Path) -> None:
    path = tmp_path / "b.tar.gz"
    with tarfile.open(path, "w:gz") as batch:
        for name in ("a", "b"):
            folder = tarfile.TarInfo(name)
            folder.type = tarfile.DIRTYPE
            batch.addfile(folder)
        member = tarfile.TarInfo("a/facture.xml")
        member.size = len(INVOICE)
        batch.addfile(member, io.BytesIO(INVOICE))
    assert [m.name for m in _members(path, LimitSettings(max_batch_members=3))] == ["a/facture.xml"]
    assert _refusal(path, LimitSettings(max_batch_members=2))[0] == "ARCHIVE_BOMB"


def test_a_batch_made_by_tar_from_its_folder_opens(tmp_path: Path) -> None:
    """GNU tar's own entries: './', a folder, a long name (GNU format), a PAX header."""
    source = tmp_path / "src"
    long_name = "d" * 120 + ".xml"  # over ustar's 100 characters: a GNU long name
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "facture.xml").write_bytes(INVOICE)
    (source / long_name).write_bytes(INVOICE)
    (source / "façade é.xml").write_bytes(INVOICE)
    for form in ("gnu", "posix"):
        path = tmp_path / f"{form}.tar.gz"
        subprocess.run(["tar", f"--format={form}", "-czf", path, "-C", source, "."], check=True)
        names = sorted(m.name for m in _members(path))
        assert names == sorted(["./sub/facture.xml", f"./{long_name}", "./façade é.xml"])


def test_a_name_of_255_characters_is_taken(tmp_path: Path) -> None:
    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path, "w") as batch:
        batch.writestr("n" * 251 + ".xml", INVOICE)
    assert [len(m.name) for m in _members(path)] == [255]


def test_a_run_of_extended_headers_is_refused(tmp_path: Path) -> None:
    """Each GNU long name is small; nine of them before one entry are a loop, not a name."""
    name = b"facture.xml\0"
    pieces = []
    for _ in range(9):
        pieces += [
            hostile._raw_header("././@LongLink", tarfile.GNUTYPE_LONGNAME, len(name)),
            name + bytes(hostile._padded(len(name))),
        ]
    pieces += [hostile._raw_header("x", tarfile.REGTYPE, 0), hostile._end()]
    path = tmp_path / "run.tar.gz"
    path.write_bytes(hostile._gzip(pieces))
    assert _refusal(path)[0] == "ARCHIVE_BOMB"


def test_a_sparse_member_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sparse.tar.gz"
    header = hostile._raw_header("holes.xml", tarfile.GNUTYPE_SPARSE, 0)
    path.write_bytes(hostile._gzip([header, hostile._end()]))
    assert _refusal(path) == ("UNSAFE_MEMBER_PATH", "holes.xml")
