"""Partners: who sends and receives flows, their certificates (and the duplicate-certificate
control), the keys that read their SFTP passwords, and how an SFTP partner is reached
(remote). Exposes registry, keyring and remote; certificates is private. Uses the ledger.
"""

__all__ = ["keyring", "registry", "remote"]
