"""Batches: every way a zip or tar.gz can try to escape or explode is refused by name."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from edi_engine.problems import FlowRejected
from edi_engine.reception import unpack
from edi_engine.settings import LimitSettings


def _zip(tmp_path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    path = tmp_path / "batch.zip"
    with zipfile.ZipFile(path, "w", method) as batch:
        for name, content in members.items():
            batch.writestr(name, content)
    return path


def _tar(tmp_path: Path, add) -> Path:
    path = tmp_path / "batch.tar.gz"
    with tarfile.open(path, "w:gz") as batch:
        add(batch)
    return path


def _refusal(members) -> tuple[str, str | None]:
    with pytest.raises(FlowRejected) as caught:
        list(members)
    (problem,) = caught.value.problems
    return problem.code, problem.value


def test_members_come_in_name_order(tmp_path: Path) -> None:
    path = _zip(tmp_path, {"b.xml": b"<b/>", "a/x.xml": b"<a/>"})
    assert [m.name for m in unpack.zip_members(path, LimitSettings())] == ["a/x.xml", "b.xml"]


@pytest.mark.parametrize(
    "name", ["../up.xml", "/abs.xml", "a/../../up.xml", "C:/win.xml", "..\\\\up.xml"]
)
def test_paths_leaving_the_batch_refuse_it(tmp_path: Path, name: str) -> None:
    path = _zip(tmp_path, {"ok.xml": b"<ok/>", name: b"<x/>"})
    assert _refusal(unpack.zip_members(path, LimitSettings()))[0] == "UNSAFE_MEMBER_PATH"


def test_too_many_members(tmp_path: Path) -> None:
    path = _zip(tmp_path, {f"{n}.xml": b"<x/>" for n in range(4)})
    assert (
        _refusal(unpack.zip_members(path, LimitSettings(max_batch_members=3)))[0] == "ARCHIVE_BOMB"
    )


def test_inflation_ratio(tmp_path: Path) -> None:
    path = _zip(tmp_path, {"zeros.xml": b"\0" * 200_000})
    assert (
        _refusal(unpack.zip_members(path, LimitSettings(max_batch_ratio=10)))[0] == "ARCHIVE_BOMB"
    )


def test_a_member_lying_about_its_size_is_caught(tmp_path: Path) -> None:
    path = _zip(tmp_path, {"big.xml": b"\0" * 50_000}, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    # declare 10 bytes instead of 50,000 in the local header and the central directory
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.index(signature) + offset
        data[at : at + 4] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    code, _ = _refusal(unpack.zip_members(path, LimitSettings(max_member_bytes=1000)))
    assert code in {"ARCHIVE_BOMB", "CORRUPT_ARCHIVE"}


def test_encrypted_member(tmp_path: Path) -> None:
    path = _zip(tmp_path, {"secret.xml": b"<x/>"}, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        data[data.index(signature) + offset] |= 0x1
    path.write_bytes(bytes(data))
    assert _refusal(unpack.zip_members(path, LimitSettings()))[0] == "CORRUPT_ARCHIVE"


def test_corrupt_compressed_data(tmp_path: Path) -> None:
    path = _zip(tmp_path, {"a.xml": b"<invoice>" + b"x" * 5000 + b"</invoice>"})
    data = bytearray(path.read_bytes())
    start = data.index(b"a.xml") + len(b"a.xml")
    data[start + 5 : start + 40] = b"\xff" * 35
    path.write_bytes(bytes(data))
    assert _refusal(unpack.zip_members(path, LimitSettings()))[0] == "CORRUPT_ARCHIVE"


def test_tar_member_leaving_the_batch(tmp_path: Path) -> None:
    def add(batch: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("../evil.xml")
        info.size = 4
        batch.addfile(info, io.BytesIO(b"<x/>"))

    assert _refusal(unpack.tar_members(_tar(tmp_path, add), LimitSettings())) == (
        "UNSAFE_MEMBER_PATH",
        "../evil.xml",
    )


def test_tar_link_is_refused(tmp_path: Path) -> None:
    def add(batch: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("passwd.xml")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        batch.addfile(info)

    assert (
        _refusal(unpack.tar_members(_tar(tmp_path, add), LimitSettings()))[0]
        == "UNSAFE_MEMBER_PATH"
    )


def test_gzip_that_is_not_a_tar(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "flow.xml.gz"
    path.write_bytes(gzip.compress(b"<Invoice/>"))
    assert _refusal(unpack.tar_members(path, LimitSettings()))[0] == "CORRUPT_ARCHIVE"
