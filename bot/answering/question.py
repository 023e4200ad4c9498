"""A question parsed once: its terms, the parts of a compound question, the answer type it expects.

Every backend and the citation checks read the same `ParsedQuestion`, so a question is never
taken apart twice in two different ways. The rules here are about English question forms in
general ("how many", "who is", "X and Y"), never about a particular corpus or question set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from retrieval.text.sentences import abbreviation_before
from retrieval.text.terms import STOPWORDS, content_terms

# ", and how much …", " and who …": where a question asks a second thing.
_SECOND_QUESTION = re.compile(
    r",?\s+and\s+(?=(?:how|what|when|where|who|whom|which|why)\b)", re.IGNORECASE
)
# "… about <A> and <B>?": one question asked of two things. "between A and B" asks about a
# relation, so it stays whole.
_TWO_OBJECTS = re.compile(
    r"^(?P<head>.*\b(?:about|on|of|for|in|to|with|regarding)\s+)(?P<a>[^,?]+?)\s+and\s+"
    r"(?P<b>[^,?]+?)\s*\?*\s*$",
    re.IGNORECASE,
)
_MAX_OBJECT_WORDS = 4
# A letter-and-digit token: a code, a model or part number ("Q007X", "A320", "F-35").
_IDENTIFIER = re.compile(r"\b(?=[A-Za-z-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\b")
# A word in any script, with inner hyphens or apostrophes ("Gyu-back", "O'Neill").
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_PRONOUN = re.compile(r"\b(it|its|they|them|their|he|she|his|her|this|these|those)\b", re.I)
_NUMBER_FORM = re.compile(
    r"\bhow (many|much|long|far|old|often|large|big|tall|high)\b"
    r"|\b(?:what|which) (?:[^\W\d_]+ ){0,2}?(percentage|percent|share|number|proportion|fraction"
    r"|amount|population|size"
    r"|rate|ratio|portion|quantity)\b"
    r"|\b(percentage|share|number|proportion|amount|population|size|rate|cost|price|value)"
    r" of\b",
    re.IGNORECASE,
)
_TIME_FORM = re.compile(
    r"\bwhen\b|\b(what|which|in what|on what) (day|date|dates|year|years|month|century|decade|"
    r"time)\b",
    re.IGNORECASE,
)
# The word a "what/which" question asks for ("which city", "what is the name of …") names the
# kind of answer, and the answer sentence seldom repeats it. Weights fitted on the SQuAD train
# articles by benchmarks/fit_question_weights.py: how often such a word appears in the answer
# sentence, relative to the question's other terms (0.42 and 0.21 against 0.60).
_WH_HEAD = re.compile(
    r"\b(?:what|which)\s+(?:(?:is|was|are|were)\s+(?:the|a|an)\s+)?([^\W\d_]+)(\s+of\b)?",
    re.IGNORECASE,
)
WH_HEAD_WEIGHT = 0.70
WH_HEAD_OF_WEIGHT = 0.35
_NAME_FORM = re.compile(r"^\s*(who|whom|whose)\b|\bwho (is|was|are|were)\b", re.IGNORECASE)


# The words that ask: the first one in a question is its own; a later one opens a clause inside
# it ("Which valve shows how long the pump ran?", "What happens when the disk is full?").
_INTERROGATIVE = re.compile(r"\b(?:how|what|which|when|where|who|whom|whose|why)\b", re.IGNORECASE)


def main_clause(question: str) -> str:
    """The question up to a second interrogative word: a later one often opens a clause that
    asks nothing of the answer ("… when the tank is full")."""
    asking = list(_INTERROGATIVE.finditer(question))
    return question[: asking[1].start()] if len(asking) > 1 else question


def expected_answer_type(question: str) -> str | None:
    """'number', 'time', 'name' or None, from the form of the question's own clause.

    A "who was" relative clause is not read: "the minister who was …" describes, it does not ask
    for a person (reading it cost a SQuAD validation question; benchmarks/README.md).
    """
    clause = main_clause(question)
    if _NUMBER_FORM.search(clause):
        return "number"
    if _TIME_FORM.search(clause):
        return "time"
    if _NAME_FORM.search(clause):
        return "name"
    return None


def names(text: str) -> list[str]:
    """Runs of capitalised words that are names, not just a sentence's first word.

    A capital after a sentence end is a sentence opener, but one after an abbreviation
    ("Gen. Smith") is a name. Works on any script with case: "Angela Müller", "Conor McGregor",
    "Ahn Gyu-back" and "NATO" come out whole. A handle ("@joshfrench") is a name too.
    """
    out: list[str] = []
    run: list[re.Match[str]] = []

    def close() -> None:
        if not run:
            return
        before = text[: run[0].start()].rstrip()
        opens = not before or (before[-1] in ".?!\"'”:" and not abbreviation_before(before))
        # A sentence's first word is capitalised anyway: it is a name only when a capitalised
        # word follows it and it is not a function word ("What Taiwan …", "The Hague").
        opener = run[0].group()
        kept = run[1:] if opens and (len(run) == 1 or opener.lower() in STOPWORDS) else run
        if kept:
            out.append(text[kept[0].start() : kept[-1].end()])
        run.clear()

    for match in _WORD.finditer(text):
        word = match.group()
        capitalised = word[0].isupper() and not any(c.isdigit() for c in word)
        joined = not run or text[run[-1].end() : match.start()].strip() == ""
        if not (capitalised and joined):
            close()
        if capitalised:
            run.append(match)
    close()
    return out + _HANDLE.findall(text)


# A person's or account's handle, in any case ("@joshfrench" in a changelog, a chat, a post);
# not an address's "@" ("bot@example.org").
_HANDLE = re.compile(r"(?<![\w@.])@[^\W_][\w-]*")


def wh_head(text: str) -> tuple[str | None, bool]:
    """The term a "what/which" question asks for, and whether "of" follows it."""
    match = _WH_HEAD.search(text)
    terms = content_terms(match.group(1)) if match else []
    return (terms[0], bool(match and match.group(2))) if terms else (None, False)


def term_weights(text: str) -> dict[str, float]:
    """Each term's weight in the question: 1, less for the word naming the kind of answer."""
    head, of = wh_head(text)
    return {
        t: (WH_HEAD_OF_WEIGHT if of else WH_HEAD_WEIGHT) if t == head else 1.0
        for t in content_terms(text)
    }


def identifiers(text: str) -> list[str]:
    """Tokens that mix letters and digits: codes, model and part numbers."""
    return list(dict.fromkeys(_IDENTIFIER.findall(text)))


def split_parts(question: str) -> list[str]:
    """The questions a compound question asks, each on its own (most questions have one)."""
    parts = [p.strip(" ,") for p in _SECOND_QUESTION.split(question)]
    parts = [p for p in parts if content_terms(p)]
    if len(parts) > 1:
        return parts
    match = _TWO_OBJECTS.match(question)
    if match and not re.search(r"\b(between|among|from)\b", match.group("a"), re.IGNORECASE):
        a, b = match.group("a"), match.group("b")
        if len(b.split()) <= _MAX_OBJECT_WORDS and content_terms(a) and content_terms(b):
            head = match.group("head")
            # "about A and B": A is the tail of the head's phrase when it is a single object.
            if len(a.split()) <= _MAX_OBJECT_WORDS:
                return [f"{head}{a}?", f"{head}{b}?"]
    return [question]


@dataclass(frozen=True)
class ParsedQuestion:
    """One question, taken apart once for every backend and check."""

    text: str

    @cached_property
    def terms(self) -> list[str]:
        """The question's content terms (stemmed, stopwords dropped), once each."""
        return list(dict.fromkeys(content_terms(self.text)))

    @cached_property
    def parts(self) -> list[str]:
        """The sub-questions of a compound question; a simple question is its only part."""
        return split_parts(self.text)

    @cached_property
    def answer_type(self) -> str | None:
        """The kind of value the question asks for: 'number', 'time', 'name' or None."""
        return expected_answer_type(self.text)

    @cached_property
    def names(self) -> list[str]:
        """The names the question mentions."""
        return names(self.text)

    @cached_property
    def identifiers(self) -> list[str]:
        """The codes and model numbers the question mentions."""
        return identifiers(self.text)

    def part_terms(self, part: str) -> list[str]:
        """A part's terms; a part with a pronoun borrows the whole question's terms."""
        terms = list(dict.fromkeys(content_terms(part)))
        if part != self.text and _PRONOUN.search(part):
            terms = list(dict.fromkeys([*terms, *self.terms]))
        return terms


def parse_question(text: str) -> ParsedQuestion:
    """Parse a question once."""
    return ParsedQuestion(text.strip())
