"""The API as clients meet it: bad input answered with 4xx naming the field, the OpenAPI schema, QR codes."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient

from tests.passport.conftest import Landscape, create
from tests.passport.test_lifecycle import ev


def problems(response: object) -> dict[str, str]:
    body = response.json()  # type: ignore[attr-defined]
    return {p["field"]: p["message"] for p in body["error"]["problems"]}


def test_malformed_json_is_a_422_not_a_500(client: TestClient, landscape: Landscape) -> None:
    r = client.post(
        "/api/v1/passports",
        content=b'{"data": {',
        headers={**landscape.auth("maker-op"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["error"]["problems"][0]["code"] == "malformed_json"


def test_unknown_attribute_wrong_type_wrong_unit_bad_gtin(client: TestClient, landscape: Landscape) -> None:
    h = landscape.auth("maker-op")
    r = client.post("/api/v1/passports", json={"data": {**ev("E-1"), "colour": "red"}}, headers=h)
    assert r.status_code == 422 and "data.colour" in problems(r)
    r = client.post("/api/v1/passports", json={"data": {**ev("E-1"), "rated_capacity_Ah": "lots"}}, headers=h)
    assert r.status_code == 422 and any(f.startswith("data.rated_capacity_Ah") for f in problems(r))
    r = client.post(
        "/api/v1/passports", json={"data": {**ev("E-1"), "rated_capacity_Ah": {"value": 3, "unit": "V"}}}, headers=h
    )
    assert r.status_code == 422
    assert problems(r) == {"data.rated_capacity_Ah": "unit 'V' measures voltage, not charge"}
    r = client.post("/api/v1/passports", json={"data": {**ev("E-1"), "gtin": "6291041500214"}}, headers=h)
    assert r.status_code == 422 and "check digit" in problems(r)["data.gtin"]
    r = client.post(
        "/api/v1/passports",
        json={"data": {**ev("E-1"), "battery_category": "lmt", "capacity_threshold_exhaustion_pct": 70}},
        headers=h,
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "not_applicable"
    assert "data.capacity_threshold_exhaustion_pct" in problems(r)
    r = client.post("/api/v1/passports", json={"data": {"serial_number": "E-2"}}, headers=h)
    assert r.status_code == 422 and "data.battery_category" in problems(r)
    r = client.post("/api/v1/passports", json={"data": ev("E-3"), "extra": 1}, headers=h)
    assert r.status_code == 422 and "extra" in problems(r)


def test_json_types_are_strict(client: TestClient, landscape: Landscape) -> None:
    """0 is not false, a text is not a number, a number is not a text (an API fuzzer found 0 accepted as false)."""
    h = landscape.auth("maker-op")
    for field, extra in (
        ("data.detailed_composition", {"detailed_composition": [{"name": "Graphite", "critical_raw_material": 0}]}),
        ("data.expected_lifetime_cycles", {"expected_lifetime_cycles": "1500"}),
        ("data.rated_capacity_Ah", {"rated_capacity_Ah": "211"}),
        ("data.hazardous_substances", {"hazardous_substances": [{"name": "x", "concentration_pct": "1.2"}]}),
        ("data.battery_chemistry", {"battery_chemistry": 5}),
        ("data.negative_events", {"negative_events": [{"event": "deep discharge", "time": 1767225600}]}),
    ):
        r = client.post("/api/v1/passports", json={"data": {**ev("E-7"), **extra}}, headers=h)
        assert r.status_code == 422, extra
        assert any(f.startswith(field) for f in problems(r)), problems(r)
    pid = create(
        client,
        landscape,
        {
            **ev("E-7"),
            "expected_lifetime_cycles": 1500.0,
            "detailed_composition": [{"name": "Graphite", "critical_raw_material": False}],
        },
    )
    data = client.get(f"/api/v1/passports/{pid}", headers=h).json()["data"]
    assert data["expected_lifetime_cycles"] == 1500
    assert data["detailed_composition"] == [{"name": "Graphite", "critical_raw_material": False}]


def test_documents_are_lists_of_documents(client: TestClient, landscape: Landscape) -> None:
    h = landscape.auth("maker-op")
    r = client.post(
        "/api/v1/passports",
        json={"data": {**ev("E-8"), "eu_declaration_of_conformity": "https://maker.example/doc.pdf"}},
        headers=h,
    )
    assert r.status_code == 422 and any(f.startswith("data.eu_declaration_of_conformity") for f in problems(r))
    declaration = [{"url": "https://maker.example/doc.pdf", "title": "EU declaration of conformity"}]
    pid = create(client, landscape, {**ev("E-8"), "eu_declaration_of_conformity": declaration})
    public = client.get(f"/api/v1/passports/{pid}").json()["data"]
    assert public["eu_declaration_of_conformity"] == declaration
    page = client.get(f"/p/{pid}?lang=en").text
    assert '<a href="https://maker.example/doc.pdf" rel="nofollow noopener">EU declaration of conformity</a>' in page


def test_converted_units_are_stored_in_the_attribute_unit(client: TestClient, landscape: Landscape) -> None:
    pid = create(client, landscape, {**ev("E-4"), "battery_mass_kg": {"value": 478000, "unit": "g"}})
    data = client.get(f"/api/v1/passports/{pid}").json()["data"]
    assert data["battery_mass_kg"] == 478.0


def test_unknown_passport_and_bad_paths(client: TestClient) -> None:
    r = client.get("/api/v1/passports/NOPE-1")
    assert r.status_code == 404 and r.json()["error"]["problems"][0]["field"] == "passport_id"
    assert client.get("/api/v1/passports/bad%20id").status_code == 422
    assert client.get("/api/v1/passports/x/versions/0").status_code == 422


def test_openapi_documents_every_attribute(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    props = spec["components"]["schemas"]["PassportData"]["properties"]
    assert "rated_capacity_Ah" in props and "[Ah]" in props["rated_capacity_Ah"]["description"]
    assert "battery_status" not in props  # set by the registry, not by clients
    assert "/api/v1/passports/{passport_id}/dynamic" in spec["paths"]


def test_qr_codes_resolve_to_the_public_page(client: TestClient, landscape: Landscape) -> None:
    import zxingcpp
    from PIL import Image

    pid = create(client, landscape, ev("E-5"))
    png = client.get(f"/api/v1/passports/{pid}/qr.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    decoded = [d.text for d in zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))]
    assert decoded == ["https://passport.example.nl/01/06291041500213/21/E-5"]
    svg = client.get(f"/api/v1/passports/{pid}/qr.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    # the GS1 Digital Link resolves to the public page, or to the JSON for API clients
    r = client.get("/01/06291041500213/21/E-5", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == f"/p/{pid}"
    r = client.get("/01/6291041500213/21/E-5", headers={"Accept": "application/json"}, follow_redirects=False)
    assert r.headers["location"] == f"/api/v1/passports/{pid}"
    assert client.get("/01/6291041500214/21/E-5").status_code == 400
    assert client.get("/01/6291041500213/21/NOPE").status_code == 404


def test_public_page_in_dutch_and_english(client: TestClient, landscape: Landscape) -> None:
    pid = create(
        client,
        landscape,
        {
            **ev("E-6"),
            "remaining_capacity_Ah": 190.0,
            "dismantling_information": [{"url": "https://x.example/secret-dismantling.pdf"}],
        },
    )
    nl = client.get(f"/p/{pid}", headers={"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.8"})
    assert nl.status_code == 200 and nl.headers["content-language"] == "nl"
    assert "Nominale capaciteit" in nl.text and "211 Ah" in nl.text and 'lang="nl"' in nl.text
    en = client.get(f"/p/{pid}", headers={"Accept-Language": "en-GB"})
    assert "Rated capacity" in en.text
    # the switch wins over the header and is remembered
    switched = client.get(f"/p/{pid}?lang=en", headers={"Accept-Language": "nl"})
    assert "Rated capacity" in switched.text and switched.cookies.get("lang") == "en"
    # nothing restricted reaches the public page
    assert "secret-dismantling" not in nl.text and "190 Ah" not in nl.text  # (not "190": a time may hold it)
    assert client.get("/p/NOPE-1").status_code == 404
