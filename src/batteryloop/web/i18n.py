"""Interface texts in Dutch and English, and the choice of language for a request.

The language is, in order: ``?lang=nl|en``, the ``lang`` cookie a previous switch set, the first of ``nl``/``en``
in Accept-Language, English.
"""

from __future__ import annotations

from starlette.requests import Request

LANGUAGES = ("nl", "en")

TEXTS: dict[str, dict[str, str]] = {
    "title": {"en": "Battery passport", "nl": "Batterijpaspoort"},
    "identifier": {"en": "Passport identifier", "nl": "Paspoortnummer"},
    "state_active": {"en": "Active", "nl": "Actief"},
    "state_superseded": {
        "en": "This battery was repurposed, remanufactured or re-used; it continues under a new passport.",
        "nl": "Deze batterij is herbestemd, gereviseerd of hergebruikt en heeft een nieuw paspoort.",
    },
    "state_closed": {
        "en": "This battery was recycled. Its passport ceased to exist on {date}.",
        "nl": "Deze batterij is gerecycled. Het paspoort is op {date} beëindigd.",
    },
    "successor": {"en": "Current passport", "nl": "Huidig paspoort"},
    "predecessors": {"en": "Made from", "nl": "Gemaakt van"},
    "public_info": {"en": "Public information (Annex XIII point 1)", "nl": "Openbare informatie (bijlage XIII punt 1)"},
    "more": {
        "en": "Repairers, repurposers, recyclers, authorities and the operator see more after signing in.",
        "nl": "Reparateurs, herbestemmers, recyclers, toezichthouders en de marktdeelnemer zien meer na inloggen.",
    },
    "sign_in": {"en": "Sign in", "nl": "Inloggen"},
    "version": {"en": "Version", "nl": "Versie"},
    "updated": {"en": "Last updated", "nl": "Laatst bijgewerkt"},
    "not_found": {"en": "No passport with this identifier.", "nl": "Geen paspoort met dit nummer."},
    "qr": {"en": "QR code of this passport", "nl": "QR-code van dit paspoort"},
    "language": {"en": "Language", "nl": "Taal"},
    "home_intro": {
        "en": "The open battery passport registry and battery-lifecycle platform.",
        "nl": "Het open register voor batterijpaspoorten en platform voor de levenscyclus van batterijen.",
    },
    "lookup": {"en": "Look up a passport", "nl": "Paspoort opzoeken"},
    "lookup_button": {"en": "Show", "nl": "Toon"},
    "api": {"en": "API documentation", "nl": "API-documentatie"},
    "yes": {"en": "yes", "nl": "ja"},
    "voluntary": {"en": "voluntary", "nl": "vrijwillig"},
    "no": {"en": "no", "nl": "nee"},
    "lifecycle": {"en": "Status", "nl": "Status"},
    "lifecycle_original": {"en": "Original", "nl": "Origineel"},
    "lifecycle_re_used": {"en": "Re-used", "nl": "Hergebruikt"},
    "lifecycle_repurposed": {"en": "Repurposed", "nl": "Herbestemd"},
    "lifecycle_remanufactured": {"en": "Remanufactured", "nl": "Gereviseerd"},
    "lifecycle_waste": {"en": "Waste: hand it in for recycling", "nl": "Afval: lever in voor recycling"},
    "lifecycle_recycled": {"en": "Recycled", "nl": "Gerecycled"},
    "mirror_notice": {
        "en": (
            "Served by {provider} from a mirrored copy: version {version} of this passport, signed by {signer} "
            "(key {fingerprint}), deposited by {origin} on {date}. Its signatures were verified on deposit; the copy "
            "cannot be changed here."
        ),
        "nl": (
            "Getoond door {provider} uit een gespiegelde kopie: versie {version} van dit paspoort, ondertekend door "
            "{signer} (sleutel {fingerprint}), gedeponeerd door {origin} op {date}. De handtekeningen zijn bij het "
            "deponeren gecontroleerd; de kopie kan hier niet worden gewijzigd."
        ),
    },
    "nav_passports": {"en": "Passports", "nl": "Paspoorten"},
    "nav_health": {"en": "Battery health", "nl": "Batterijgezondheid"},
    "nav_market": {"en": "Second life", "nl": "Tweede leven"},
    "nav_energy": {"en": "Energy services", "nl": "Energiediensten"},
    "nav_circularity": {"en": "Circularity", "nl": "Circulariteit"},
    "nav_monitor": {"en": "National monitor", "nl": "Nationale monitor"},
    "main_nav": {"en": "Main menu", "nl": "Hoofdmenu"},
    "skip": {"en": "Skip to content", "nl": "Naar de inhoud"},
    "sign_out": {"en": "Sign out", "nl": "Uitloggen"},
    "signed_in_as": {"en": "Signed in as", "nl": "Ingelogd als"},
    "access_key": {"en": "Access key", "nl": "Toegangssleutel"},
    "access_key_help": {
        "en": "The key your organisation's administrator issued to you (batteryloop keys create).",
        "nl": "De sleutel die de beheerder van uw organisatie u gaf (batteryloop keys create).",
    },
    "signin_failed": {
        "en": "This access key is unknown or has been revoked.",
        "nl": "Deze toegangssleutel is onbekend of ingetrokken.",
    },
    "forbidden": {"en": "Not for your role", "nl": "Niet voor uw rol"},
    "forbidden_text": {
        "en": "This page is open to: {roles}. Sign in with another account to see it.",
        "nl": "Deze pagina is open voor: {roles}. Log in met een ander account om haar te zien.",
    },
    "csrf_failed": {
        "en": "This form has expired or did not come from this site. Go back, reload the page and send it again.",
        "nl": "Dit formulier is verlopen of kwam niet van deze site. Laad de pagina opnieuw en verstuur het nog eens.",
    },
    "download_csv": {"en": "Download as CSV", "nl": "Download als CSV"},
    "source": {"en": "Source", "nl": "Bron"},
    "chart_data": {"en": "Data of this chart", "nl": "Gegevens van deze grafiek"},
    "working": {"en": "Working, this can take a while…", "nl": "Bezig, dit kan even duren…"},
}

CATEGORY_LABELS = {
    "ev": {"en": "Electric vehicle battery", "nl": "Batterij voor elektrisch voertuig"},
    "lmt": {"en": "Light means of transport battery", "nl": "Batterij voor licht vervoermiddel"},
    "industrial": {"en": "Industrial battery", "nl": "Industriële batterij"},
    "sli": {"en": "Starting, lighting and ignition battery", "nl": "Start-, verlichtings- en ontstekingsbatterij"},
    "portable": {"en": "Portable battery", "nl": "Draagbare batterij"},
}


def choose_language(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    cookie = request.cookies.get("lang")
    if cookie in LANGUAGES:
        return cookie
    header = request.headers.get("accept-language", "")
    for part in header.split(","):
        tag = part.split(";")[0].strip().lower()
        base = tag.split("-")[0]
        if base in LANGUAGES:
            return base
    return "en"


def register(texts: dict[str, dict[str, str]]) -> None:
    """Add a page module's texts (each key in both languages); a key defined twice with other words is an error."""
    for key, value in texts.items():
        if set(value) != set(LANGUAGES):
            raise ValueError(f"interface text {key!r} must have exactly the languages {LANGUAGES}")
        if key in TEXTS and TEXTS[key] != value:
            raise ValueError(f"interface text {key!r} is defined twice with different words")
        TEXTS[key] = value


def translator(language: str) -> dict[str, str]:
    return {key: texts[language] for key, texts in TEXTS.items()}
