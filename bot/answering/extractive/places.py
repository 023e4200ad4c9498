"""Countries by their names, adjectives and capitals, so "Phnom Penh" can stand for Cambodia.

News writing names a country by its capital ("Beijing said …") or its adjective ("the Thai
prime minister"). The extractive answerer uses this table to match such mentions to each other
and to tell "the prime minister of Cambodia" from "the Thai prime minister".
"""

from __future__ import annotations

import re
from functools import lru_cache

from retrieval.text.terms import words

_TOKEN = re.compile(r"[A-Za-z0-9]+")

# country | other names and adjectives (comma-separated) | capital
_TABLE = """
afghanistan | afghan | kabul
albania | albanian | tirana
algeria | algerian | algiers
argentina | argentine, argentinian | buenos aires
armenia | armenian | yerevan
australia | australian | canberra
austria | austrian | vienna
azerbaijan | azerbaijani | baku
bangladesh | bangladeshi | dhaka
belarus | belarusian | minsk
belgium | belgian | brussels
bolivia | bolivian | la paz
brazil | brazilian | brasilia
brunei | bruneian | bandar seri begawan
bulgaria | bulgarian | sofia
cambodia | cambodian, khmer | phnom penh
canada | canadian | ottawa
chile | chilean | santiago
china | chinese, sino, prc | beijing
colombia | colombian | bogota
croatia | croatian | zagreb
cuba | cuban | havana
czech republic | czech, czechia | prague
denmark | danish | copenhagen
egypt | egyptian | cairo
estonia | estonian | tallinn
ethiopia | ethiopian | addis ababa
finland | finnish | helsinki
france | french | paris
germany | german | berlin
greece | greek | athens
hungary | hungarian | budapest
india | indian | new delhi
indonesia | indonesian | jakarta
iran | iranian | tehran
iraq | iraqi | baghdad
ireland | irish | dublin
israel | israeli | jerusalem
italy | italian | rome
japan | japanese | tokyo
kazakhstan | kazakh | astana
kenya | kenyan | nairobi
laos | lao, laotian | vientiane
latvia | latvian | riga
lebanon | lebanese | beirut
lithuania | lithuanian | vilnius
malaysia | malaysian | kuala lumpur
mexico | mexican | mexico city
mongolia | mongolian | ulaanbaatar
morocco | moroccan | rabat
myanmar | burma, burmese | naypyidaw
nepal | nepalese, nepali | kathmandu
netherlands | dutch, holland | amsterdam
new zealand | new zealander | wellington
nigeria | nigerian | abuja
north korea | north korean, dprk | pyongyang
norway | norwegian | oslo
pakistan | pakistani | islamabad
peru | peruvian | lima
philippines | philippine, filipino | manila
poland | polish | warsaw
portugal | portuguese | lisbon
qatar | qatari | doha
romania | romanian | bucharest
russia | russian | moscow
saudi arabia | saudi | riyadh
serbia | serbian | belgrade
singapore | singaporean | singapore
south africa | south african | pretoria
south korea | south korean, korean, rok | seoul
spain | spanish, spaniard | madrid
sri lanka | sri lankan | colombo
sweden | swedish | stockholm
switzerland | swiss | bern
syria | syrian | damascus
taiwan | taiwanese | taipei
thailand | thai | bangkok
timor-leste | east timor, timorese | dili
turkey | turkish, turkiye | ankara
ukraine | ukrainian | kyiv, kiev
united arab emirates | uae, emirati | abu dhabi
united kingdom | uk, britain, great britain, british | london
united states | us, usa, america, american | washington
venezuela | venezuelan | caracas
vietnam | vietnamese, viet nam | hanoi
"""


@lru_cache(maxsize=1)
def _names() -> dict[tuple[str, ...], str]:
    """Every name of a country, as a tuple of lower-case words, to the country."""
    table: dict[tuple[str, ...], str] = {}
    for line in _TABLE.strip().splitlines():
        country, others, capitals = (part.strip() for part in line.split("|"))
        for name in [country, *others.split(","), *capitals.split(",")]:
            table[tuple(words(name))] = country
    return table


def names_of(country: str) -> list[str]:
    """Every name, adjective and capital of a country ("cambodia": "cambodian", "phnom penh" …)."""
    return [" ".join(name) for name, c in _names().items() if c == country]


@lru_cache(maxsize=1)
def _longest_name() -> int:
    return max(len(name) for name in _names())


def tokens(text: str) -> list[str]:
    """Word tokens with their case kept ("U.S." gives "U", "S"); what place_mentions reads."""
    return _TOKEN.findall(text)


def place_mentions(cased: list[str]) -> list[tuple[int, int, str]]:
    """(first token, end token, country) for each country named in the tokens.

    The longest name wins where names overlap ("south korea" over "korea"). "US" and "U.S."
    count only in capitals, so the pronoun "us" is not the United States.
    """
    names = _names()
    lowered = [t.lower() for t in cased]
    out: list[tuple[int, int, str]] = []
    i = 0
    while i < len(lowered):
        for length in range(min(_longest_name(), len(lowered) - i), 0, -1):
            country = names.get(tuple(lowered[i : i + length]))
            if lowered[i] == "us" and length == 1 and cased[i] != "US":
                country = None
            if country is None and cased[i : i + 2] == ["U", "S"]:
                country, length = "united states", 2
            if country is not None:
                out.append((i, i + length, country))
                i += length
                break
        else:
            i += 1
    return out


def places(text: str) -> set[str]:
    """The countries a text names, by any of their names."""
    return {country for _, _, country in place_mentions(tokens(text))}
