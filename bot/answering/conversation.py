"""Per-session conversation memory, bounded by tokens, and follow-up handling."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from retrieval.text.terms import content_terms
from retrieval.tokens import count_tokens

_CONTINUATION = re.compile(r"^\s*(and|also|but|what about|how about|then|so)\b", re.IGNORECASE)
_POINTER = re.compile(
    r"\b(it|its|they|them|their|he|him|his|she|her|that|those|these|there|this)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class Turn:
    """One question (as understood) and the answer given."""

    question: str
    answer: str


@dataclass
class Conversation:
    """The recent turns of one chat, dropped oldest first beyond `max_tokens`."""

    max_tokens: int = 1000
    turns: list[Turn] = field(default_factory=list)

    def add(self, question: str, answer: str) -> None:
        """Remember a turn, then trim the oldest ones to the token budget."""
        self.turns.append(Turn(question, answer))
        while len(self.turns) > 1 and self.tokens() > self.max_tokens:
            self.turns.pop(0)
        if self.max_tokens == 0:
            self.turns.clear()

    def reset(self) -> None:
        """Forget everything."""
        self.turns.clear()

    def tokens(self) -> int:
        """Tokens the history takes."""
        return sum(count_tokens(t.question) + count_tokens(t.answer) for t in self.turns)

    def render(self) -> str:
        """The history as text for the condense prompt."""
        return "\n".join(f"User: {t.question}\nAssistant: {t.answer}" for t in self.turns)

    @property
    def last_question(self) -> str | None:
        """The previous standalone question, if any."""
        return self.turns[-1].question if self.turns else None


def is_follow_up(question: str) -> bool:
    """Whether a question leans on what came before ("and how many were released?").

    It opens like a continuation, or it is short and points back with a pronoun, or it names
    almost nothing itself. A long question with a stray "this" stands on its own.
    """
    if _CONTINUATION.match(question) or len(content_terms(question)) <= 2:
        return True
    return bool(_POINTER.search(question)) and len(content_terms(question)) <= 4


# A name or number after a preposition ("in Tokyo", "on October 26", "for 2024"): a follow-up
# that gives one after the same preposition puts it in place of the previous question's.
_PLACED = re.compile(
    r"\b((?i:in|at|on|from|to|with|for|during|after|before|by|near|under))\s+"
    r"((?:[A-Z0-9][\w'’.-]*)(?:\s+(?:[A-Z0-9][\w'’.-]*|of|de|la|and))*)"
)


def expand_follow_up(question: str, previous: str) -> str:
    """The follow-up with the previous question's key terms added (the offline condenser).

    A name given after the same preposition replaces the previous one: after "Who did she meet
    in Tokyo?", "And in Seoul?" asks who she met in Seoul, not in Tokyo and Seoul."""
    replaced = {match.group(1).lower() for match in _PLACED.finditer(question)}
    if replaced:
        previous = _PLACED.sub(
            lambda m: "" if m.group(1).lower() in replaced else m.group(0), previous
        )
    own = set(content_terms(question))
    extra = [
        w
        for w in re.findall(r"[\w'’,-]+", previous)
        if content_terms(w) and not set(content_terms(w)) & own
    ]
    return f"{question} ({' '.join(dict.fromkeys(extra))})" if extra else question
