"""From a file to documents: intake from inboxes and SFTP landing folders (pickup), the
archive of originals, unpacking of batches, identification, safe XML parsing, XSD and
EN 16931 validation, reading into the invoice model (streaming for large pivots), and a
flow read again from its original (flow_parts). Uses partners and the ledger.
"""

__all__ = [
    "archive",
    "documents",
    "facturx_pdf",
    "flow_parts",
    "identify",
    "intake",
    "origin",
    "originals",
    "pickup",
    "reading",
    "rules",
    "streaming",
    "validation",
    "xmlsafe",
]
