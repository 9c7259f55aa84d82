from __future__ import annotations

import pytest

from edi_engine.siret import is_valid


@pytest.mark.parametrize(
    ("siret", "valid"),
    [
        ("73282932000074", True),
        ("21990101400015", True),
        ("73282932000075", False),  # wrong key
        ("7328293200007", False),  # 13 digits
        ("7328293200007A", False),
        ("35600000000048", True),  # La Poste: Luhn holds
        ("35600000049837", True),  # La Poste: digits sum to a multiple of 5, Luhn does not hold
        ("35600000049838", False),
        ("７３２８２９３２０００７４", False),  # full-width digits look the same, key elsewhere
        ("७३२८२९३२०००७४".rjust(14, "7"), False),  # Devanagari digits: isdigit() too
    ],
)
def test_siret_rules(siret: str, valid: bool) -> None:
    assert is_valid(siret) is valid
