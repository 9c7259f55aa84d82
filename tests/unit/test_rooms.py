"""The rooms of edi_engine keep their direction: a room imports only the rooms before it
(ROOMS), the shared modules at the top import no room, a room is reached from outside only
through the names its __init__ lists in __all__, and pivot_format and connectors import
nothing of the engine. Read from the source with ast: nothing is imported to check it."""

from __future__ import annotations

import ast
import shutil
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# each room may use those before it (the order of the road, the ledger beneath it all)
ROOMS = (
    "ledger",
    "partners",
    "reception",
    "controls",
    "lifecycle",
    "delivery",
    "processing",
    "operations",
    "api",
    "cli",
)
TOP = {
    "clock",
    "cron",
    "csvfile",
    "display",
    "errors",
    "failpoints",
    "logs",
    "number_key",
    "problems",
    "settings",
    "siret",
}
# the one import against the direction, and why: the [controls.severity] table is checked
# when the settings are read (a code no control has is refused at start), against the
# catalogue of codes; imported inside the function, so reading settings loads no control
ALLOWED = {("edi_engine/settings.py", "edi_engine.controls.catalogue")}
FACE = ("cli.py", "cli", "jobs", "bench")  # callers of the engine, held to its public names
PURE = ("pivot_format", "connectors")  # import nothing of the engine


@dataclass(frozen=True)
class Arrow:
    source: str  # file, relative to the repository
    line: int
    target: str  # the dotted module (or module.name) imported

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}"


def arrows(root: Path, path: Path) -> list[Arrow]:
    """Every edi_engine, cli or jobs name a file imports, relative imports made absolute."""
    relative = path.relative_to(root)
    package = list(relative.parent.parts)
    found = []
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in ("edi_engine", "cli", "jobs"):
                found.append(Arrow(relative.as_posix(), node.lineno, target))
    return found


def room_of(file: str) -> str | None:
    """A file's room; "top" for the shared modules; None outside edi_engine."""
    parts = file.split("/")
    if parts[0] != "edi_engine":
        return None
    return parts[1] if len(parts) > 2 and parts[1] in ROOMS else "top"


def public_names(root: Path, room: str) -> set[str]:
    tree = ast.parse((root / "edi_engine" / room / "__init__.py").read_bytes())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    return set()


def python_files(root: Path, *tops: str) -> list[Path]:
    files = []
    for top in tops:
        path = root / top
        files += [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))
    return [f for f in files if f.is_file()]


def breaches(root: Path) -> list[str]:
    """Each import that breaks the direction, one sentence each."""
    found = []
    public = {room: public_names(root, room) for room in ROOMS}
    for path in python_files(root, "edi_engine", *FACE, *PURE):
        for arrow in arrows(root, path):
            source = room_of(arrow.source)
            if arrow.source.split("/")[0] in PURE:
                found.append(f"{arrow}: {arrow.source.split('/')[0]} imports nothing of them")
                continue
            parts = arrow.target.split(".")
            if parts[0] != "edi_engine":
                if source is not None:
                    found.append(f"{arrow}: the engine does not call its callers")
                continue
            target = parts[1] if len(parts) > 1 and parts[1] in ROOMS else "top"
            if target == "top" or target == source:
                continue
            if (arrow.source, ".".join(parts[:3])) in ALLOWED:
                continue
            if source == "top":
                found.append(f"{arrow}: the shared modules at the top use no room")
            elif source is not None and ROOMS.index(target) > ROOMS.index(source):
                found.append(f"{arrow}: {source} may use only the rooms before it")
            elif len(parts) > 2 and parts[2] not in public[target]:
                found.append(f"{arrow}: {parts[2]} is private to {target}")
    return found


def test_no_import_breaks_the_direction_of_the_rooms() -> None:
    assert breaches(REPO) == []


def test_each_module_of_the_engine_is_in_a_room_or_shared_at_the_top() -> None:
    top = {p.stem for p in (REPO / "edi_engine").glob("*.py")} - {"__init__"}
    rooms = {p.name for p in (REPO / "edi_engine").iterdir() if (p / "__init__.py").is_file()}
    assert top == TOP, "a new module at the top is shared by every room: place it in one"
    assert rooms == set(ROOMS)


def test_each_room_says_what_it_does_and_exposes_only_what_it_holds() -> None:
    for room in ROOMS:
        folder = REPO / "edi_engine" / room
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_bytes()))
        assert doc and len(doc.splitlines()) >= 3, f"{room}/__init__.py says what it does"
        held = {p.stem for p in folder.glob("*.py")} | {p.name for p in folder.iterdir()}
        names = set(vars(__import__(f"edi_engine.{room}", fromlist=["_"])))
        assert public_names(REPO, room) <= held | names, room


def test_a_room_using_a_later_one_or_a_private_module_is_named(tmp_path: Path) -> None:
    """The check itself: a copy of the engine with three wrong imports planted."""
    for top in ("edi_engine", "pivot_format", "connectors"):
        shutil.copytree(REPO / top, tmp_path / top, ignore=shutil.ignore_patterns("__pycache__"))
    assert breaches(tmp_path) == []
    db = tmp_path / "edi_engine" / "ledger" / "db.py"
    db.write_text(db.read_text() + "\nfrom ..processing import runner\n")
    clock = tmp_path / "edi_engine" / "clock.py"
    clock.write_text(clock.read_text() + "\nfrom .ledger import models\n")
    model = tmp_path / "pivot_format" / "model.py"
    model.write_text(model.read_text() + "\nfrom edi_engine import settings\n")
    runner = tmp_path / "edi_engine" / "processing" / "runner.py"
    runner.write_text(runner.read_text() + "\nfrom ..partners import certificates\n")
    found = "\n".join(breaches(tmp_path))
    assert "edi_engine/ledger/db.py" in found and "ledger may use only the rooms before" in found
    assert "edi_engine/clock.py" in found and "the shared modules at the top use no room" in found
    assert "pivot_format/model.py" in found and "pivot_format imports nothing" in found
    assert "certificates is private to partners" in found
    assert len(breaches(tmp_path)) == 4
