"""edi-engine core: settings, ledger, pipeline, controls, referentials and reports."""

__version__ = "0.1.0"
