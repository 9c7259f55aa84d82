"""The invoice model and the readers/writers of the formats the hub speaks.

Pure functions on bytes and lxml trees: no files, no database, no settings
(docs/architecture.md#layout-of-the-code). The engine decides what to do with what they return.
"""
