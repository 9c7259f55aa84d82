"""The benchmark: `python -m bench` (docs/performance.md). Not a test: it measures.

generate.py writes the flows, floor.py measures lxml alone on them, engine.py runs the
real `edi-engine run --once` on a copy and checks it accepted everything, memory.py
samples the engine's process tree, report.py prints a table or JSON.
"""
