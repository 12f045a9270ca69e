"""Identifiers: GS1 check digits against published GTINs, GS1 Digital Link, ISO/IEC 15459 unique item identifiers."""

from __future__ import annotations

import pytest

from batteryloop.errors import IdentifierError
from batteryloop.passport.identifiers import (
    check_passport_id,
    gs1_digital_link,
    gtin_check_digit,
    make_uii,
    normalise_gtin,
    parse_gs1_digital_link,
    parse_uii,
)


@pytest.mark.parametrize(
    ("gtin", "check"),
    [
        # GS1 General Specifications 7.9.1 worked example: GTIN-13 629104150021 -> check digit 3.
        ("629104150021", 3),
        ("400638133393", 1),  # EAN-13 4006381333931
        ("03600029145", 2),  # UPC-A 036000291452
        ("9638507", 4),  # EAN-8 96385074
        ("0001234567890", 5),  # GTIN-14 form of UPC-A 012345678905
    ],
)
def test_check_digit_matches_published_gtins(gtin: str, check: int) -> None:
    assert gtin_check_digit(gtin) == check
    assert normalise_gtin(gtin + str(check)) == (gtin + str(check)).zfill(14)


@pytest.mark.parametrize("bad", ["6291041500214", "12345", "ABCDEFGHIJKLM", "4006381333931 1"])
def test_bad_gtins_are_refused_with_the_reason(bad: str) -> None:
    with pytest.raises(IdentifierError) as info:
        normalise_gtin(bad)
    assert info.value.problems[0].field == "gtin"


def test_wrong_check_digit_says_which_digit_was_expected() -> None:
    with pytest.raises(IdentifierError) as info:
        normalise_gtin("6291041500214")
    assert "check digit 3" in (info.value.problems[0].expected or "")


def test_gs1_digital_link_round_trip() -> None:
    uri = gs1_digital_link("https://id.example.nl/", "6291041500213", "AB/12-3")
    assert uri == "https://id.example.nl/01/06291041500213/21/AB%2F12-3"
    assert parse_gs1_digital_link(uri) == ("06291041500213", "AB/12-3")


def test_serial_outside_gs1_character_set_is_refused() -> None:
    with pytest.raises(IdentifierError):
        gs1_digital_link("https://x.nl", "6291041500213", "AB 12")  # a space is not in character set 82
    with pytest.raises(IdentifierError):
        gs1_digital_link("https://x.nl", "6291041500213", "A" * 21)


def test_iso_15459_uii() -> None:
    uii = make_uii("LA", "ACME01", "SN-000123")
    assert uii == "LA-ACME01-SN-000123"
    assert parse_uii(uii) == ("LA", "ACME01", "SN-000123")
    with pytest.raises(IdentifierError):
        make_uii("la", "ACME", "1")
    with pytest.raises(IdentifierError):
        make_uii("LA", "ACME", "X" * 49)  # IAC + CIN + serial over 50 characters


def test_passport_id_characters() -> None:
    assert check_passport_id("urn:uuid:550e8400-e29b-41d4-a716-446655440000")
    for bad in ("", "a/b", "a b", "-x", "x" * 129):
        with pytest.raises(IdentifierError):
            check_passport_id(bad)
