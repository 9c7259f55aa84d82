"""`pip install .` (not editable) works from another directory: package data is found.

The new virtual environment borrows the dependencies already installed for the tests
(a .pth line; .pth files inside that folder, such as the editable hook, are not read),
so only the project itself is built and installed, from a copy of its sources.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = [
    "edi_engine",
    "pivot_format",
    "connectors",
    "jobs",
    "schemas",
    "config",
    "cli.py",
    "setup.cfg",
    "pyproject.toml",
    "README.md",
]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, source / name)
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=True)
    (purelib,) = (env_dir / "lib").glob("python3*/site-packages")
    (purelib / "borrowed-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [env_dir / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps", str(source)],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(source)  # nothing may be read from the sources any more
    return env_dir


def _run(env_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDI_ENGINE_")}
    env["EDI_ENGINE_PICKUP_STABLE_SECONDS"] = "0"
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_installed_package_is_used_not_the_sources(installed: Path, tmp_path: Path) -> None:
    result = _run(
        installed,
        tmp_path,
        str(installed / "bin" / "python"),
        "-c",
        "import edi_engine, schemas, config; print(edi_engine.__file__, schemas.__file__)",
    )
    assert result.returncode == 0, result.stderr
    assert str(REPO) not in result.stdout
    assert "site-packages" in result.stdout


def test_installed_demo_runs_from_another_directory(installed: Path, tmp_path: Path) -> None:
    result = _run(installed, tmp_path, str(installed / "bin" / "edi-engine"), "demo", "here")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "here" / "edi-engine.toml").is_file()
    listed = _run(
        installed,
        tmp_path,
        str(installed / "bin" / "edi-engine"),
        "--home",
        "here",
        "flows",
        "list",
        "--json",
    )
    states = {f["file_name"]: f["status"] for f in json.loads(listed.stdout)}
    assert states == {
        "ubl-invoice.xml": "IN_INTEGRE",
        "ubl-creditnote.xml": "IN_INTEGRE",
        "ubl-inactive.xml": "IN_REJETE",
        "xsd-invalid.xml": "IN_REJETE",
        "cii-invoice.xml": "IN_INTEGRE",
        "pivot-multi.xml": "IN_INTEGRE_PARTIEL",
        "resent.xml": "IN_REJETE",
        "batch.zip": "IN_INTEGRE",
    }
    assert list((tmp_path / "here" / "outbox" / "DEST01").glob("PIVOT_DEST01_*.xml"))


def test_installed_validate_finds_the_schemas(installed: Path, tmp_path: Path) -> None:
    sample = tmp_path / "invoice.xml"
    shutil.copy(REPO / "config" / "demo" / "ubl-invoice.xml", sample)
    result = _run(
        installed, tmp_path, str(installed / "bin" / "edi-engine"), "validate", str(sample)
    )
    assert result.returncode == 0, result.stderr
    assert "IN_DP_E1_UBL_INVOICE: valid" in result.stdout
