"""XML parsing that resolves no entity, reaches no network and refuses huge trees."""

from __future__ import annotations

import threading

from lxml import etree

from ..problems import FlowRejected, Problem

_local = threading.local()  # lxml parsers are not safe to share between threads
DTD_MESSAGE = "The document declares a DOCTYPE; DTDs and entities are not accepted."


def options(huge: bool) -> dict[str, bool]:
    """Parser options of every parse, whole or streamed: no entity, no network, no DTD."""
    return {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": huge}


def _parser(huge: bool) -> etree.XMLParser:
    key = f"parser_{huge}"
    parser = getattr(_local, key, None)
    if parser is None:
        parser = etree.XMLParser(**options(huge))
        setattr(_local, key, parser)
    return parser


def parse(content: bytes, huge: bool = False) -> etree._ElementTree:
    """Parse bytes into a tree, or reject the document as NOT_XML with line and reason."""
    try:
        root = etree.fromstring(content, _parser(huge))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise FlowRejected(
            Problem("NOT_XML", f"The document is not well-formed XML: {exc.msg}.", line=line)
        ) from exc
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise FlowRejected(Problem("DTD_FORBIDDEN", DTD_MESSAGE))
    return tree
