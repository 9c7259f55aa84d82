"""The API channel: a second door for partners' software, over HTTPS with OAuth2 bearer
tokens, onto the road files take (deposits are recorded as inbox files are). Exposes the
application (app) and `api serve` (server); uses reception, operations, partners and the
ledger. Only the cli room imports it.
"""

__all__ = ["app", "server"]
