"""An invoice's lifecycle: which status may follow which and who may set it (transitions),
statuses received from recipients and their accountants (statuses_in), and the accounting
view of them. Uses controls (structures, depositors, who sees what) and the ledger.
"""

__all__ = ["accounting", "statuses_in", "transitions"]
