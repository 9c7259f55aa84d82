"""One worker process checks 20,000 invoices against the EN 16931 rules without crashing and
without its memory growing: Saxon (saxonche, a GraalVM native image) runs inside our
process, and factur-x dropped it after reports of crashes (issue 15, docs/performance.md).

The checks run in a child process, so that only Saxon's memory is measured, never this
test process's. Its invoices are the smallest our generator writes (UBL, one line), each
given a new number so that no two documents Saxon sees are the same; one in a hundred
breaks BR-CO-16, to prove the rules kept running to the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECKS = 20_000
WARM_UP = 1_000  # Saxon's heap settles: the memory then must not grow by more than
GROWTH_LIMIT = 50 * 1000 * 1000  # 50 MB, in bytes
BROKEN_EVERY = 100

CHILD = """
import json, re, sys, tempfile, time
from pathlib import Path
from bench.generate import Options, generate
from edi_engine.reception import rules, xmlsafe

checks, warm_up, broken_every = map(int, sys.argv[1:4])

def rss_kib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

with tempfile.TemporaryDirectory() as folder:
    options = Options(invoices=5, mix={"ubl": 1}, lines=(1, 1), attachments=0)
    invoices = [flow.path.read_bytes() for flow in generate(Path(folder), options).flows]
payable = re.compile(rb'(<cbc:PayableAmount currencyID="EUR">)[^<]*')
clean = broken = 0
unexpected = []
rss = {}
start = time.perf_counter()
for n in range(1, checks + 1):
    content = invoices[n % len(invoices)]
    content = re.sub(rb"BN-\\d{9}", b"BN-%09d" % n, content)
    wrong = n % broken_every == 0
    if wrong:
        content = payable.sub(rb"\\g<1>0.01", content)
    codes = [p.code for p in rules.check(content, xmlsafe.parse(content), ("en16931",))]
    if codes == (["BR-CO-16"] if wrong else []):
        broken += wrong
        clean += not wrong
    elif len(unexpected) < 5:
        unexpected.append((n, codes))
    if n == warm_up or n % 5000 == 0:
        rss[n] = rss_kib()
print(json.dumps({"clean": clean, "broken": broken, "unexpected": unexpected,
                  "rss_kib": rss, "seconds": time.perf_counter() - start}))
"""


def test_one_process_checks_20000_invoices_and_its_memory_stays_flat() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(CHECKS), str(WARM_UP), str(BROKEN_EVERY)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]  # a crash of Saxon ends the child
    found = json.loads(done.stdout)
    assert found["unexpected"] == []
    assert found["broken"] == CHECKS // BROKEN_EVERY  # each broken one named BR-CO-16
    assert found["clean"] == CHECKS - CHECKS // BROKEN_EVERY
    rss = {int(n): kib * 1024 for n, kib in found["rss_kib"].items()}
    growth = rss[CHECKS] - rss[WARM_UP]
    assert growth < GROWTH_LIMIT, f"RSS after n checks, bytes: {rss}"
