"""Whether a sentence can answer a question at all: the kind of value asked for, who said it,
and whose office it is. The extractive answerer drops sentences that fail these checks."""

from __future__ import annotations

import re

from bot.answering.extractive.places import place_mentions, tokens
from retrieval.text.sentences import abbreviation_before
from retrieval.text.terms import content_terms, words

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*%?")
_NUMBER_WORDS = re.compile(
    r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?"
    r"|thousands?|millions?|billions?)\b",
    re.IGNORECASE,
)
_TIME_TEXT = """
january february march april may june july august september october november december
jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday
saturday sunday year years month week day today yesterday century decade
"""
_TIME_WORDS = frozenset(_TIME_TEXT.split())
# A run of capitalised words that does not open a sentence: a name ("Van Giang", "Kuala Lumpur").
_CAPITALIZED = re.compile(r"\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)")


def expected_answer_type(question: str) -> str | None:
    """'number', 'time', 'name' or None, from the question's wording."""
    lowered = question.lower()
    if re.search(
        r"\bhow (many|much|long|far|old|often)\b|\bwhat (percentage|share|number|proportion)\b"
        r"|\b(value|cost|price|amount|worth|size|budget|rate)\b of\b",
        lowered,
    ):
        return "number"
    if re.search(r"\bwhen\b|\b(what|which) (day|date|dates|year|month)\b", lowered):
        return "time"
    if re.search(r"^\s*(who|whom|whose)\b|\bwho (is|was|are|were)\b|\bname of\b", lowered):
        return "name"
    return None


def names(text: str) -> list[str]:
    """Capitalised word runs that are names, not just a sentence's first word.

    A capital after a sentence end is a sentence opener, but one after an abbreviation
    ("Gen. Van Giang", "Adm. Dong Jun") is a name.
    """
    out = []
    for match in _CAPITALIZED.finditer(text):
        before = text[: match.start()].rstrip()
        opens_sentence = not before or (before[-1] in ".?!\"'”" and not abbreviation_before(before))
        if not opens_sentence:
            out.append(match.group(1))
    return out


def typed_values(text: str, answer_type: str | None) -> set[str]:
    """The values of the expected type a text mentions (numbers, dates or names), lower-cased."""
    match answer_type:
        case "number":
            return {m.lower() for m in _NUMBER.findall(text)} | {
                m.lower() for m in _NUMBER_WORDS.findall(text)
            }
        case "time":
            return {m.lower() for m in _NUMBER.findall(text)} | {
                w for w in words(text) if w in _TIME_WORDS
            }
        case "name":
            return {name.lower() for name in names(text)}
    return set()


_COUNTED = re.compile(
    r"\bhow many\s+(?:of\s+the\s+)?(.+?)\s+(?:did|does|do|will|were|was|are|is|have|has|had|can"
    r"|could|would|should|must|may|might)\b",
    re.IGNORECASE,
)
_COUNT_WINDOW = 8  # words between a number and the thing it counts ("three out of 12 planned …")


def counted_thing(question: str) -> str | None:
    """The stemmed head noun a "how many X …" question counts ("soldier"), if any."""
    match = _COUNTED.search(question)
    terms = content_terms(match.group(1)) if match else []
    return terms[-1] if terms else None


def matches(term: str, terms: set[str]) -> bool:
    """The term is among `terms`, allowing stems that extend each other ("deliv"/"deliveri")."""
    if term in terms:
        return True
    if len(term) < 5:
        return False
    return any(len(t) >= 5 and (t.startswith(term) or term.startswith(t)) for t in terms)


def _stems(tokens_: list[str]) -> list[str | None]:
    """Each token's content stem, or None for stopwords, aligned with the tokens."""
    return [next(iter(content_terms(t)), None) for t in tokens_]


def counts(sentence: str, thing: str) -> bool:
    """Whether the sentence puts a number shortly before the counted thing."""
    tokens_ = words(sentence)
    for i, stem in enumerate(_stems(tokens_)):
        if stem is not None and matches(thing, {stem}):
            window = tokens_[max(0, i - _COUNT_WINDOW) : i]
            if any(_NUMBER.fullmatch(t) or _NUMBER_WORDS.fullmatch(t) for t in window):
                return True
    return False


def adds_answer(question: str, sentence: str, answer_type: str | None) -> bool:
    """Whether the sentence holds a value of the expected type that the question does not."""
    if answer_type is None:
        return True
    if not typed_values(sentence, answer_type) - typed_values(question, answer_type):
        return False
    thing = counted_thing(question) if answer_type == "number" else None
    return thing is None or counts(sentence, thing)


# "What did Dong Jun say …", "According to Hanoi's defence chief, …"
_ASKED_SPEAKER = re.compile(
    r"\bwhat did (.+?) (?:say|tell|claim|write)\b|\baccording to ([^,?]+)", re.IGNORECASE
)
_SPEECH_TEXT = "said says told added stated noted warned wrote claimed"
_SPEECH = frozenset(_SPEECH_TEXT.split())
_SPEAKER_WINDOW = 3  # words between a speaker and the verb ("Hegseth said", "said Gen. Teodoro")


def speaker_conflict(question: str, sentence: str) -> bool:
    """The question asks what X said; the sentence names X but quotes someone else.

    "After meeting … Dong Jun …, Hegseth said …" does not tell what Dong Jun said.
    """
    match = _ASKED_SPEAKER.search(question)
    if not match:
        return False
    speaker = set(content_terms(match.group(1) or match.group(2)))
    tokens_ = words(sentence)
    stems = _stems(tokens_)
    present = {s for s in stems if s is not None}
    if not speaker or not all(matches(term, present) for term in speaker):
        return False
    verbs = [i for i, token in enumerate(tokens_) if token in _SPEECH]
    if not verbs:
        return False
    for i in verbs:
        near = {
            s for s in stems[max(0, i - _SPEAKER_WINDOW) : i + _SPEAKER_WINDOW + 1] if s is not None
        }
        if any(matches(term, near) for term in speaker):
            return False
    return True


# Offices a country holds ("the Thai prime minister", "the Minister of Defense of Malaysia").
_OFFICE_TEXT = """
minister secretary president premier chancellor ambassador king queen envoy chief
spokesman spokeswoman spokesperson governor mayor general admiral commander
"""
_OFFICES = frozenset(_OFFICE_TEXT.split())
_BEFORE = (
    4  # tokens from a country to its office: "US Defense Secretary", "Korea's defense minister"
)
_AFTER = 4  # tokens after an office to its "of <country>": "Minister of Defense of Malaysia"


def _office_countries(text: str) -> dict[str, set[str]]:
    """For each office a text names, the countries it is tied to by adjective or "of"."""
    cased = tokens(text)
    lowered = [t.lower() for t in cased]
    mentions = place_mentions(cased)
    out: dict[str, set[str]] = {}
    for i, token in enumerate(lowered):
        if token not in _OFFICES:
            continue
        tied = {c for start, end, c in mentions if i - _BEFORE <= start and end <= i}
        tied |= {
            c for start, _, c in mentions if i < start <= i + _AFTER and lowered[start - 1] == "of"
        }
        out.setdefault(token, set()).update(tied)
    return out


def office_conflict(question: str, sentence: str) -> bool:
    """The question asks about one country's office; the sentence holds it for others only.

    "Who is the prime minister of Cambodia?" is not answered by "the Thai Prime Minister …".
    """
    asked = _office_countries(question)
    held = _office_countries(sentence)
    for office, countries in asked.items():
        if countries and office in held and held[office] and not countries & held[office]:
            return True
    return False


def office_missing(question: str, sentence: str) -> bool:
    """A "who is the <office> …" question, and the sentence never names that office."""
    asked = _office_countries(question)
    return bool(asked) and not asked.keys() & _office_countries(sentence).keys()
