"""The crash harness at length (`make soak`): cycle after cycle of suppliers' flows and
kills until the duration is over, the home checked every few cycles and at the end.

    python -m tests.crash.soak --duration 30m [--flows 200] [--random-kills 20]
        [--database sqlite|postgresql] [--seed N] [--no-sftp] [--rules] [--fsync]

Each cycle drops `--flows` suppliers' flows of every kind in waves, kills the engine
`--random-kills` times at moments drawn and once at each named crash point, and the
recipients answer what they receive; every `--verify-every` cycles the work is let
finish and everything verified (tests/crash/verify.py), so that a problem shows early.
Progress goes to stdout, one line a cycle; the summary at the end (also written to
summary.txt in the soak's folder). Exit 0 when sound, 1 when a problem was found (the
soak's folder is then kept, with the logs of the processes that exited oddly), 2 when it
could not run (no sshd, no PostgreSQL)."""

from __future__ import annotations

import argparse
import contextlib
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.engine import Unreachable, postgresql_database

from .harness import Harness, Plan, cycle, settle, tidy
from .sshd import Server, SshdUnavailable, serving
from .verify import Verdict, summary, verify

UNITS = {"h": 3600, "m": 60, "s": 1, "": 1}


def duration(given: str) -> float:
    """Seconds from `30m`, `1h30m`, `90s`, `45` (seconds)."""
    parts = re.fullmatch(r"\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s?)?\s*", given)
    if not given.strip() or parts is None:
        raise argparse.ArgumentTypeError(f"{given!r} is not a duration such as 30m, 1h, 90s")
    hours, minutes, seconds = (int(part or 0) for part in parts.groups())
    return hours * 3600 + minutes * 60 + seconds


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.crash.soak", description=__doc__)
    parser.add_argument(
        "--duration",
        type=duration,
        default=duration("30m"),
        help="how long new work is made (then it is let finish): 30m, 1h, 90s",
    )
    parser.add_argument("--flows", type=int, default=200, help="suppliers' flows per cycle")
    parser.add_argument("--waves", type=int, default=6, help="waves a cycle drops them in")
    parser.add_argument(
        "--random-kills",
        type=int,
        default=20,
        help="kills at moments drawn per cycle (and one at each named point)",
    )
    parser.add_argument(
        "--verify-every",
        type=int,
        default=4,
        help="cycles between two verifications (and one at the end)",
    )
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the ledger: SQLite in the home, or a new database on the "
        "PostgreSQL server at 127.0.0.1:5432 (dropped afterwards)",
    )
    parser.add_argument("--workers", type=int, default=2, help="run --workers N")
    parser.add_argument("--seed", type=int, help="replays a soak's flows and plan of kills")
    parser.add_argument(
        "--no-sftp", action="store_true", help="local partners only (without an OpenSSH sshd)"
    )
    parser.add_argument("--rules", action="store_true", help="EN 16931's rules on")
    parser.add_argument("--fsync", action="store_true", help="processing.fsync on")
    parser.add_argument("--root", type=Path, help="the soak's folder (default: a new one in /tmp)")
    return parser.parse_args(argv)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    options = arguments(sys.argv[1:] if argv is None else argv)
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(10**6)
    root = options.root or Path(tempfile.mkdtemp(prefix="edi-soak-"))
    say(f"soak: seed {seed}, {options.duration / 60:.0f} min, in {root}")
    try:
        with _resources(options, root) as (database_url, server):
            plan = Plan(
                seed=seed, flows=options.flows, waves=options.waves,
                random_kills=options.random_kills, workers=options.workers,
                rules=options.rules, fsync=options.fsync, database_url=database_url,
            )  # fmt: skip
            verdict, lines = _soak(root, plan, server, options)
    except (SshdUnavailable, Unreachable) as exc:
        say(f"soak: cannot run: {exc}")
        return 2
    (root / "summary.txt").write_text("\n".join(lines) + "\n")
    say("\n".join(lines))
    if verdict.sound and options.root is None:
        shutil.rmtree(root, ignore_errors=True)
    elif not verdict.sound:
        say(f"soak: kept {root}; replay the plan with --seed {seed}")
    return 0 if verdict.sound else 1


@contextlib.contextmanager
def _resources(
    options: argparse.Namespace, root: Path
) -> Iterator[tuple[str | None, Server | None]]:
    with contextlib.ExitStack() as stack:
        url = None
        if options.database == "postgresql":
            url = stack.enter_context(postgresql_database())
        server = None if options.no_sftp else stack.enter_context(serving(root / "sshd"))
        yield url, server


def _soak(
    root: Path, plan: Plan, server: Server | None, options: argparse.Namespace
) -> tuple[Verdict, list[str]]:
    started = time.monotonic()
    deadline = started + options.duration
    verdict = Verdict()
    with Harness(root / "crash", plan, server) as h:
        cycles = 0
        while time.monotonic() < deadline and verdict.sound:
            cycle(h)
            cycles += 1
            say(_progress(h, cycles, started))
            if cycles % max(1, options.verify_every) == 0:
                verdict = _verified(h, started)
        settle(h)
        tidy(h)
        h.stop_draining()
        if verdict.sound:
            verdict = verify(h)
        lines = [f"cycles: {cycles}", *summary(h, verdict, time.monotonic() - started)]
    return verdict, lines


def _verified(h: Harness, started: float) -> Verdict:
    """Let the work finish, give the partners' systems a moment to take the last files,
    and verify everything so far."""
    settle(h)
    tidy(h)
    time.sleep(1)  # the drainer sweeps every 10 ms: nothing is left to publish
    verdict = verify(h)
    minutes = (time.monotonic() - started) / 60
    said = "sound" if verdict.sound else f"{len(verdict.problems)} problem(s)"
    say(f"[{minutes:6.1f} min] verified: {said}; edi-engine check: {verdict.check}")
    return verdict


def _progress(h: Harness, cycles: int, started: float) -> str:
    tally = h.tally
    kills = ", ".join(f"{point} {n}" for point, n in sorted(tally.kills.items()))
    minutes = (time.monotonic() - started) / 60
    return (
        f"[{minutes:6.1f} min] cycle {cycles}: {sum(tally.dropped.values())} files, "
        f"{sum(tally.rounds.values())} processes, {sum(tally.kills.values())} kills "
        f"({kills})" + (f", {len(tally.problems)} problem(s)" if tally.problems else "")
    )


def say(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
