"""The national battery monitor: one page per theme of the strategy with its indicators, and its fourteen actions.

The monitor is public (no sign-in): it shows aggregates only. The figures are computed on the server by
:mod:`batteryloop.web.monitor_indicators` (SQL over the registers, the published Dutch figures, the material-flow
model), kept for :data:`CACHE_SECONDS` per application so that a busy page does not recount 10,000 passports on every
request, and turned into charts here, in the reader's language. Every chart cites its source and downloads as CSV
(``?csv=<chart id>``).

Pages: ``/monitor`` (overview), ``/monitor/{theme}`` (``raw-materials``, ``collection``, ``safety``, ``battery-data``,
``energy``), ``/monitor/actions`` (the fourteen actions of the strategy, from ``monitor_actions.csv``).
"""

from __future__ import annotations

import csv
import math
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from batteryloop.errors import Problem, collect
from batteryloop.web.charts import Chart, csv_response
from batteryloop.web.i18n import choose_language, register, translator
from batteryloop.web.layout import read_session, render
from batteryloop.web.monitor_indicators import (
    ACTIVE_STATUSES,
    FLEX_KINDS,
    ROUTES,
    SECOND_LIFE_WINDOW_PCT,
    MonitorData,
    compute,
    share_pct,
    soh_bands,
)

router = APIRouter(include_in_schema=False)

CACHE_SECONDS = 60.0
"""How long the computed figures are reused: the monitor shows yearly indicators, a minute's delay changes nothing."""
ACTIONS_FILE = Path(__file__).with_name("monitor_actions.csv")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
STRATEGY = "Strategische Aanpak Batterijen (2020)"

COLOURS = ("#0b6e4f", "#c2410c", "#1d4ed8", "#7c3aed", "#a16207", "#be185d", "#0e7490")


@dataclass(frozen=True)
class Theme:
    slug: str
    number: int
    title: str
    """Key of the theme's title among the interface texts."""


THEMES = (
    Theme("raw-materials", 1, "monitor_theme_raw_materials"),
    Theme("collection", 2, "monitor_theme_collection"),
    Theme("safety", 3, "monitor_theme_safety"),
    Theme("battery-data", 4, "monitor_theme_battery_data"),
    Theme("energy", 5, "monitor_theme_energy"),
)
THEME_BY_SLUG = {t.slug: t for t in THEMES}

TEXTS: dict[str, dict[str, str]] = {
    "monitor_title": {"en": "National battery monitor", "nl": "Nationale batterijmonitor"},
    "monitor_intro": {
        "en": "The indicators of the Dutch strategic approach to batteries (Strategische Aanpak Batterijen, 2020), one "
        "page per theme, and what happened with its fourteen actions.",
        "nl": "De indicatoren van de Strategische Aanpak Batterijen (2020), één pagina per thema, en wat er met de "
        "veertien acties is gebeurd.",
    },
    "monitor_public": {
        "en": "Public page: no sign-in needed. It shows totals only. Counts that rest on individual battery data "
        "(state of health, status) are computed on the server and suppressed below {n} batteries, so that no "
        "battery, owner or operator can be picked out.",
        "nl": "Openbare pagina: inloggen is niet nodig. U ziet alleen totalen. Aantallen die op gegevens van "
        "afzonderlijke batterijen berusten (gezondheidstoestand, status) worden op de server berekend en onder de "
        "{n} batterijen onderdrukt, zodat geen batterij, eigenaar of marktdeelnemer herkenbaar is.",
    },
    "monitor_thresholds": {
        "en": "Which groups are suppressed, and why",
        "nl": "Welke groepen worden onderdrukt, en waarom",
    },
    "monitor_computed": {
        "en": "Computed at {time} (Amsterdam time); the figures are refreshed every minute.",
        "nl": "Berekend om {time} (Nederlandse tijd); de cijfers worden elke minuut ververst.",
    },
    "monitor_nav": {"en": "Monitor sections", "nl": "Onderdelen van de monitor"},
    "monitor_overview": {"en": "Overview", "nl": "Overzicht"},
    "monitor_actions": {"en": "The fourteen actions", "nl": "De veertien acties"},
    "monitor_theme": {"en": "Theme {n}", "nl": "Thema {n}"},
    "monitor_theme_raw_materials": {"en": "Origin of raw materials", "nl": "Herkomst grondstoffen"},
    "monitor_theme_collection": {"en": "Collection and re-use", "nl": "Inzameling en hergebruik"},
    "monitor_theme_safety": {"en": "Safety", "nl": "Veiligheid"},
    "monitor_theme_battery_data": {
        "en": "Economic prospects and battery data",
        "nl": "Economische perspectieven en batterijdata",
    },
    "monitor_theme_energy": {"en": "Energy services", "nl": "Energiediensten"},
    "monitor_aim_raw_materials": {
        "en": "Responsible extraction and trade of raw materials: cobalt, lithium, nickel and natural graphite.",
        "nl": "Verantwoorde winning van en handel in grondstoffen: kobalt, lithium, nikkel en natuurlijk grafiet.",
    },
    "monitor_aim_collection": {
        "en": "Keep raw materials in the system: collect waste batteries, give used batteries a second life, "
        "recycle the rest.",
        "nl": "Grondstoffen in het systeem houden: afgedankte batterijen inzamelen, gebruikte batterijen een tweede "
        "leven geven, de rest recyclen.",
    },
    "monitor_aim_safety": {
        "en": "Prevent battery fires and respond to them: storage, transport, buildings, vehicles and products.",
        "nl": "Batterijbranden voorkomen en bestrijden: opslag, vervoer, gebouwen, voertuigen en producten.",
    },
    "monitor_aim_battery_data": {
        "en": "Use the economic value of battery data, with owners in control of their own data.",
        "nl": "De economische waarde van batterijdata benutten, met eigenaren die zelf over hun gegevens beslissen.",
    },
    "monitor_aim_energy": {
        "en": "Batteries as a buffer in the electricity grid: stationary storage and vehicle-to-grid.",
        "nl": "Batterijen als buffer in het elektriciteitsnet: stationaire opslag en terugleveren door voertuigen.",
    },
    "monitor_facts": {"en": "From the strategy", "nl": "Uit de strategie"},
    "monitor_more": {"en": "Indicators of this theme", "nl": "Indicatoren van dit thema"},
    "monitor_fact_raw_materials_1": {
        "en": "Cabinet goal: 50 % less primary abiotic raw materials by 2030; for batteries copper, nickel, lithium "
        "and cobalt.",
        "nl": "Kabinetsdoel: 50 % minder primaire abiotische grondstoffen in 2030; voor batterijen koper, nikkel, "
        "lithium en kobalt.",
    },
    "monitor_fact_raw_materials_2": {
        "en": "Since the strategy, Regulation (EU) 2023/1542 requires due diligence with third-party verification "
        "(Art. 51) and a public report (Art. 52(3)), which the battery passport carries (Annex XIII 1(d)).",
        "nl": "Sinds de strategie eist Verordening (EU) 2023/1542 zorgvuldigheidseisen met verificatie door derden "
        "(art. 51) en een openbaar rapport (art. 52(3)), dat in het batterijpaspoort staat (bijlage XIII 1(d)).",
    },
    "monitor_fact_collection_1": {
        "en": "2018: Stibat collected 47.4 % of portable batteries (EU target 45 % met); EPAC reported 26.7 % for "
        "e-bike batteries.",
        "nl": "2018: Stibat zamelde 47,4 % van de draagbare batterijen in (EU-doel van 45 % gehaald); EPAC meldde "
        "26,7 % voor fietsaccu's.",
    },
    "monitor_fact_collection_2": {
        "en": "ARN: almost 90 % of the weight of collected EV lithium-ion traction batteries went to re-use in 2018.",
        "nl": "ARN: bijna 90 % van het gewicht van de ingezamelde lithium-ion tractiebatterijen uit elektrische "
        "auto's ging in 2018 naar hergebruik.",
    },
    "monitor_fact_collection_3": {
        "en": "EV batteries with 70-85 % residual capacity can serve stationary storage.",
        "nl": "Batterijen uit elektrische auto's met 70-85 % restcapaciteit kunnen dienen als stationaire opslag.",
    },
    "monitor_fact_safety_1": {
        "en": "Lithium-ion batteries in residual waste are a major cause of fires at waste companies.",
        "nl": "Lithium-ionbatterijen in het restafval zijn een belangrijke oorzaak van branden bij afvalbedrijven.",
    },
    "monitor_fact_safety_2": {
        "en": "Storage guidelines of action 5: PGS 37-1 and PGS 37-2 (2023).",
        "nl": "Richtlijnen voor opslag uit actie 5: PGS 37-1 en PGS 37-2 (2023).",
    },
    "monitor_fact_battery_data_1": {
        "en": "The battery-management system continuously produces data on the battery's state; access for other "
        "parties matters for grid services, for judging quality and lifetime, and for re-use.",
        "nl": "Het batterijmanagementsysteem levert voortdurend gegevens over de toestand van de batterij; toegang "
        "voor andere partijen is van belang voor netdiensten, voor het beoordelen van kwaliteit en levensduur, en "
        "voor hergebruik.",
    },
    "monitor_fact_battery_data_2": {
        "en": "The battery passport is mandatory from 18 February 2027 (Regulation (EU) 2023/1542, Art. 77).",
        "nl": "Het batterijpaspoort is verplicht vanaf 18 februari 2027 (Verordening (EU) 2023/1542, art. 77).",
    },
    "monitor_fact_energy_1": {
        "en": "At the end of 2019 smart charging hubs with vehicle-to-grid started in 19 municipalities.",
        "nl": "Eind 2019 startten slimme laadpleinen met terugleveren aan het net in 19 gemeenten.",
    },
    "monitor_fact_energy_2": {
        "en": "Obstacles named: little value for local flexibility, double energy tax on storage, no aggregation "
        "for small users yet.",
        "nl": "Genoemde belemmeringen: weinig waarde voor lokale flexibiliteit, dubbele energiebelasting op opslag, "
        "nog geen aggregatie voor kleinverbruikers.",
    },
    # charts
    "monitor_chart_collection": {
        "en": "Collection rate against the target per year",
        "nl": "Inzamelpercentage tegen het doel per jaar",
    },
    "monitor_how_collection": {
        "en": "Published: the rates as the producer-responsibility organisations reported them (not recomputed). "
        "Register: collected in year X over the mean placed on the market in X, X-1 and X-2, over every current "
        "report of the register (Directive 2006/66/EC Annex I before 2023, Regulation (EU) 2023/1542 Annex XI "
        "from 2023). Target: the highest target that binds the year. E-bike batteries had no target before the "
        "Regulation's LMT target of 2028.",
        "nl": "Gepubliceerd: de percentages zoals de producentenorganisaties ze meldden (niet herberekend). "
        "Register: ingezameld in jaar X gedeeld door het gemiddelde dat in X, X-1 en X-2 op de markt kwam, over "
        "alle geldende meldingen in het register (Richtlijn 2006/66/EG bijlage I vóór 2023, Verordening (EU) "
        "2023/1542 bijlage XI vanaf 2023). Doel: het hoogste doel dat voor het jaar geldt. Fietsaccu's hadden geen "
        "doel vóór het LMT-doel van de verordening voor 2028.",
    },
    "monitor_chart_flows_registry": {
        "en": "EV and e-bike batteries to second use and recycling, from the passport registry",
        "nl": "Batterijen van elektrische auto's en fietsen naar hergebruik en recycling, uit het paspoortregister",
    },
    "monitor_how_flows_registry": {
        "en": "Batteries per year and route: repurposed, re-used or remanufactured (each original battery linked to "
        "a new passport, Art. 77(7), in the year of the link), declared waste (Art. 77(6)) and recycled (passport "
        "closed). Counts below {n} batteries are suppressed.",
        "nl": "Batterijen per jaar en route: herbestemd, hergebruikt of gereviseerd (elke oorspronkelijke batterij "
        "gekoppeld aan een nieuw paspoort, art. 77(7), in het jaar van de koppeling), afgedankt verklaard "
        "(art. 77(6)) en gerecycled (paspoort gesloten). Aantallen onder de {n} batterijen worden onderdrukt.",
    },
    "monitor_chart_flows_model": {
        "en": "End-of-life EV batteries: material-flow model and ARN's published figures",
        "nl": "Afgedankte batterijen van elektrische auto's: materiaalstroommodel en gepubliceerde cijfers van ARN",
    },
    "monitor_how_flows_model": {
        "en": "Bars: the national material-flow model (current-policy scenario): batteries leaving their first "
        "life that are repurposed, collected for recycling or not collected, in tonnes. Markers: what ARN "
        "published for collected EV batteries to second use and to recycling.",
        "nl": "Staven: het nationale materiaalstroommodel (scenario huidig beleid): batterijen aan het eind van hun "
        "eerste leven die herbestemd, ingezameld voor recycling of niet ingezameld worden, in ton. Punten: wat ARN "
        "publiceerde over ingezamelde autobatterijen naar hergebruik en naar recycling.",
    },
    "monitor_how_flows_model_lmt": {
        "en": "The same model for batteries of light means of transport (e-bikes, e-steps): what is repurposed, "
        "collected for recycling or not collected, in tonnes. No Dutch tonnages of e-bike batteries to second use "
        "were found to compare with.",
        "nl": "Hetzelfde model voor batterijen van lichte vervoermiddelen (e-bikes, e-steps): wat herbestemd, "
        "ingezameld voor recycling of niet ingezameld wordt, in ton. Er zijn geen Nederlandse cijfers gevonden over "
        "fietsaccu's naar hergebruik om mee te vergelijken.",
    },
    "monitor_how_flex_power": {
        "en": "The same batteries as above; power = the maximum permitted power of the battery model (Annex XIII "
        "1(i)), summed. Groups below {n} batteries are suppressed.",
        "nl": "Dezelfde batterijen als hierboven; vermogen = het maximaal toegestane vermogen van het batterijmodel "
        "(bijlage XIII 1(i)), opgeteld. Groepen onder de {n} batterijen worden onderdrukt.",
    },
    "monitor_chart_flows_model_lmt": {
        "en": "End-of-life e-bike (LMT) batteries: material-flow model",
        "nl": "Afgedankte fietsaccu's (LMT): materiaalstroommodel",
    },
    "monitor_chart_passports": {
        "en": "Passports in the registry by category and state",
        "nl": "Paspoorten in het register per categorie en toestand",
    },
    "monitor_how_passports": {
        "en": "Every passport in the registry: active, superseded (the battery continues under a new passport) or "
        "closed (recycled). Public facts of the registry.",
        "nl": "Alle paspoorten in het register: actief, vervangen (de batterij gaat verder onder een nieuw paspoort) "
        "of gesloten (gerecycled). Openbare gegevens van het register.",
    },
    "monitor_chart_soh": {
        "en": "State of health of the batteries in use",
        "nl": "Gezondheidstoestand van de batterijen in gebruik",
    },
    "monitor_how_soh": {
        "en": "Active passports with a recorded state of health (soh_capacity_pct, Annex XIII 4(b)), per band of 5 "
        "points and battery category. The shaded band is the 70-85 % window the strategy names for a second life. "
        "Computed on the server; bands below {n} batteries are suppressed, and a category below {n} batteries is "
        "left out.",
        "nl": "Actieve paspoorten met een vastgelegde gezondheidstoestand (soh_capacity_pct, bijlage XIII 4(b)), "
        "per klasse van 5 punten en batterijcategorie. De gearceerde zone is het venster van 70-85 % dat de "
        "strategie noemt voor een tweede leven. Berekend op de server; klassen onder de {n} batterijen worden "
        "onderdrukt, en een categorie onder de {n} batterijen wordt weggelaten.",
    },
    "monitor_chart_flex_energy": {
        "en": "Flexible energy available to the grid by battery status",
        "nl": "Flexibele energie beschikbaar voor het net per batterijstatus",
    },
    "monitor_chart_flex_power": {
        "en": "Flexible power available to the grid by battery status",
        "nl": "Flexibel vermogen beschikbaar voor het net per batterijstatus",
    },
    "monitor_how_flex": {
        "en": "Counted: active passports of stationary (industrial) batteries and of EV batteries whose model's "
        "intended purpose names vehicle-to-grid (rules in monitor_flexibility.csv); waste batteries are not "
        "available. Usable energy = rated energy × state of health (the rated energy where no state of health is "
        "recorded); power = the maximum permitted power (Annex XIII 1(i)). An upper bound: it ignores the state of "
        "charge, the connection and the owner's willingness. Groups below {n} batteries are suppressed.",
        "nl": "Geteld: actieve paspoorten van stationaire (industriële) batterijen en van autobatterijen waarvan "
        "het beoogde gebruik van het model terugleveren aan het net noemt (regels in monitor_flexibility.csv); "
        "afgedankte batterijen tellen niet mee. Bruikbare energie = nominale energie × gezondheidstoestand (de "
        "nominale energie als er geen gezondheidstoestand is vastgelegd); vermogen = het maximaal toegestane "
        "vermogen (bijlage XIII 1(i)). Een bovengrens: laadtoestand, aansluiting en bereidheid van de eigenaar "
        "tellen niet mee. Groepen onder de {n} batterijen worden onderdrukt.",
    },
    "monitor_chart_incidents_category": {
        "en": "Battery incidents per year by battery category",
        "nl": "Batterij-incidenten per jaar per batterijcategorie",
    },
    "monitor_chart_incidents_location": {
        "en": "Battery incidents per year by location type",
        "nl": "Batterij-incidenten per jaar per soort locatie",
    },
    "monitor_how_incidents": {
        "en": "Fires and thermal events in the incident register (current versions), counted per year of "
        "occurrence. The public sees counts only: no place, passport or organisation.",
        "nl": "Branden en thermische incidenten in het incidentenregister (geldende versies), geteld per jaar "
        "waarin ze plaatsvonden. Het publiek ziet alleen aantallen: geen plaats, paspoort of organisatie.",
    },
    "monitor_chart_dd": {
        "en": "Battery models with due-diligence information in their passports",
        "nl": "Batterijmodellen met informatie over zorgvuldigheidseisen in hun paspoort",
    },
    "monitor_how_dd": {
        "en": "Share of battery models (distinct model identifiers of active passports) whose passport carries a "
        "due-diligence report (Art. 52(3)) and a third-party verification (Art. 51), Annex XIII 1(d). Model-level, "
        "public attributes.",
        "nl": "Aandeel batterijmodellen (verschillende modelnummers van actieve paspoorten) waarvan het paspoort een "
        "rapport over zorgvuldigheidseisen (art. 52(3)) en een verificatie door derden (art. 51) bevat, bijlage "
        "XIII 1(d). Openbare gegevens op modelniveau.",
    },
    "monitor_no_data": {
        "en": "No data yet: nothing has been recorded for this indicator.",
        "nl": "Nog geen gegevens: voor deze indicator is nog niets vastgelegd.",
    },
    # sources
    "monitor_src_collection": {
        "en": "Stibat and EPAC annual reports as collected in the shared data folder (circularity/nl_battery_flows/"
        "nl_battery_flows_by_year.csv; each row cites its report); the producer-responsibility register; targets: "
        "Directive 2006/66/EC Art. 10(2), Regulation (EU) 2023/1542 Art. 59(3) and 60(3) (circularity/targets.csv)",
        "nl": "Jaarverslagen van Stibat en EPAC zoals verzameld in de gedeelde datamap (circularity/nl_battery_flows/"
        "nl_battery_flows_by_year.csv; elke regel noemt zijn verslag); het register voor producenten"
        "verantwoordelijkheid; doelen: Richtlijn 2006/66/EG art. 10(2), Verordening (EU) 2023/1542 art. 59(3) en "
        "60(3) (circularity/targets.csv)",
    },
    "monitor_no_published": {
        "en": "The published Stibat and EPAC rates are not shown: they are read from the shared data folder "
        "(../shared/data, or BATTERYLOOP_SHARED_DATA), which this server does not have. The chart shows the "
        "register's rates and the targets only.",
        "nl": "De gepubliceerde percentages van Stibat en EPAC staan er niet bij: ze worden gelezen uit de gedeelde "
        "datamap (../shared/data, of BATTERYLOOP_SHARED_DATA), die deze server niet heeft. De grafiek toont alleen "
        "de percentages uit het register en de doelen.",
    },
    "monitor_no_published_arn": {
        "en": "ARN's published tonnages are not shown: they are read from the shared data folder, which this server "
        "does not have.",
        "nl": "De gepubliceerde tonnages van ARN staan er niet bij: ze worden gelezen uit de gedeelde datamap, die "
        "deze server niet heeft.",
    },
    "monitor_src_flows_registry": {
        "en": "batteryloop passport registry: passport links (Art. 77(7)), battery_status changes (Art. 77(6)) and "
        "closed passports",
        "nl": "paspoortregister van batteryloop: koppelingen tussen paspoorten (art. 77(7)), wijzigingen van "
        "battery_status (art. 77(6)) en gesloten paspoorten",
    },
    "monitor_src_model": {
        "en": "batteryloop national material-flow model, scenario current_policy (circularity/scenarios/"
        "current_policy.toml; inflow, lifetimes and collection in circularity/mfa_*.csv, each row cited)",
        "nl": "nationaal materiaalstroommodel van batteryloop, scenario current_policy (circularity/scenarios/"
        "current_policy.toml; instroom, levensduur en inzameling in circularity/mfa_*.csv, elke regel met bron)",
    },
    "monitor_src_arn": {
        "en": "ARN (Auto Recycling Nederland), duurzaamheidsverslag 2022, key data autobatterijen",
        "nl": "ARN (Auto Recycling Nederland), duurzaamheidsverslag 2022, kerncijfers autobatterijen",
    },
    "monitor_src_passports": {
        "en": "batteryloop passport registry (Regulation (EU) 2023/1542 Art. 77-78)",
        "nl": "paspoortregister van batteryloop (Verordening (EU) 2023/1542 art. 77-78)",
    },
    "monitor_src_soh": {
        "en": "batteryloop passport registry, soh_capacity_pct of the active passports (Annex XIII 4(b); Annex VII "
        "Part A(1)), aggregated on the server",
        "nl": "paspoortregister van batteryloop, soh_capacity_pct van de actieve paspoorten (bijlage XIII 4(b); "
        "bijlage VII deel A(1)), op de server samengevat",
    },
    "monitor_src_flex": {
        "en": "batteryloop passport registry: rated_energy_kWh and maximum_permitted_power_W (Annex XIII 1(g)-(i), "
        "public), soh_capacity_pct (4(b)) and status (4(c)) aggregated on the server; rules in "
        "web/monitor_flexibility.csv",
        "nl": "paspoortregister van batteryloop: rated_energy_kWh en maximum_permitted_power_W (bijlage XIII "
        "1(g)-(i), openbaar), soh_capacity_pct (4(b)) en status (4(c)) op de server samengevat; regels in "
        "web/monitor_flexibility.csv",
    },
    "monitor_src_incidents": {
        "en": "batteryloop incident register (safety), current versions; the register's public threshold "
        "(safety/disclosure_rules.csv) applied",
        "nl": "incidentenregister van batteryloop (veiligheid), geldende versies; met de openbaarheidsdrempel van "
        "het register (safety/disclosure_rules.csv)",
    },
    "monitor_src_dd": {
        "en": "batteryloop passport registry: due_diligence_report and third_party_assurance (Regulation (EU) "
        "2023/1542 Annex XIII 1(d), Art. 51 and 52)",
        "nl": "paspoortregister van batteryloop: due_diligence_report en third_party_assurance (Verordening (EU) "
        "2023/1542 bijlage XIII 1(d), art. 51 en 52)",
    },
    # series and axes
    "monitor_year": {"en": "year", "nl": "jaar"},
    "monitor_rate_pct": {"en": "collection rate [%]", "nl": "inzamelpercentage [%]"},
    "monitor_published": {"en": "published", "nl": "gepubliceerd"},
    "monitor_register": {"en": "register", "nl": "register"},
    "monitor_target": {"en": "target", "nl": "doel"},
    "monitor_stream_portable": {"en": "portable", "nl": "draagbaar"},
    "monitor_stream_lmt": {"en": "e-bike / LMT", "nl": "fietsaccu / LMT"},
    "monitor_batteries": {"en": "batteries", "nl": "batterijen"},
    "monitor_passports": {"en": "passports", "nl": "paspoorten"},
    "monitor_tonnes": {"en": "tonnes", "nl": "ton"},
    "monitor_incidents": {"en": "incidents", "nl": "incidenten"},
    "monitor_share_pct": {"en": "share of models [%]", "nl": "aandeel modellen [%]"},
    "monitor_soh_band": {"en": "state of health [%]", "nl": "gezondheidstoestand [%]"},
    "monitor_energy_MWh": {"en": "usable energy [MWh]", "nl": "bruikbare energie [MWh]"},
    "monitor_power_MW": {"en": "power [MW]", "nl": "vermogen [MW]"},
    "monitor_suppressed": {"en": "suppressed (<{n})", "nl": "onderdrukt (<{n})"},
    "monitor_route_repurposed": {"en": "repurposed", "nl": "herbestemd"},
    "monitor_route_re-used": {"en": "re-used", "nl": "hergebruikt"},
    "monitor_route_remanufactured": {"en": "remanufactured", "nl": "gereviseerd"},
    "monitor_route_waste": {"en": "declared waste", "nl": "afgedankt"},
    "monitor_route_recycled": {"en": "recycled", "nl": "gerecycled"},
    "monitor_status_original": {"en": "original", "nl": "origineel"},
    "monitor_model_repurposed": {"en": "to second use (model)", "nl": "naar hergebruik (model)"},
    "monitor_model_collected": {"en": "collected for recycling (model)", "nl": "ingezameld voor recycling (model)"},
    "monitor_model_not_collected": {"en": "not collected (model)", "nl": "niet ingezameld (model)"},
    "monitor_arn_second_use": {"en": "to second use (ARN)", "nl": "naar hergebruik (ARN)"},
    "monitor_arn_recycling": {"en": "to recycling (ARN)", "nl": "naar recycling (ARN)"},
    "monitor_kind_stationary": {"en": "stationary storage", "nl": "stationaire opslag"},
    "monitor_kind_v2g": {"en": "EV with vehicle-to-grid", "nl": "auto met terugleveren (V2G)"},
    "monitor_state_active": {"en": "active", "nl": "actief"},
    "monitor_state_superseded": {"en": "superseded", "nl": "vervangen"},
    "monitor_state_closed": {"en": "closed (recycled)", "nl": "gesloten (gerecycled)"},
    "monitor_dd_report": {"en": "due-diligence report", "nl": "rapport zorgvuldigheidseisen"},
    "monitor_dd_assurance": {"en": "third-party verification", "nl": "verificatie door derden"},
    "monitor_second_life_window": {"en": "second-life window", "nl": "venster tweede leven"},
    "monitor_cat_ev": {"en": "EV", "nl": "auto (EV)"},
    "monitor_cat_lmt": {"en": "LMT (e-bike)", "nl": "LMT (fiets)"},
    "monitor_cat_industrial": {"en": "industrial", "nl": "industrieel"},
    "monitor_cat_sli": {"en": "SLI", "nl": "startaccu (SLI)"},
    "monitor_cat_portable": {"en": "portable", "nl": "draagbaar"},
    "monitor_loc_home": {"en": "home", "nl": "woning"},
    "monitor_loc_storage": {"en": "storage", "nl": "opslag"},
    "monitor_loc_transport": {"en": "transport", "nl": "vervoer"},
    "monitor_loc_waste_facility": {"en": "waste facility", "nl": "afvalbedrijf"},
    "monitor_loc_charging": {"en": "charging", "nl": "tijdens laden"},
    "monitor_loc_vehicle": {"en": "vehicle", "nl": "voertuig"},
    "monitor_loc_other": {"en": "other", "nl": "overig"},
    # cards
    "monitor_card_dd": {
        "en": "of {models} battery models carry a due-diligence report",
        "nl": "van {models} batterijmodellen hebben een rapport over zorgvuldigheidseisen",
    },
    "monitor_card_collection": {
        "en": "portable batteries collected in {year} (target {target})",
        "nl": "draagbare batterijen ingezameld in {year} (doel {target})",
    },
    "monitor_card_collection_register": {
        "en": "portable batteries collected in {year}, from the register (target {target})",
        "nl": "draagbare batterijen ingezameld in {year}, volgens het register (doel {target})",
    },
    "monitor_card_incidents": {
        "en": "battery incidents in the register, {year}",
        "nl": "batterij-incidenten in het register, {year}",
    },
    "monitor_card_soh": {
        "en": "batteries in use with a recorded state of health",
        "nl": "batterijen in gebruik met een vastgelegde gezondheidstoestand",
    },
    "monitor_card_flex": {
        "en": "usable energy of stationary and V2G batteries",
        "nl": "bruikbare energie van stationaire en V2G-batterijen",
    },
    "monitor_hidden_cells": {
        "en": "{k} counts below {n} are not shown",
        "nl": "{k} aantallen onder de {n} worden niet getoond",
    },
    "monitor_at_least": {"en": "at least {value}", "nl": "minstens {value}"},
    "monitor_fewer_than": {"en": "fewer than {n}", "nl": "minder dan {n}"},
    "monitor_none": {"en": "none", "nl": "geen"},
    "monitor_open_theme": {"en": "Open theme {n}", "nl": "Open thema {n}"},
    # actions
    "monitor_actions_intro": {
        "en": "The fourteen actions of the strategy with the responsible ministries, what this platform shows for "
        "each, and what is known of its status.",
        "nl": "De veertien acties van de strategie met de verantwoordelijke ministeries, wat dit platform per actie "
        "laat zien, en wat er bekend is over de stand van zaken.",
    },
    "monitor_action": {"en": "Action", "nl": "Actie"},
    "monitor_who": {"en": "Who", "nl": "Wie"},
    "monitor_shows": {"en": "What the platform shows", "nl": "Wat het platform laat zien"},
    "monitor_status": {"en": "Status", "nl": "Stand van zaken"},
    "monitor_status_done": {"en": "done", "nl": "gerealiseerd"},
    "monitor_status_partly": {"en": "partly done", "nl": "deels gerealiseerd"},
    "monitor_status_unknown": {"en": "no outcome recorded", "nl": "geen uitkomst bekend"},
    "monitor_status_source": {"en": "Source of the status", "nl": "Bron van de stand van zaken"},
    "monitor_link_circularity": {"en": "Circularity pages", "nl": "Circulariteitspagina's"},
    "monitor_link_health": {"en": "Battery health pages", "nl": "Pagina's batterijgezondheid"},
    "monitor_link_energy": {"en": "Energy services pages", "nl": "Pagina's energiediensten"},
    "monitor_link_market": {"en": "Second-life market", "nl": "Markt voor een tweede leven"},
    "monitor_link_docs": {"en": "API documentation", "nl": "API-documentatie"},
    "monitor_no_theme": {
        "en": "The monitor has no theme \u201c{slug}\u201d. Choose one below.",
        "nl": "De monitor heeft geen thema \u201c{slug}\u201d. Kies er hieronder een.",
    },
    "monitor_all_actions_csv": {"en": "Download the actions as CSV", "nl": "Download de acties als CSV"},
}
register(TEXTS)

FACTS = {
    "raw-materials": ("monitor_fact_raw_materials_1", "monitor_fact_raw_materials_2"),
    "collection": ("monitor_fact_collection_1", "monitor_fact_collection_2", "monitor_fact_collection_3"),
    "safety": ("monitor_fact_safety_1", "monitor_fact_safety_2"),
    "battery-data": ("monitor_fact_battery_data_1", "monitor_fact_battery_data_2"),
    "energy": ("monitor_fact_energy_1", "monitor_fact_energy_2"),
}


# ---------------------------------------------------------------------------------------------------------------------
# the actions (data)


@dataclass(frozen=True)
class Action:
    number: int
    theme: str
    who: str
    title: dict[str, str]
    shows: dict[str, str]
    links: tuple[str, ...]
    status: str
    status_text: dict[str, str]
    status_source: str


ACTION_STATUSES = ("done", "partly", "unknown")


@cache
def actions() -> tuple[Action, ...]:
    """The fourteen actions of ``monitor_actions.csv``; every bad row is named by line and field."""
    return parse_actions(ACTIONS_FILE.read_text(encoding="utf-8"), ACTIONS_FILE.name)


def parse_actions(text: str, source: str) -> tuple[Action, ...]:
    problems: list[Problem] = []
    out: list[Action] = []
    required = ("title_nl", "title_en", "shows_en", "shows_nl", "status_en", "status_nl", "who", "status_source")
    for line, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        where = f"{source}:{line}"
        raw = (row.get("number") or "").strip()
        if not raw.isdigit():
            problems.append(Problem(f"{where}:number", f"{raw!r}", "the action's number 1-14"))
            continue
        if row.get("theme") not in THEME_BY_SLUG:
            problems.append(Problem(f"{where}:theme", f"{row.get('theme')!r}", "one of " + ", ".join(THEME_BY_SLUG)))
        if row.get("status") not in ACTION_STATUSES:
            problems.append(Problem(f"{where}:status", f"{row.get('status')!r}", " or ".join(ACTION_STATUSES)))
        for key in required:
            if not (row.get(key) or "").strip():
                problems.append(Problem(f"{where}:{key}", "missing", f"the action's {key}"))
        links = tuple(p.strip() for p in (row.get("links") or "").split(";") if p.strip())
        for link in links:
            if not link.startswith("/"):
                problems.append(Problem(f"{where}:links", f"{link!r}", "paths on this site, separated by ;"))
        out.append(
            Action(
                number=int(raw),
                theme=row.get("theme") or "",
                who=row.get("who") or "",
                title={"nl": row.get("title_nl") or "", "en": row.get("title_en") or ""},
                shows={"nl": row.get("shows_nl") or "", "en": row.get("shows_en") or ""},
                links=links,
                status=row.get("status") or "",
                status_text={"nl": row.get("status_nl") or "", "en": row.get("status_en") or ""},
                status_source=row.get("status_source") or "",
            )
        )
    numbers = sorted(a.number for a in out)
    if not problems and numbers != list(range(1, 15)):
        problems.append(Problem(source, f"actions {numbers}", "the fourteen actions 1-14, each once"))
    collect(problems, f"{source}: bad action rows")
    return tuple(sorted(out, key=lambda a: a.number))


# ---------------------------------------------------------------------------------------------------------------------
# figures, cached per application

_lock = threading.Lock()


def monitor_data(request: Request) -> tuple[MonitorData, datetime]:
    """The monitor's figures, computed at most once per :data:`CACHE_SECONDS` per application."""
    state = request.app.state
    cached = getattr(state, "monitor_cache", None)
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1], cached[2]
    with _lock:
        cached = getattr(state, "monitor_cache", None)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1], cached[2]
        session = read_session(request)
        try:
            data = compute(session)
        finally:
            session.close()
        stamp = datetime.now(UTC)
        state.monitor_cache = (time.monotonic(), data, stamp)
        return data, stamp


# ---------------------------------------------------------------------------------------------------------------------
# formatting


def fmt(value: float, lang: str, digits: int = 1) -> str:
    """A number in the reader's language (thousands separated, ``,`` as the decimal mark in Dutch)."""
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\u00a0").replace(".", ",") if lang == "nl" else text


def _layout(lang: str, y_title: str, *, counts: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """A Plotly layout in the reader's language; ``counts``: the traces of a chart of whole numbers (batteries,
    incidents), whose y axis then has whole-number ticks only."""
    yaxis: dict[str, Any] = {"title": {"text": y_title}, "rangemode": "tozero", "automargin": True}
    if counts is not None:
        yaxis["tickformat"] = ",d"
        bars = [tr["y"] for tr in counts if tr.get("type") == "bar"]
        if extra.get("barmode") == "stack":
            tops = [sum(v or 0 for v in column) for column in zip(*bars, strict=True)] if bars else []
        else:
            tops = [v or 0 for ys in bars for v in ys]
        top = max(tops, default=0)
        if top <= 8:  # few: a tick at every whole number, and room above the highest bar
            yaxis.update(dtick=1, range=[0, max(top, 2) + 1])
    layout: dict[str, Any] = {
        "separators": ",." if lang == "nl" else ".,",
        "yaxis": yaxis,
        "xaxis": {"automargin": True},
        "legend": {"orientation": "h", "y": -0.25},
        "colorway": list(COLOURS),
        "hovermode": "closest",
    }
    layout.update(extra)
    return layout


def _label(t: dict[str, str], prefix: str, value: str) -> str:
    return t.get(f"{prefix}{value}", value.replace("_", " "))


def _cell(value: float | int | None, t: dict[str, str], n: int) -> Any:
    return t["monitor_suppressed"].format(n=n) if value is None else value


def _with_hidden(traces: list[dict[str, Any]], t: dict[str, str], n: int) -> list[dict[str, Any]]:
    """``traces`` and, where a bar's value is suppressed, a grey cross at the foot of its position (so a hidden
    count does not read as zero), naming the hidden series on hover."""
    hidden: dict[int, list[str]] = {}
    first_x: Any = None
    for trace in traces:
        if trace.get("type") != "bar":
            continue
        first_x = trace["x"]
        for i, value in enumerate(trace["y"]):
            if value is None:
                hidden.setdefault(i, []).append(str(trace["name"]))
    if not hidden or first_x is None:
        return traces
    index = sorted(hidden)
    multi = bool(first_x) and isinstance(first_x[0], list)
    x = [[level[i] for i in index] for level in first_x] if multi else [first_x[i] for i in index]
    label = t["monitor_suppressed"].format(n=n)
    marker = {
        "type": "scatter",
        "mode": "markers",
        "name": label,
        "x": x,
        "y": [0] * len(index),
        "marker": {"symbol": "x-thin", "size": 12, "line": {"width": 2, "color": "#4b5563"}, "color": "#4b5563"},
        "hovertext": [f"{label}: {', '.join(hidden[i])}" for i in index],
        "hoverinfo": "text",
        "cliponaxis": False,
    }
    return [*traces, marker]


# ---------------------------------------------------------------------------------------------------------------------
# charts


def _year_axis(data: MonitorData) -> dict[str, Any]:
    """Years every two, with half a year of room at both ends so the last target step shows."""
    years = [p.year for p in data.collection]
    axis: dict[str, Any] = {"dtick": 2, "automargin": True}
    if years:
        axis["range"] = [min(years) - 0.5, max(years) + 0.5]
    return axis


def collection_chart(data: MonitorData, t: dict[str, str], lang: str) -> Chart:
    series: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    rows: list[list[Any]] = []
    for p in sorted(data.collection, key=lambda p: (p.series, p.stream, p.year)):
        series[(p.series, p.stream)].append((p.year, p.rate_pct))
        rows.append([p.year, p.stream, p.series, round(p.rate_pct, 2), p.source])
    traces: list[dict[str, Any]] = []
    colour = {"portable": COLOURS[0], "lmt": COLOURS[1]}
    for (kind, stream), points in sorted(
        series.items(), key=lambda kv: ("published", "register", "target").index(kv[0][0])
    ):
        name = f"{t['monitor_stream_' + stream]} · {t['monitor_' + kind]}"
        trace: dict[str, Any] = {
            "type": "scatter",
            "name": name,
            "x": [y for y, _ in points],
            "y": [round(v, 2) for _, v in points],
            "line": {"color": colour[stream]},
            "hovertemplate": "%{x}: %{y:.1f} %<extra>" + name + "</extra>",
        }
        if kind == "target":
            trace.update(mode="lines", line={"color": colour[stream], "dash": "dash", "shape": "hv", "width": 2})
        elif kind == "register":
            trace.update(mode="markers", marker={"symbol": "diamond", "size": 10, "color": colour[stream]})
        else:
            trace.update(mode="lines+markers", marker={"size": 7})
        traces.append(trace)
    return Chart(
        id="collection-rates",
        title=t["monitor_chart_collection"],
        figure={"data": traces, "layout": _layout(lang, t["monitor_rate_pct"], xaxis=_year_axis(data))},
        columns=["year", "stream", "series", "collection_rate_pct", "source"],
        rows=rows,
        source=t["monitor_src_collection"],
        note="" if data.published_available else t["monitor_no_published"],
    )


def flows_registry_chart(data: MonitorData, t: dict[str, str], lang: str) -> Chart:
    n = data.thresholds["status_flows"].min_batteries
    keys = sorted({(y, c) for y, c, _ in data.flows}, key=lambda k: (k[1], k[0]))
    x = [[_label(t, "monitor_cat_", c) for _, c in keys], [str(y) for y, _ in keys]]
    traces = []
    for route in ROUTES:
        values = [data.flows.get((y, c, route)) for y, c in keys]
        traces.append(
            {
                "type": "bar",
                "name": t[f"monitor_route_{route}"],
                "x": x,
                "y": values,
                "hovertemplate": "%{y}<extra>" + t[f"monitor_route_{route}"] + "</extra>",
            }
        )
    rows = [[y, c, r, _cell(v, t, n)] for (y, c, r), v in sorted(data.flows.items())]
    return Chart(
        id="flows-registry",
        title=t["monitor_chart_flows_registry"],
        figure={
            "data": _with_hidden(traces, t, n),
            "layout": _layout(lang, t["monitor_batteries"], counts=traces, barmode="stack"),
        },
        columns=["year", "category", "route", "batteries"],
        rows=rows,
        source=t["monitor_src_flows_registry"],
        note=t["monitor_no_data"] if not rows else "",
    )


def flows_model_chart(data: MonitorData, t: dict[str, str], lang: str, category: str) -> Chart:
    flows = [f for f in data.model_flows if f.category == category]
    years = [f.year for f in flows]
    traces: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": t["monitor_model_repurposed"],
            "x": years,
            "y": [round(f.repurposed_t, 1) for f in flows],
        },
        {
            "type": "bar",
            "name": t["monitor_model_collected"],
            "x": years,
            "y": [round(f.collected_t, 1) for f in flows],
        },
        {
            "type": "bar",
            "name": t["monitor_model_not_collected"],
            "x": years,
            "y": [round(f.not_collected_t, 1) for f in flows],
            "marker": {"color": "#9ca3af"},
        },
    ]
    rows: list[list[Any]] = [
        [
            f.year,
            f.category,
            "model",
            round(f.repurposed_t, 3),
            round(f.collected_t, 3),
            round(f.not_collected_t, 3),
            "",
        ]
        for f in flows
    ]
    source = t["monitor_src_model"]
    if category == "EV":
        published = sorted(data.published_flows, key=lambda r: (r["metric"], r["year"]))
        for metric, key, colour in (
            ("to_second_use", "monitor_arn_second_use", COLOURS[0]),
            ("to_recycling", "monitor_arn_recycling", COLOURS[1]),
        ):
            pts = [r for r in published if r["metric"] == metric]
            traces.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": t[key],
                    "x": [r["year"] for r in pts],
                    "y": [r["t"] for r in pts],
                    "marker": {"size": 11, "symbol": "diamond", "color": colour, "line": {"width": 1, "color": "#111"}},
                }
            )
            for r in pts:
                second = r["t"] if metric == "to_second_use" else ""
                recycling = r["t"] if metric == "to_recycling" else ""
                rows.append([r["year"], "EV", "ARN", second, recycling, "", r["source"]])
        source += "; " + t["monitor_src_arn"]
    note = "" if data.published_available or category != "EV" else t["monitor_no_published_arn"]
    return Chart(
        id="flows-model" if category == "EV" else "flows-model-lmt",
        title=t["monitor_chart_flows_model" if category == "EV" else "monitor_chart_flows_model_lmt"],
        figure={"data": traces, "layout": _layout(lang, t["monitor_tonnes"], barmode="stack")},
        columns=["year", "category", "series", "to_second_use_t", "to_recycling_t", "not_collected_t", "source"],
        rows=rows,
        source=source,
        note=note,
    )


def passports_chart(data: MonitorData, t: dict[str, str], lang: str) -> Chart:
    categories = sorted({c for c, _ in data.passports})
    traces = []
    for state in ("active", "superseded", "closed"):
        traces.append(
            {
                "type": "bar",
                "name": t[f"monitor_state_{state}"],
                "x": [_label(t, "monitor_cat_", c) for c in categories],
                "y": [data.passports.get((c, state), 0) for c in categories],
            }
        )
    rows = [[c, s, n] for (c, s), n in sorted(data.passports.items())]
    return Chart(
        id="passports",
        title=t["monitor_chart_passports"],
        figure={"data": traces, "layout": _layout(lang, t["monitor_passports"], counts=traces, barmode="stack")},
        columns=["category", "state", "passports"],
        rows=rows,
        source=t["monitor_src_passports"],
        note=t["monitor_no_data"] if not rows else "",
        height_px=300,
    )


def soh_chart(data: MonitorData, t: dict[str, str], lang: str) -> Chart:
    n = data.thresholds["soh_distribution"].min_batteries
    bands = soh_bands()
    categories = [c for c, total in sorted(data.soh_measured.items()) if total is not None]
    traces = [
        {
            "type": "bar",
            "name": _label(t, "monitor_cat_", c),
            "x": bands,
            "y": [data.soh.get((c, b)) for b in bands],
        }
        for c in categories
    ]
    low, high = SECOND_LIFE_WINDOW_PCT
    first = bands.index(f"{low:g}-{low + 5:g}")
    last = bands.index(f"{high - 5:g}-{high:g}")
    shapes = [
        {
            "type": "rect",
            "xref": "x",
            "yref": "paper",
            "x0": first - 0.5,
            "x1": last + 0.5,
            "y0": 0,
            "y1": 1,
            "fillcolor": "#fde68a",
            "opacity": 0.35,
            "line": {"width": 0},
            "layer": "below",
        }
    ]
    annotations = [
        {
            "xref": "x",
            "yref": "paper",
            "x": (first + last) / 2,
            "y": 1.02,
            "text": t["monitor_second_life_window"],
            "showarrow": False,
            "font": {"size": 11},
        }
    ]
    rows = [[c, b, _cell(data.soh.get((c, b)), t, n)] for c in sorted(data.soh_measured) for b in bands]
    return Chart(
        id="soh-distribution",
        title=t["monitor_chart_soh"],
        figure={
            "data": _with_hidden(traces, t, n),
            "layout": _layout(
                lang,
                t["monitor_batteries"],
                counts=traces,
                barmode="group",
                shapes=shapes,
                annotations=annotations,
                xaxis={"title": {"text": t["monitor_soh_band"]}, "type": "category", "automargin": True},
            ),
        },
        columns=["category", "soh_band_pct", "batteries"],
        rows=rows,
        source=t["monitor_src_soh"],
        note=t["monitor_no_data"] if not categories else "",
    )


def flex_charts(data: MonitorData, t: dict[str, str], lang: str) -> list[Chart]:
    n = data.thresholds["flexible_capacity"].min_batteries
    statuses = list(ACTIVE_STATUSES)
    x = [_label(t, "monitor_status_", s) if s == "original" else t[f"monitor_route_{s}"] for s in statuses]
    rows = []
    for kind in FLEX_KINDS:
        for status in statuses:
            cell = data.flex.get((kind, status), {})
            energy, power = cell.get("usable_energy_kWh"), cell.get("power_kW")
            rows.append(
                [
                    kind,
                    status,
                    _cell(cell.get("batteries"), t, n),
                    _cell(None if energy is None else round(float(energy), 1), t, n),
                    _cell(None if power is None else round(float(power), 1), t, n),
                ]
            )
    charts = []
    for chart_id, key, title, axis in (
        ("flex-energy", "usable_energy_kWh", "monitor_chart_flex_energy", "monitor_energy_MWh"),
        ("flex-power", "power_kW", "monitor_chart_flex_power", "monitor_power_MW"),
    ):
        traces = []
        for kind in FLEX_KINDS:
            values = []
            for status in statuses:
                v = data.flex.get((kind, status), {}).get(key)
                values.append(None if v is None else round(float(v) / 1000.0, 3))
            traces.append({"type": "bar", "name": t[f"monitor_kind_{kind}"], "x": x, "y": values})
        charts.append(
            Chart(
                id=chart_id,
                title=t[title],
                figure={"data": _with_hidden(traces, t, n), "layout": _layout(lang, t[axis], barmode="stack")},
                columns=["kind", "status", "batteries", "usable_energy_kWh", "power_kW"],
                rows=rows,
                source=t["monitor_src_flex"],
                height_px=320,
            )
        )
    return charts


def incident_charts(data: MonitorData, t: dict[str, str], lang: str) -> list[Chart]:
    """Incidents per year by category and by location type (suppressed sums left out of the bars)."""
    tables = data.incidents
    years = list(tables.years)
    charts = []
    for chart_id, table, prefix, title, column in (
        ("incidents-category", tables.by_category, "monitor_cat_", "monitor_chart_incidents_category", "category"),
        ("incidents-location", tables.by_location, "monitor_loc_", "monitor_chart_incidents_location", "location_type"),
    ):
        groups = sorted({g for _, g in table})
        traces = [
            {
                "type": "bar",
                "name": _label(t, prefix, g.lower() if column == "category" else g),
                "x": years,
                "y": [table.get((y, g), 0) for y in years],
            }
            for g in groups
        ]
        rows = [[y, g, _cell(n, t, tables.minimum)] for (y, g), n in sorted(table.items())]
        hidden = sum(1 for n in table.values() if n is None)
        charts.append(
            Chart(
                id=chart_id,
                title=t[title],
                figure={
                    "data": _with_hidden(traces, t, tables.minimum),
                    "layout": _layout(
                        lang, t["monitor_incidents"], counts=traces, barmode="stack", xaxis={"type": "category"}
                    ),
                },
                columns=["year", column, "incidents"],
                rows=rows,
                source=t["monitor_src_incidents"],
                note=(t["monitor_no_data"] if not years else "")
                + (t["monitor_hidden_cells"].format(k=hidden, n=tables.minimum) if hidden else ""),
                height_px=320,
            )
        )
    return charts


def dd_chart(data: MonitorData, t: dict[str, str], lang: str) -> Chart:
    categories = sorted(data.due_diligence)
    x = [_label(t, "monitor_cat_", c) for c in categories]
    traces = []
    for key, text in (("with_report", "monitor_dd_report"), ("with_assurance", "monitor_dd_assurance")):
        traces.append(
            {
                "type": "bar",
                "name": t[text],
                "x": x,
                "y": [
                    round(share_pct(data.due_diligence[c][key], data.due_diligence[c]["models"]), 1) for c in categories
                ],
                "hovertemplate": "%{y:.1f} %<extra>" + t[text] + "</extra>",
            }
        )
    rows = [
        [
            c,
            d["models"],
            d["with_report"],
            d["with_assurance"],
            round(share_pct(d["with_report"], d["models"]), 1),
            round(share_pct(d["with_assurance"], d["models"]), 1),
        ]
        for c, d in sorted(data.due_diligence.items())
    ]
    return Chart(
        id="dd-coverage",
        title=t["monitor_chart_dd"],
        figure={
            "data": traces,
            "layout": _layout(
                lang,
                t["monitor_share_pct"],
                barmode="group",
                yaxis={"range": [0, 100], "title": {"text": t["monitor_share_pct"]}},
            ),
        },
        columns=["category", "models", "with_report", "with_assurance", "report_share_pct", "assurance_share_pct"],
        rows=rows,
        source=t["monitor_src_dd"],
        note=t["monitor_no_data"] if not rows else "",
        height_px=300,
    )


@dataclass
class Block:
    chart: Chart
    how: str


def theme_blocks(slug: str, data: MonitorData, t: dict[str, str], lang: str) -> list[Block]:
    n_flows = data.thresholds["status_flows"].min_batteries
    if slug == "raw-materials":
        return [Block(dd_chart(data, t, lang), t["monitor_how_dd"])]
    if slug == "collection":
        return [
            Block(collection_chart(data, t, lang), t["monitor_how_collection"]),
            Block(flows_registry_chart(data, t, lang), t["monitor_how_flows_registry"].format(n=n_flows)),
            Block(flows_model_chart(data, t, lang, "EV"), t["monitor_how_flows_model"]),
            Block(flows_model_chart(data, t, lang, "LMT"), t["monitor_how_flows_model_lmt"]),
        ]
    if slug == "safety":
        return [Block(c, t["monitor_how_incidents"]) for c in incident_charts(data, t, lang)]
    if slug == "battery-data":
        n = data.thresholds["soh_distribution"].min_batteries
        return [
            Block(soh_chart(data, t, lang), t["monitor_how_soh"].format(n=n)),
            Block(passports_chart(data, t, lang), t["monitor_how_passports"]),
        ]
    n = data.thresholds["flexible_capacity"].min_batteries
    energy, power = flex_charts(data, t, lang)
    return [Block(energy, t["monitor_how_flex"].format(n=n)), Block(power, t["monitor_how_flex_power"].format(n=n))]


# ---------------------------------------------------------------------------------------------------------------------
# headline figures


@dataclass
class Card:
    theme: Theme
    value: str
    label: str


def cards(data: MonitorData, t: dict[str, str], lang: str) -> list[Card]:
    out = []
    models = sum(d["models"] for d in data.due_diligence.values())
    with_report = sum(d["with_report"] for d in data.due_diligence.values())
    value = f"{fmt(share_pct(with_report, models), lang, 0)} %" if models else "–"
    out.append(Card(THEME_BY_SLUG["raw-materials"], value, t["monitor_card_dd"].format(models=models)))

    # the latest published rate; without the shared data (no published series), the latest from the register
    published = [p for p in data.collection if p.series == "published" and p.stream == "portable"]
    if not published:
        published = [p for p in data.collection if p.series == "register" and p.stream == "portable"]
    if published:
        last = max(published, key=lambda p: p.year)
        target = next(
            (
                p.rate_pct
                for p in data.collection
                if p.series == "target" and p.stream == "portable" and p.year == last.year
            ),
            math.nan,
        )
        target_text = f"{fmt(target, lang, 0)} %" if math.isfinite(target) else t["monitor_none"]
        out.append(
            Card(
                THEME_BY_SLUG["collection"],
                f"{fmt(last.rate_pct, lang, 1)} %",
                t[
                    "monitor_card_collection" if last.series == "published" else "monitor_card_collection_register"
                ].format(year=last.year, target=target_text),
            )
        )
    else:
        out.append(Card(THEME_BY_SLUG["collection"], "–", t["monitor_no_data"]))

    tables = data.incidents
    if not tables.years:
        out.append(Card(THEME_BY_SLUG["safety"], "0", t["monitor_no_data"]))
    else:
        span = tables.years[0] if len(tables.years) == 1 else f"{tables.years[0]}–{tables.years[-1]}"
        fewer = t["monitor_fewer_than"].format(n=tables.minimum)
        value = fmt(tables.total, lang, 0) if tables.total is not None else fewer
        out.append(Card(THEME_BY_SLUG["safety"], value, t["monitor_card_incidents"].format(year=span)))

    n = data.thresholds["soh_distribution"].min_batteries
    measured = [v for v in data.soh_measured.values() if v is not None]
    hidden = any(v is None for v in data.soh_measured.values())
    if measured:
        total = fmt(sum(measured), lang, 0)
        value = t["monitor_at_least"].format(value=total) if hidden else total
    else:
        value = t["monitor_fewer_than"].format(n=n) if hidden else "0"
    out.append(Card(THEME_BY_SLUG["battery-data"], value, t["monitor_card_soh"]))

    energies = [c.get("usable_energy_kWh") for c in data.flex.values()]
    shown = sum(float(e) for e in energies if e is not None)
    text = f"{fmt(shown / 1000.0, lang, 1)} MWh"
    if any(e is None for e in energies):
        text = t["monitor_at_least"].format(value=text)
    out.append(Card(THEME_BY_SLUG["energy"], text, t["monitor_card_flex"]))
    return out


# ---------------------------------------------------------------------------------------------------------------------
# routes


def _common(data: MonitorData, stamp: datetime) -> dict[str, Any]:
    local = stamp.astimezone(AMSTERDAM)
    return {
        "themes": THEMES,
        "themes_by_slug": THEME_BY_SLUG,
        "min_batteries": min(r.min_batteries for r in data.thresholds.values()),
        "thresholds": list(data.thresholds.values()),
        "computed_at": local.strftime("%Y-%m-%d %H:%M"),
    }


def _texts(request: Request) -> tuple[str, dict[str, str]]:
    lang = choose_language(request)
    return lang, translator(lang)


@router.get("/monitor", response_class=HTMLResponse)
def overview(request: Request) -> Response:
    """The monitor's overview: a headline figure per theme and the collection rates against the targets."""
    data, stamp = monitor_data(request)
    lang, t = _texts(request)
    charts = [collection_chart(data, t, lang)]
    if (r := csv_response(request, charts)) is not None:
        return r
    context = {
        **_common(data, stamp),
        "cards": cards(data, t, lang),
        "charts": charts,
        "section": "overview",
    }
    return render(request, "monitor_overview.html", context)


@router.get("/monitor/actions", response_class=HTMLResponse)
def actions_page(request: Request) -> Response:
    """The fourteen actions of the strategy, what the platform shows for each, and their status."""
    data, stamp = monitor_data(request)
    _lang, t = _texts(request)
    if request.query_params.get("csv") == "actions":
        return _actions_csv()
    if request.query_params.get("csv"):
        return Response(f"no table {request.query_params['csv']!r} on this page", status_code=404)
    context = {
        **_common(data, stamp),
        "actions": actions(),
        "link_label": lambda path: _link_label(path, t),
        "section": "actions",
    }
    return render(request, "monitor_actions.html", context)


def _actions_csv() -> Response:
    return Response(
        ACTIONS_FILE.read_text(encoding="utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="monitor_actions.csv"'},
    )


LINK_TEXTS = {
    "/circularity": "monitor_link_circularity",
    "/health": "monitor_link_health",
    "/energy": "monitor_link_energy",
    "/market": "monitor_link_market",
    "/docs": "monitor_link_docs",
}
CHART_TITLES = {
    "collection-rates": "monitor_chart_collection",
    "flows-registry": "monitor_chart_flows_registry",
    "flows-model": "monitor_chart_flows_model",
    "flows-model-lmt": "monitor_chart_flows_model_lmt",
    "passports": "monitor_chart_passports",
    "soh-distribution": "monitor_chart_soh",
    "flex-energy": "monitor_chart_flex_energy",
    "flex-power": "monitor_chart_flex_power",
    "incidents-category": "monitor_chart_incidents_category",
    "incidents-location": "monitor_chart_incidents_location",
    "dd-coverage": "monitor_chart_dd",
}


def _link_label(path: str, t: dict[str, str]) -> str:
    """The words of a link of an action: the chart's title, the theme's title or the page's name."""
    page, _, anchor = path.partition("#")
    if anchor.startswith("chart-") and anchor[6:] in CHART_TITLES:
        return t[CHART_TITLES[anchor[6:]]]
    if page.startswith("/monitor/") and page[9:] in THEME_BY_SLUG:
        return t[THEME_BY_SLUG[page[9:]].title]
    return t.get(LINK_TEXTS.get(page, ""), path)


@router.get("/monitor/{slug}", response_class=HTMLResponse)
def theme_page(request: Request, slug: str) -> Response:
    """One theme of the strategy with its indicators."""
    theme = THEME_BY_SLUG.get(slug)
    data, stamp = monitor_data(request)
    lang, t = _texts(request)
    if theme is None:
        context = {**_common(data, stamp), "slug": slug, "section": ""}
        return render(request, "monitor_missing.html", context, 404)
    blocks = theme_blocks(slug, data, t, lang)
    if (r := csv_response(request, [b.chart for b in blocks])) is not None:
        return r
    key = slug.replace("-", "_")
    context = {
        **_common(data, stamp),
        "theme": theme,
        "aim": t[f"monitor_aim_{key}"],
        "facts": [t[k] for k in FACTS[slug]],
        "blocks": blocks,
        "theme_actions": [a for a in actions() if a.theme == slug],
        "section": slug,
    }
    return render(request, "monitor_theme.html", context)
