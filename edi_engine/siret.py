"""SIRET checks: 14 digits with a Luhn key, and La Poste's known exception."""

from __future__ import annotations

LA_POSTE_SIREN = "356000000"


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def is_valid(siret: str) -> bool:
    """La Poste's establishments share one SIREN; their SIRETs sum to a multiple of 5."""
    if len(siret) != 14 or not (siret.isascii() and siret.isdigit()):  # not "７３２…"
        return False
    if siret.startswith(LA_POSTE_SIREN):
        return luhn_ok(siret) or sum(int(c) for c in siret) % 5 == 0
    return luhn_ok(siret)
