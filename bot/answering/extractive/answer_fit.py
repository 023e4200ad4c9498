"""Whether a sentence can answer a question at all: the kind of value asked for, who said it,
and whose office it is. The extractive answerer drops sentences that fail these checks.

General rules of English question and sentence forms; none is taken from a question set."""

from __future__ import annotations

import re

from bot.answering.question import names
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
_COUNT_WINDOW = 8  # words between a number and the thing it counts ("five of the 20 new …")


def counted_thing(question: str) -> str | None:
    """The stemmed head noun a "how many X …" question counts ("bridg" for bridges), if any."""
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


def mentions(text: str, thing: str) -> bool:
    """Whether the text holds the (stemmed) thing."""
    return matches(thing, set(content_terms(text)))


def bare_number(sentence: str) -> bool:
    """Whether the sentence holds a number that counts no word after it ("the default is 256,")."""
    tokens_ = words(sentence)
    stems = _stems(tokens_)
    return any(
        _NUMBER.fullmatch(t) and (i + 1 == len(tokens_) or stems[i + 1] is None)
        for i, t in enumerate(tokens_)
    )


def adds_answer(question: str, sentence: str, answer_type: str | None, heading: str = "") -> bool:
    """Whether the sentence holds a value of the expected type that the question does not.

    A "how many X" question needs a number shortly before X, or, under a heading that names X,
    a bare number in a sentence that names no X ("Worker threads" … "the default is 256")."""
    if answer_type is None:
        return True
    if not typed_values(sentence, answer_type) - typed_values(question, answer_type):
        return False
    thing = counted_thing(question) if answer_type == "number" else None
    if thing is None or counts(sentence, thing):
        return True
    return mentions(heading, thing) and not mentions(sentence, thing) and bare_number(sentence)


# "What did the minister say …", "According to the report, …"
_ASKED_SPEAKER = re.compile(
    r"\bwhat did (.+?) (?:say|tell|claim|write)\b|\baccording to ([^,?]+)", re.IGNORECASE
)
_SPEECH_TEXT = "said says told added stated noted warned wrote claimed"
_SPEECH = frozenset(_SPEECH_TEXT.split())
_SPEAKER_WINDOW = 3  # words between a speaker and the verb ("Smith said", "said Gen. Smith")


def speaker_conflict(question: str, sentence: str) -> bool:
    """The question asks what X said; the sentence names X but quotes someone else.

    "After meeting X, Y said …" does not tell what X said.
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


# Titles of office, so "the <Name> minister" and "the minister of <Name>" can be told apart.
_OFFICE_TEXT = """
minister secretary president premier chancellor ambassador king queen envoy chief
spokesman spokeswoman spokesperson governor mayor general admiral commander
"""
_OFFICES = frozenset(_OFFICE_TEXT.split())
_BEFORE = 4  # words from a name to its office: "the <Name> defence minister"
_AFTER = 4  # words after an office to its "of <Name>": "the minister of defence of <Name>"
_PREFIX = 4  # letters two name words must share to be one name ("Freedonia", "Freedonian")


def _office_holders(text: str) -> dict[str, set[str]]:
    """For each office a text names, the capitalised words tied to it by position or "of"."""
    tokens_ = re.findall(r"[^\W_]+", text)
    capitalised = {w for name in names(text) for w in re.findall(r"[^\W_]+", name)}
    out: dict[str, set[str]] = {}
    for i, token in enumerate(tokens_):
        office = token.lower()
        if office not in _OFFICES:
            continue
        tied = {w.lower() for w in tokens_[max(0, i - _BEFORE) : i] if w in capitalised}
        after = tokens_[i + 1 : i + 1 + _AFTER]
        for j, word in enumerate(after):
            if word in capitalised and j > 0 and after[j - 1].lower() == "of":
                tied.add(word.lower())
        tied -= _OFFICES
        out.setdefault(office, set()).update(tied)
    return out


def _same_name(a: set[str], b: set[str]) -> bool:
    return any(x[:_PREFIX] == y[:_PREFIX] for x in a for y in b)


def office_conflict(question: str, sentence: str) -> bool:
    """The question asks about an office tied to one name; the sentence ties it to others only.

    "Who is the mayor of Springfield?" is not answered by "the Shelbyville mayor …".
    """
    asked = _office_holders(question)
    held = _office_holders(sentence)
    for office, tied in asked.items():
        if tied and held.get(office) and not _same_name(tied, held[office]):
            return True
    return False


def office_missing(question: str, sentence: str) -> bool:
    """A "who is the <office> …" question, and the sentence never names that office."""
    asked = _office_holders(question)
    return bool(asked) and not asked.keys() & _office_holders(sentence).keys()
