"""A leased flow to its outcome: the runner (intake, leases, workers, delivery), the
pipeline that identifies, validates, reads, controls and converts, recording in the
ledger, the integration report (CR), re-runs and re-deliveries. Uses every room below
operations: delivery, lifecycle, controls, reception, partners, ledger.
"""

__all__ = ["preparing", "recording", "redelivery", "rerun", "runner"]
