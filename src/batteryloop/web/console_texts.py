"""Interface texts of the operator console (English and Dutch), registered by :mod:`batteryloop.web.console`."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "console_title": {"en": "Passports", "nl": "Paspoorten"},
    "console_intro_operator": {
        "en": "The passports your organisation is responsible for.",
        "nl": "De paspoorten waarvoor uw organisatie verantwoordelijk is.",
    },
    "console_intro_grantee": {
        "en": "The batteries whose individual data an economic operator has shared with you.",
        "nl": "De batterijen waarvan een marktdeelnemer de individuele gegevens met u heeft gedeeld.",
    },
    "console_intro_all": {
        "en": "Every passport in the registry; you see the attributes your role may read.",
        "nl": "Alle paspoorten in het register; u ziet de gegevens die uw rol mag inzien.",
    },
    "console_new": {"en": "New passport", "nl": "Nieuw paspoort"},
    "console_import": {"en": "Upload a file", "nl": "Bestand uploaden"},
    "console_log": {"en": "Access log", "nl": "Toegangslogboek"},
    "console_filter": {"en": "Filter", "nl": "Filteren"},
    "console_clear": {"en": "Clear", "nl": "Wissen"},
    "console_search": {"en": "Search", "nl": "Zoeken"},
    "console_search_help": {
        "en": "Identifier, model, serial, GTIN",
        "nl": "Nummer, model, serienummer, GTIN",
    },
    "console_category": {"en": "Category", "nl": "Categorie"},
    "console_status": {"en": "Status", "nl": "Status"},
    "console_any": {"en": "Any", "nl": "Alle"},
    "console_state_group": {"en": "Passport", "nl": "Paspoort"},
    "console_battery_status_group": {
        "en": "Battery (Annex XIII 4(c))",
        "nl": "Batterij (bijlage XIII 4(c))",
    },
    "console_state_active": {"en": "active", "nl": "actief"},
    "console_state_superseded": {"en": "superseded", "nl": "opgevolgd"},
    "console_state_closed": {"en": "closed (recycled)", "nl": "beëindigd (gerecycled)"},
    "console_status_original": {"en": "original", "nl": "origineel"},
    "console_status_re-used": {"en": "re-used", "nl": "hergebruikt"},
    "console_status_repurposed": {"en": "repurposed", "nl": "herbestemd"},
    "console_status_remanufactured": {"en": "remanufactured", "nl": "gereviseerd"},
    "console_status_waste": {"en": "waste", "nl": "afval"},
    "console_model": {"en": "Model", "nl": "Model"},
    "console_chemistry": {"en": "Chemistry", "nl": "Chemie"},
    "console_soh": {"en": "State of health", "nl": "Gezondheid"},
    "console_updated": {"en": "Updated", "nl": "Bijgewerkt"},
    "console_select": {"en": "Select", "nl": "Kies"},
    "console_select_passport": {"en": "Select passport {id}", "nl": "Kies paspoort {id}"},
    "console_print_selected": {"en": "Print QR labels of the selected", "nl": "QR-labels van de gekozen afdrukken"},
    "console_none": {"en": "No passports match.", "nl": "Geen paspoorten gevonden."},
    "console_count": {"en": "{total} passports", "nl": "{total} paspoorten"},
    "console_page": {"en": "Page {page} of {pages}", "nl": "Pagina {page} van {pages}"},
    "console_previous": {"en": "Previous", "nl": "Vorige"},
    "console_next": {"en": "Next", "nl": "Volgende"},
    "console_pagination": {"en": "Pages", "nl": "Pagina's"},
    "console_hidden": {"en": "not visible to your role", "nl": "niet zichtbaar voor uw rol"},
    "console_back": {"en": "Back to the passports", "nl": "Terug naar de paspoorten"},
    "console_public_page": {"en": "Public page", "nl": "Openbare pagina"},
    "console_point_1": {
        "en": "Public information (Annex XIII point 1)",
        "nl": "Openbare informatie (bijlage XIII punt 1)",
    },
    "console_point_2": {
        "en": "For persons with a legitimate interest (Annex XIII point 2)",
        "nl": "Voor wie een legitiem belang heeft (bijlage XIII punt 2)",
    },
    "console_point_3": {
        "en": "For notified bodies, authorities and the Commission (Annex XIII point 3)",
        "nl": "Voor aangemelde instanties, toezichthouders en de Commissie (bijlage XIII punt 3)",
    },
    "console_point_4": {
        "en": "This battery's own data (Annex XIII point 4)",
        "nl": "Gegevens van deze batterij (bijlage XIII punt 4)",
    },
    "console_point_voluntary": {"en": "Voluntary information", "nl": "Vrijwillige informatie"},
    "console_measured": {"en": "measured {date}, {method}", "nl": "gemeten {date}, {method}"},
    "console_withheld": {
        "en": "{n} attributes of this passport are not open to your role.",
        "nl": "{n} gegevens van dit paspoort zijn niet toegankelijk voor uw rol.",
    },
    "console_basis": {"en": "Your access rests on", "nl": "Uw toegang berust op"},
    "console_incomplete": {
        "en": "Mandatory attributes still missing",
        "nl": "Verplichte gegevens die nog ontbreken",
    },
    "console_versions": {"en": "Versions", "nl": "Versies"},
    "console_version_kind": {"en": "Change", "nl": "Wijziging"},
    "console_recorded": {"en": "Recorded", "nl": "Vastgelegd"},
    "console_signed_by": {"en": "Signed by", "nl": "Ondertekend door"},
    "console_hash": {"en": "Hash", "nl": "Hash"},
    "console_kind_create": {"en": "issued", "nl": "uitgegeven"},
    "console_kind_update": {"en": "correction", "nl": "correctie"},
    "console_kind_dynamic": {"en": "new measurements", "nl": "nieuwe metingen"},
    "console_kind_status": {"en": "status change", "nl": "statuswijziging"},
    "console_kind_superseded": {"en": "superseded", "nl": "opgevolgd"},
    "console_actions": {"en": "Actions", "nl": "Acties"},
    "console_edit": {"en": "Correct static data", "nl": "Vaste gegevens corrigeren"},
    "console_dynamic": {"en": "Record measurements", "nl": "Metingen vastleggen"},
    "console_label": {"en": "Print QR label", "nl": "QR-label afdrukken"},
    "console_grants": {"en": "Access grants", "nl": "Toegangsrechten"},
    "console_grants_help": {
        "en": "A grant lets a repairer, remanufacturer, repurposer, recycler or aggregator read this battery's own "
        "data (Annex XIII point 4; Art. 77(2), Art. 14(1)).",
        "nl": "Met een toegangsrecht mag een reparateur, revisiebedrijf, herbestemmer, recycler of aggregator de "
        "gegevens van deze batterij inzien (bijlage XIII punt 4; art. 77(2), art. 14(1)).",
    },
    "console_account": {"en": "Account", "nl": "Account"},
    "console_account_help": {
        "en": "The account of a repairer, remanufacturer, repurposer, recycler or aggregator.",
        "nl": "Het account van een reparateur, revisiebedrijf, herbestemmer, recycler of aggregator.",
    },
    "console_role": {"en": "Role", "nl": "Rol"},
    "console_or_organisation": {"en": "or every account of", "nl": "of alle accounts van"},
    "console_organisation_help": {
        "en": "Grants each repairer, remanufacturer, repurposer, recycler or aggregator account of the organisation.",
        "nl": "Verleent elk account van de organisatie met de rol reparateur, revisiebedrijf, herbestemmer, recycler "
        "of aggregator toegang.",
    },
    "console_account_or_organisation": {
        "en": "Give an account or choose an organisation (not both).",
        "nl": "Geef een account of kies een organisatie (niet allebei).",
    },
    "console_no_grantee_accounts": {
        "en": "{organisation} has no account of a role that receives grants",
        "nl": "{organisation} heeft geen account met een rol die toegang kan krijgen",
    },
    "console_expires": {"en": "Expires", "nl": "Verloopt"},
    "console_expires_on": {"en": "Expires on", "nl": "Verloopt op"},
    "console_expires_help": {
        "en": "The grant ends at the end of this day (Amsterdam time); leave empty for no end date.",
        "nl": "Het recht vervalt aan het eind van deze dag (Amsterdamse tijd); laat leeg voor geen einddatum.",
    },
    "console_never": {"en": "no end date", "nl": "geen einddatum"},
    "console_purpose": {"en": "Purpose", "nl": "Doel"},
    "console_issued": {"en": "Issued", "nl": "Verleend"},
    "console_grant_state": {"en": "State", "nl": "Stand"},
    "console_grant_active": {"en": "active", "nl": "actief"},
    "console_grant_revoked": {"en": "revoked", "nl": "ingetrokken"},
    "console_grant_expired": {"en": "expired", "nl": "verlopen"},
    "console_grant": {"en": "Grant access", "nl": "Toegang verlenen"},
    "console_revoke": {"en": "Revoke", "nl": "Intrekken"},
    "console_revoke_label": {"en": "Revoke the grant of {account}", "nl": "Recht van {account} intrekken"},
    "console_no_grants": {"en": "No grants yet.", "nl": "Nog geen toegangsrechten."},
    "console_done_created": {"en": "The passport was issued.", "nl": "Het paspoort is uitgegeven."},
    "console_done_updated": {
        "en": "The change was saved as a new signed version.",
        "nl": "De wijziging is opgeslagen als nieuwe ondertekende versie.",
    },
    "console_done_dynamic": {
        "en": "The measurements were recorded as a new signed version.",
        "nl": "De metingen zijn vastgelegd als nieuwe ondertekende versie.",
    },
    "console_done_granted": {"en": "Access was granted.", "nl": "De toegang is verleend."},
    "console_done_revoked": {"en": "The grant was revoked.", "nl": "Het toegangsrecht is ingetrokken."},
    "console_errors_title": {
        "en": "The passport was not saved. Please correct:",
        "nl": "Het paspoort is niet opgeslagen. Verbeter a.u.b.:",
    },
    "console_errors_general": {"en": "Not saved:", "nl": "Niet opgeslagen:"},
    "console_expected": {"en": "expected", "nl": "verwacht"},
    "console_expected_lead": {"en": "Expected {text}", "nl": "Verwacht: {text}"},
    "console_choose_category": {"en": "Battery category", "nl": "Batterijcategorie"},
    "console_choose_category_help": {
        "en": "The form shows the attributes Annex XIII asks for this category, mandatory ones first.",
        "nl": "Het formulier toont de gegevens die bijlage XIII voor deze categorie vraagt, verplichte eerst.",
    },
    "console_continue": {"en": "Continue", "nl": "Verder"},
    "console_change_category": {"en": "Change category", "nl": "Andere categorie"},
    "console_mandatory": {"en": "Mandatory for this category", "nl": "Verplicht voor deze categorie"},
    "console_conditional": {
        "en": "Mandatory where they apply (conditional)",
        "nl": "Verplicht waar van toepassing (voorwaardelijk)",
    },
    "console_voluntary": {"en": "Voluntary", "nl": "Vrijwillig"},
    "console_required_mark": {"en": "mandatory", "nl": "verplicht"},
    "console_passport_id": {"en": "Passport identifier", "nl": "Paspoortnummer"},
    "console_passport_id_help": {
        "en": "Leave empty: the registry derives it from your organisation's issuer code or from GTIN and serial.",
        "nl": "Laat leeg: het register leidt het af van de uitgiftecode van uw organisatie of van GTIN en serienummer.",
    },
    "console_note": {"en": "Note for this version", "nl": "Toelichting bij deze versie"},
    "console_note_help": {
        "en": "Stored in the signed version, e.g. the reason for a correction.",
        "nl": "Wordt opgeslagen in de ondertekende versie, bijvoorbeeld de reden van een correctie.",
    },
    "console_issue": {"en": "Issue passport", "nl": "Paspoort uitgeven"},
    "console_save": {"en": "Save as new version", "nl": "Opslaan als nieuwe versie"},
    "console_cancel": {"en": "Cancel", "nl": "Annuleren"},
    "console_hint_number": {"en": "a number", "nl": "een getal"},
    "console_hint_integer": {"en": "a whole number", "nl": "een geheel getal"},
    "console_hint_date": {"en": "YYYY-MM-DD or YYYY-MM", "nl": "JJJJ-MM-DD of JJJJ-MM"},
    "console_hint_datetime": {
        "en": "date and time with offset, e.g. 2026-03-01T12:00:00+01:00",
        "nl": "datum en tijd met tijdzone, bijv. 2026-03-01T12:00:00+01:00",
    },
    "console_hint_duration": {
        "en": "ISO 8601 duration, e.g. P8Y (8 years) or P96M",
        "nl": "ISO 8601-duur, bijv. P8Y (8 jaar) of P96M",
    },
    "console_hint_lines": {"en": "one per line", "nl": "één per regel"},
    "console_hint_documents": {
        "en": "one document per line: title | https://address (the title is optional)",
        "nl": "één document per regel: titel | https://adres (de titel mag weg)",
    },
    "console_hint_json": {
        "en": "a JSON list of objects with the fields: {fields}",
        "nl": "een JSON-lijst van objecten met de velden: {fields}",
    },
    "console_hint_gtin": {"en": "8, 12, 13 or 14 digits", "nl": "8, 12, 13 of 14 cijfers"},
    "console_unit": {"en": "unit", "nl": "eenheid"},
    "console_bad_number": {"en": "{text} is not a number", "nl": "{text} is geen getal"},
    "console_bad_integer": {"en": "{text} is not a whole number", "nl": "{text} is geen geheel getal"},
    "console_bad_json": {
        "en": "not valid JSON ({error} on line {line}, column {column})",
        "nl": "geen geldige JSON ({error} op regel {line}, kolom {column})",
    },
    "console_bad_document": {
        "en": "line {line}: give title | address, or only the address",
        "nl": "regel {line}: geef titel | adres, of alleen het adres",
    },
    "console_bad_date": {"en": "{text} is not a date", "nl": "{text} is geen datum"},
    "console_bad_datetime": {"en": "{text} is not a date and time", "nl": "{text} is geen datum en tijd"},
    "console_fixed": {
        "en": "Identifies the battery; it cannot change after issue.",
        "nl": "Identificeert de batterij; kan na uitgifte niet meer veranderen.",
    },
    "console_edit_title": {"en": "Correct static data", "nl": "Vaste gegevens corrigeren"},
    "console_edit_help": {
        "en": "Change a value or empty a field to remove it. Every change becomes a new signed version; the "
        "earlier versions stay readable.",
        "nl": "Wijzig een waarde of maak een veld leeg om het te verwijderen. Elke wijziging wordt een nieuwe "
        "ondertekende versie; de eerdere versies blijven leesbaar.",
    },
    "console_dynamic_title": {"en": "Record measurements", "nl": "Metingen vastleggen"},
    "console_dynamic_help": {
        "en": "State of health and use (Annex XIII point 4, Annex VII). Fill in the values you measured; every value "
        "is recorded with when and how it was determined.",
        "nl": "Gezondheid en gebruik (bijlage XIII punt 4, bijlage VII). Vul de gemeten waarden in; elke waarde wordt "
        "vastgelegd met wanneer en hoe ze is bepaald.",
    },
    "console_measured_at": {"en": "Measured at", "nl": "Gemeten op"},
    "console_measured_at_help": {"en": "Date and time, Amsterdam time.", "nl": "Datum en tijd, Amsterdamse tijd."},
    "console_method": {"en": "Method", "nl": "Methode"},
    "console_method_help": {
        "en": "How the values were determined, e.g. BMS read-out, capacity test at 25 °C.",
        "nl": "Hoe de waarden zijn bepaald, bijv. uitlezing BMS, capaciteitstest bij 25 °C.",
    },
    "console_current": {"en": "now: {value}", "nl": "nu: {value}"},
    "console_record": {"en": "Record", "nl": "Vastleggen"},
    "console_not_yours": {
        "en": "Only the economic operator responsible for this passport may change it.",
        "nl": "Alleen de marktdeelnemer die verantwoordelijk is voor dit paspoort mag het wijzigen.",
    },
    "console_inactive": {
        "en": "This passport is no longer active and cannot change.",
        "nl": "Dit paspoort is niet meer actief en kan niet meer veranderen.",
    },
    "console_import_title": {"en": "Upload a passport file", "nl": "Paspoortbestand uploaden"},
    "console_import_help": {
        "en": "A passport in IDTA-02035 (Digital Battery Passport submodels), Battery Pass 1.2 or Catena-X 6.1.0; "
        "or a signed batteryloop bundle. IDTA and Battery Pass consist of one JSON file per part: select all of "
        "them, or upload a ZIP archive holding them.",
        "nl": "Een paspoort in IDTA-02035 (Digital Battery Passport-submodellen), Battery Pass 1.2 of Catena-X "
        "6.1.0; of een ondertekende batteryloop-bundel. IDTA en Battery Pass bestaan uit één JSON-bestand per "
        "deel: kies ze allemaal, of upload een ZIP-archief met die bestanden.",
    },
    "console_format": {"en": "Format", "nl": "Formaat"},
    "console_files": {"en": "File(s)", "nl": "Bestand(en)"},
    "console_files_help": {
        "en": "JSON files, or one ZIP archive; at most 20 MB together.",
        "nl": "JSON-bestanden, of één ZIP-archief; samen hoogstens 20 MB.",
    },
    "console_skip_invalid": {
        "en": "Import the valid values and keep the refused ones on record",
        "nl": "Importeer de geldige waarden en bewaar de geweigerde in het dossier",
    },
    "console_upload": {"en": "Upload and issue", "nl": "Uploaden en uitgeven"},
    "console_import_failed": {
        "en": "Nothing was imported. The problems, per file and field:",
        "nl": "Er is niets geïmporteerd. De problemen, per bestand en veld:",
    },
    "console_import_done": {
        "en": "Passport {id} was issued with {n} attributes.",
        "nl": "Paspoort {id} is uitgegeven met {n} gegevens.",
    },
    "console_import_rejected": {
        "en": "Values refused and kept on record",
        "nl": "Geweigerde waarden, bewaard in het dossier",
    },
    "console_import_defects": {
        "en": "Defects of the source against its own schema",
        "nl": "Gebreken van de bron ten opzichte van haar eigen schema",
    },
    "console_open_passport": {"en": "Open the passport", "nl": "Open het paspoort"},
    "console_where": {"en": "File / field", "nl": "Bestand / veld"},
    "console_problem": {"en": "Problem", "nl": "Probleem"},
    "console_labels_title": {"en": "QR labels", "nl": "QR-labels"},
    "console_labels_help": {
        "en": "Each code opens the battery's public passport page. Print on label sheets; the menu and buttons are "
        "left out of the print.",
        "nl": "Elke code opent de openbare paspoortpagina van de batterij. Druk af op etiketvellen; menu en knoppen "
        "worden niet afgedrukt.",
    },
    "console_print": {"en": "Print", "nl": "Afdrukken"},
    "console_labels_none": {
        "en": "Select one or more passports in the list first.",
        "nl": "Kies eerst een of meer paspoorten in de lijst.",
    },
    "console_labels_missing": {
        "en": "Not found: {ids}",
        "nl": "Niet gevonden: {ids}",
    },
    "console_labels_too_many": {
        "en": "At most {n} labels at a time; the first {n} are shown.",
        "nl": "Hoogstens {n} labels tegelijk; de eerste {n} worden getoond.",
    },
    "console_log_title": {"en": "Access log", "nl": "Toegangslogboek"},
    "console_log_help_operator": {
        "en": "Who read non-public data of your organisation's passports, and when (Art. 77(2)).",
        "nl": "Wie niet-openbare gegevens van de paspoorten van uw organisatie heeft ingezien, en wanneer "
        "(art. 77(2)).",
    },
    "console_log_help_all": {
        "en": "Who read non-public data of any passport, and when: open to market surveillance and the Commission.",
        "nl": "Wie niet-openbare gegevens van welk paspoort ook heeft ingezien, en wanneer: open voor markttoezicht "
        "en de Commissie.",
    },
    "console_log_recent": {"en": "Recent reads of non-public data", "nl": "Recente inzage van niet-openbare gegevens"},
    "console_log_all": {"en": "Full access log of this passport", "nl": "Volledig toegangslogboek van dit paspoort"},
    "console_when": {"en": "When", "nl": "Wanneer"},
    "console_who": {"en": "Who", "nl": "Wie"},
    "console_what": {"en": "What", "nl": "Wat"},
    "console_action": {"en": "Action", "nl": "Handeling"},
    "console_passport": {"en": "Passport", "nl": "Paspoort"},
    "console_action_read": {"en": "read", "nl": "ingezien"},
    "console_action_search": {"en": "in a list or search", "nl": "in een lijst of zoekopdracht"},
    "console_action_version": {"en": "earlier version", "nl": "eerdere versie"},
    "console_action_history": {"en": "history of a value", "nl": "verloop van een waarde"},
    "console_action_export": {"en": "export", "nl": "export"},
    "console_action_qr": {"en": "QR code", "nl": "QR-code"},
    "console_log_empty": {"en": "No reads recorded.", "nl": "Geen inzage vastgelegd."},
    "console_log_passport_filter": {"en": "Passport identifier", "nl": "Paspoortnummer"},
    "console_log_since": {"en": "From date", "nl": "Vanaf datum"},
    "console_log_more": {"en": "Older entries", "nl": "Oudere regels"},
    "console_log_newer": {"en": "Newer entries", "nl": "Nieuwere regels"},
    "console_not_found": {"en": "No passport {id}.", "nl": "Geen paspoort {id}."},
    "console_yes": {"en": "yes", "nl": "ja"},
    "console_no": {"en": "no", "nl": "nee"},
    "console_empty_option": {"en": "(not given)", "nl": "(niet opgegeven)"},
    "console_attributes_n": {"en": "{n} attributes", "nl": "{n} gegevens"},
}
