"""Word-level text analysis shared by BM25, the extractive answerer and the citation checks."""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")

_STOPWORD_TEXT = """
a about above after again against all also am an and any are aren't as at be because
been before being below between both but by can could did do does doing down during each
few for from further had has have having he her here hers herself him himself his how i
if in into is it its itself just let me more most my myself no nor not now of off on
once only or other our ours ourselves out over own same she should so some such than
that the their theirs them themselves then there these they this those through to too
under until up very was we were what when where which while who whom why will with would
you your yours yourself yourselves say said says tell told according did does do many
much must might shall
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@lru_cache(maxsize=1)
def _stemmer() -> object:
    import Stemmer

    return Stemmer.Stemmer("english")


def _tokens(text: str) -> list[str]:
    """Word tokens as written, possessives folded ("China's" -> "China")."""
    return [
        token[:-2] if token[-2:].lower() in ("'s", "’s") else token for token in _WORD.findall(text)
    ]


def words(text: str) -> list[str]:
    """Lower-cased word tokens, possessives folded ("China's" -> "china")."""
    return [token.lower().replace("’", "'") for token in _tokens(text)]


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Snowball English stem of one lower-case word."""
    return str(_stemmer().stemWord(word))  # type: ignore[attr-defined]


# Irregular forms the stemmer leaves apart ("met" / "meeting"); mapped before stemming.
_IRREGULAR = {
    "met": "meet",
    "held": "hold",
    "told": "tell",
    "made": "make",
    "took": "take",
    "taken": "take",
    "gave": "give",
    "given": "give",
    "went": "go",
    "gone": "go",
    "saw": "see",
    "seen": "see",
    "began": "begin",
    "begun": "begin",
    "brought": "bring",
    "sent": "send",
    "built": "build",
    "led": "lead",
    "won": "win",
    "paid": "pay",
    "sold": "sell",
    "bought": "buy",
    "found": "find",
    "left": "leave",
    "kept": "keep",
    "spoke": "speak",
    "spoken": "speak",
    "chose": "choose",
    "chosen": "choose",
    "grew": "grow",
    "grown": "grow",
    "knew": "know",
    "known": "know",
    "wrote": "write",
    "written": "write",
    "fell": "fall",
    "fallen": "fall",
    "rose": "rise",
    "risen": "rise",
    "struck": "strike",
    "fought": "fight",
    "sought": "seek",
    "taught": "teach",
    "thought": "think",
    "caught": "catch",
    "drew": "draw",
    "drawn": "draw",
    "flew": "fly",
    "meant": "mean",
    "became": "become",
    "ran": "run",
    "stood": "stand",
    "lost": "lose",
    "men": "man",
    "women": "woman",
    "children": "child",
    "people": "people",
}


# Where a camelCase or PascalCase identifier's words meet ("maxAge", "parameterLimit",
# "HTTPServer"), and the words themselves; an acronym's plural is one word ("APIs", "getURLs"),
# and a one-letter prefix makes no word ("iOS", "eBay").
_CAMEL = re.compile(r"[a-z]{2}[A-Z]|[A-Z]{2}[a-z]")
_CAMEL_PART = re.compile(r"[A-Z]{2,}s(?![a-z])|[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

# Bumped whenever content_terms or initialisms change what they return for some text: a BM25 index saved with
# another version is rebuilt from its chunks' texts, not searched with terms it never held.
ANALYZER_VERSION = "3"


def _stem_word(word: str) -> str:
    return stem(_IRREGULAR.get(word, word))


def content_terms(text: str) -> list[str]:
    """Stemmed words without stopwords: what BM25 indexes and what coverage is measured in.

    An identifier written in camelCase gives its words, as one in snake_case or kebab-case
    already does: "maxAge", "max_age" and "max-age" are all "max age".
    """
    out: list[str] = []
    for token in _tokens(text):
        if _CAMEL.search(token):
            parts = [part.lower() for part in _CAMEL_PART.findall(token)]
        else:
            parts = [token.lower().replace("’", "'")]
        out += [_stem_word(part) for part in parts if part not in STOPWORDS]
    return out


_MIN_INITIALISM = 3  # two letters match too much by chance ("PR", "IT")


def initialisms(title: str) -> set[str]:
    """The terms a title may be named by in short: the initials of each run of its capitalised
    words, whole or in part, three letters or more ("Mozilla Public License" gives "mpl"; "GNU
    General Public License" gives "gpl" and "ggpl"). A stopword inside the run is read both ways
    ("Department of Defense": "dod", "dd")."""
    out: set[str] = set()
    for line in title.splitlines():
        runs: list[list[str]] = [[]]
        for token in _tokens(line):
            lower = token.lower()
            if token[:1].isupper() and lower not in STOPWORDS:
                runs[-1].append(lower[0])
            elif lower in STOPWORDS and runs[-1]:
                runs[-1].append(lower[0].upper())  # a stopword's initial, optional
            else:
                runs.append([])
        for run in runs:
            while run and run[-1].isupper():
                run.pop()
            for letters in {"".join(run).lower(), "".join(c for c in run if c.islower())}:
                out.update(
                    letters[i:j]
                    for i in range(len(letters))
                    for j in range(i + _MIN_INITIALISM, len(letters) + 1)
                )
    return {_stem_word(term) for term in out}
