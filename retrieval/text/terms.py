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


def words(text: str) -> list[str]:
    """Lower-cased word tokens, possessives folded ("China's" -> "china")."""
    out = []
    for token in _WORD.findall(text):
        token = token.lower().replace("’", "'")
        if token.endswith("'s"):
            token = token[:-2]
        out.append(token)
    return out


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


def content_terms(text: str) -> list[str]:
    """Stemmed words without stopwords: what BM25 indexes and what coverage is measured in."""
    return [stem(_IRREGULAR.get(word, word)) for word in words(text) if word not in STOPWORDS]
