"""Outputs written and delivered: CRs, pivots and status flows staged and recorded in one
commit (outputs), published to local outboxes (publication) or uploaded to SFTP servers
(uploads), and the scheduled status flows to suppliers (statuses_out). Delivering a pivot
moves its invoice on, so delivery uses lifecycle, and reception, partners, the ledger.
"""

__all__ = ["outputs", "publication", "statuses_out", "uploads"]
