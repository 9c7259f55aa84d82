"""Why a document could not be read or written, in terms the depositor can act on."""

from __future__ import annotations


class ConversionError(Exception):
    """The invoice cannot be converted to the pivot format.

    ``code`` is stable (it appears in integration reports and users' scripts),
    ``element`` names the source element at fault and ``value`` what was found there.
    ``message_fr`` is the French message where the hub has one (the CR speaks French
    first); ``message`` is English.
    """

    def __init__(
        self,
        code: str,
        message: str,
        element: str = "",
        value: str = "",
        message_fr: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.element = element
        self.value = value
        self.message_fr = message_fr

    def __str__(self) -> str:
        found = f" (found {self.value!r})" if self.value else ""
        where = f" at {self.element}" if self.element else ""
        return f"{self.code}: {self.message}{where}{found}"
