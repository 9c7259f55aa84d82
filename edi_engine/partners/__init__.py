"""Partners: who sends and receives flows, their certificates (and the duplicate-certificate
control), the keys that read their SFTP passwords, how an SFTP partner is reached (remote),
and the API clients their software logs in with. Exposes registry, keyring, remote and
api_clients; certificates is private. Uses the ledger.
"""

__all__ = ["api_clients", "keyring", "registry", "remote"]
