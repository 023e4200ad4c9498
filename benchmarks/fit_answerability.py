"""Refusal for the extractive answerer fitted on SQuAD: the question-level rules tried and not
adopted, and the answering floor fitted on answer deletions, adopted (benchmarks/README.md).

Usage:
  .venv/bin/python benchmarks/fit_answerability.py --collect train --without-floor       # ~2-5 min
  .venv/bin/python benchmarks/fit_answerability.py --collect validation --without-floor  # ~1-2 min
  .venv/bin/python benchmarks/fit_answerability.py --collect-dev --without-floor   # a check only
  .venv/bin/python benchmarks/fit_answerability.py --collect-seed --without-floor  # a check only
  .venv/bin/python benchmarks/fit_answerability.py --report            # question-level rules
  .venv/bin/python benchmarks/fit_answerability.py --report-deletion   # answer-deletion variants
  .venv/bin/python benchmarks/fit_answerability.py --write             # write the floor

Each question goes through the answer service as `citebot eval` runs it (answered or refused,
right or wrong: the four baselines equal `citebot eval`'s figures), and for each part the features
of the sentence `answer_part` chooses are saved (benchmarks/out/answerability/<set>.json): its
coverage, similarity and score; the weight share of the question terms missing from it, from its
heading, chunk and title, from the retrieved chunks of its document and from all retrieved chunks,
and the largest such term; each missing term's best word-embedding cosine to a word near the
sentence; the score gap to the runner-up, the candidates that qualify, the answer type and, for a
typed question, the words between the value and a covered term. `--without-floor` answers as
before the answering floor (the floor is fitted on that; without it the baselines are the
shipped answerer's). For SQuAD's answerable questions the same is saved for an answer deletion:
the part answered again with every candidate whose quote holds a gold answer string (any
annotator's) taken away, so the topic is covered and the detail asked for missing.

`--report` simulates each refusal rule on top of the service's answers: a rule's setting (or a
logistic regression's threshold; the regression is fitted on train's answered parts, label
"answerable") is chosen on validation as the best abstention recall whose accuracy falls and false
abstention rises by at most 0.01; train, dev and seed are then read at that setting.
`--report-deletion` does the same for rules fitted on train's answer deletions (negatives, with
or without SQuAD's unanswerable questions) against the parts answered right (positives): a
floor on the chosen sentence's coverage and similarity, and logistic regressions; each setting is
chosen on validation by real abstention recall or by answer deletions refused, within the same
bound. `--write` writes the first (coverage and similarity floor, deletions only, chosen by real
abstention recall) to the package's sentence_scorer.json. The test split is never read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import retrieval_squad

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "benchmarks" / "data"
SAVED = Path(__file__).resolve().parent / "out" / "answerability"


def part_features(
    backend: Any,
    part: str,
    question: Any,
    sources: list[Any],
    drop: Callable[[Any], bool] | None = None,
) -> dict[str, Any]:
    """The answer_part choice and features of its chosen sentence; with `drop`, as if the
    candidates it holds were not in the documents (an answer deletion: see `deletion`)."""
    from bot.answering.extractive.answer_fit import matches
    from bot.answering.extractive.answerer import context_terms
    from bot.answering.question import term_weights
    from retrieval.text.terms import content_terms

    terms = question.part_terms(part)
    if not terms:
        return {"answered": False}
    budget = backend.max_sentences if len(question.parts) == 1 else 2
    cands = backend.candidates(part, terms, sources, limit=budget)
    if drop is not None:
        cands = [c for c in cands if not drop(c)]
    if not cands:
        return {"answered": False}
    scorer = backend.scorer
    best = next((c for c in cands[: scorer.best_of] if backend.qualifies(c)), cands[0])
    unknown = backend.unknown_names(part)
    answered = scorer.answers(best.coverage, best.similarity) and not (
        unknown and best.similarity < scorer.unknown_similarity
    )
    asked = term_weights(part)
    weights = {t: backend.idf(t) * asked.get(t, 1.0) for t in terms}
    total = sum(weights.values()) or 1.0
    own = set(content_terms(best.text))
    context = context_terms(best.chunk, best.chunk.section_at(best.start))
    everywhere: set[str] = set()
    for chunk in sources:
        everywhere |= set(content_terms(f"{chunk.title}\n{chunk.section}\n{chunk.text}"))
    same_doc: set[str] = set()
    for chunk in sources:
        if chunk.source == best.chunk.source:
            same_doc |= set(content_terms(f"{chunk.title}\n{chunk.section}\n{chunk.text}"))
    not_in_sentence = [t for t in terms if t not in best.covered]
    nowhere_near = [t for t in not_in_sentence if not matches(t, context)]
    not_in_doc = [t for t in not_in_sentence if not matches(t, same_doc)]
    not_anywhere = [t for t in not_in_sentence if not matches(t, everywhere)]
    idfs = {t: backend.idf(t) for t in terms}
    max_idf = max(idfs.values()) if idfs else 1.0
    second = cands[1] if len(cands) > 1 else None
    qualifying = sum(backend.qualifies(c) for c in cands[:8])

    def share(ts: list[str]) -> float:
        return float(sum(weights[t] for t in ts) / total)

    def top(ts: list[str]) -> float:
        return max((weights[t] for t in ts), default=0.0) / total

    def top_idf(ts: list[str]) -> float:
        return max((idfs[t] for t in ts), default=0.0) / (max_idf or 1.0)

    soft = soft_missing(backend, part, not_in_sentence, best)
    distance = typed_distance(part, best)
    return {
        "answered": bool(answered),
        "missing": [[t, weights[t] / total, soft[t][0], soft[t][1]] for t in not_in_sentence],
        "own_terms": sorted(own & set(terms)),
        "f": {
            "coverage": best.coverage,
            "similarity": best.similarity,
            "score": best.score,
            "by_coverage": float(best.coverage >= scorer.min_coverage),
            "by_similarity_only": float(best.coverage < scorer.min_coverage),
            "miss_sentence": share(not_in_sentence),
            "miss_context": share(nowhere_near),
            "miss_doc": share(not_in_doc),
            "miss_all": share(not_anywhere),
            "top_miss_sentence": top(not_in_sentence),
            "top_miss_context": top(nowhere_near),
            "top_miss_doc": top(not_in_doc),
            "top_miss_all": top(not_anywhere),
            "idf_miss_sentence": top_idf(not_in_sentence),
            "idf_miss_context": top_idf(nowhere_near),
            "idf_miss_doc": top_idf(not_in_doc),
            "n_miss_context": float(len(nowhere_near)),
            "n_miss_doc": float(len(not_in_doc)),
            "score_gap": best.score - (second.score if second else 0.0),
            "sim_gap": best.similarity - (second.similarity if second else 0.0),
            "qualifying": float(qualifying),
            "candidates": float(len(cands)),
            "typed": best.features[12] if best.features else 0.0,
            "log_terms": float(np.log(max(len(terms), 1))),
            "unknown": float(bool(unknown)),
            "source_rank": 1.0 / best.source_number,
            "bigram": best.features[11] if best.features else 0.0,
            "typed_distance": float(distance),
        },
    }


def deletion(golds: list[str]) -> Callable[[Any], bool]:
    """Whether a candidate's quoted text holds any gold answer string (any annotator's), as a
    whole-word match after `citebot eval`'s normalisation or verbatim, ignoring case."""
    from bot.doors.evaluation.run import contains_key

    lowered = [g.lower() for g in golds if g.strip()]

    def holds(candidate: Any) -> bool:
        text = candidate.text
        return any(contains_key(text, g) for g in golds) or any(g in text.lower() for g in lowered)

    return holds


def typed_distance(part: str, best: Any) -> int:
    """Typed questions: words between the nearest new value of the asked type in the sentence
    and a covered question term (0 when untyped, 99 when none of either)."""
    from bot.answering.extractive.answer_fit import _stems, matches, typed_values
    from bot.answering.question import expected_answer_type
    from retrieval.text.terms import words

    answer_type = expected_answer_type(part)
    if answer_type is None:
        return 0
    tokens = words(best.text)
    values = typed_values(best.text, answer_type) - typed_values(part, answer_type)
    value_words = {w for v in values for w in words(v)}
    at = [i for i, t in enumerate(tokens) if t in value_words]
    stems = _stems(tokens)
    covered = [i for i, s in enumerate(stems) if s is not None and matches(s, set(best.covered))]
    covered = [i for i in covered if i not in at]
    if not at or not covered:
        return 99
    return min(abs(i - j) for i in at for j in covered)


_WORD_VECTORS: dict[str, np.ndarray] = {}


def word_vectors(backend: Any, items: list[str]) -> np.ndarray:
    """Normalised embeddings of single words, cached."""
    new = sorted({w for w in items if w not in _WORD_VECTORS})
    if new:
        for w, v in zip(new, backend.embed(new), strict=True):
            a = np.asarray(v, dtype=np.float32)
            _WORD_VECTORS[w] = a / (np.linalg.norm(a) or 1.0)
    return np.stack([_WORD_VECTORS[w] for w in items]) if items else np.zeros((0, 1))


def soft_missing(
    backend: Any, part: str, missing: list[str], best: Any
) -> dict[str, tuple[float, float]]:
    """For each question term missing from the sentence: the best cosine of its question word to
    a content word of the sentence (with its heading and title), and of the whole chunk."""
    from retrieval.text.terms import content_terms, words

    if not missing:
        return {}
    stem_word: dict[str, str] = {}
    for w in words(part):
        for t in content_terms(w):
            stem_word.setdefault(t, w)
    chunk = best.chunk
    near = f"{chunk.title} {chunk.section_at(best.start)} {best.text}"
    near_words = sorted({w for w in words(near) if content_terms(w)})
    chunk_words = sorted({w for w in words(f"{near} {chunk.text}") if content_terms(w)})
    out = {}
    asked = [stem_word.get(t, t) for t in missing]
    q = word_vectors(backend, asked)
    n = word_vectors(backend, near_words)
    c = word_vectors(backend, chunk_words)
    for i, t in enumerate(missing):
        out[t] = (
            float((n @ q[i]).max()) if len(near_words) else 0.0,
            float((c @ q[i]).max()) if len(chunk_words) else 0.0,
        )
    return out


def collect(
    corpus: Path, questions: list[dict[str, Any]], name: str, without_floor: bool = False
) -> list[dict[str, Any]]:
    """Every question answered by the service, with its parts' chosen-sentence features; with
    `without_floor`, answered as if the answering floor were the qualifying thresholds."""
    work = Path(tempfile.mkdtemp(prefix=f"citebot-abst-{name}-"))
    os.environ.update(
        CITEBOT_CORPUS_DIR=str(corpus),
        CITEBOT_DATA_DIR=str(work / "data"),
        CITEBOT_BACKEND="extractive",
    )
    from bot.answering.extractive.answerer import ExtractiveAnswerer
    from bot.answering.question import parse_question
    from bot.doors.evaluation.run import contains_key
    from bot.settings import load_settings
    from bot.wiring import build_answerer

    service = build_answerer(load_settings(None))
    backend = service.backend
    assert isinstance(backend, ExtractiveAnswerer)
    if without_floor:
        # The answerer as it was before the answering floor: the floor is fitted on this.
        scorer = backend.scorer
        backend.scorer = dataclasses.replace(
            scorer, answer_coverage=scorer.min_coverage, answer_similarity=scorer.min_similarity
        )
    out = []
    for number, q in enumerate(questions):
        answer = service.answer(q["question"])
        keys = q["answers"]
        parsed = parse_question(q["question"])
        hits = service.searcher.search(parsed.text)
        sources = [h.chunk for h in hits]
        parts = [part_features(backend, p, parsed, sources) for p in parsed.parts] if hits else []
        # An answer deletion (SQuAD's answerable questions only): the same question with every
        # candidate quoting a gold answer gone, so the topic is covered and the detail missing.
        golds = q.get("squad_alternatives", []) if keys else []
        deleted = (
            [part_features(backend, p, parsed, sources, deletion(golds)) for p in parsed.parts]
            if hits and golds
            else []
        )
        out.append(
            {
                "deleted": deleted,
                "id": q["id"],
                "answerable": bool(keys),
                "abstained": answer.abstained,
                "correct": bool(keys)
                and not answer.abstained
                and all(contains_key(answer.text, key) for key in keys),
                "parts": parts,
            }
        )
        if number % 100 == 0:
            print(f"{name}: {number}/{len(questions)}", file=sys.stderr, flush=True)
    return out


def squad_questions(split: str) -> tuple[Path, list[dict[str, Any]]]:
    import answer_squad

    work = Path(tempfile.mkdtemp(prefix=f"citebot-abst-{split}-corpus-"))
    squad = retrieval_squad.write_fitting_corpus(split, work / "corpus")
    answer_squad.write_questions(squad, work / "questions.jsonl", None)
    lines = (work / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return work / "corpus", [json.loads(line) for line in lines]


Rows = list[dict[str, Any]]
Rule = Callable[[dict[str, Any]], bool]


def derived(part: dict[str, Any]) -> dict[str, float]:
    """A part's features plus those read from its missing terms: the weight share of the terms
    missing from the sentence whose question word has no word at cosine >= 0.5 in the sentence,
    its heading and title ("hard_near") or its chunk ("hard_chunk"), and the largest such term."""
    f = dict(part["f"])
    missing = part.get("missing", [])
    for name, col in (("near", 2), ("chunk", 3)):
        hard = [m[1] for m in missing if m[col] < 0.5]
        f[f"hard_{name}"] = sum(hard)
        f[f"tophard_{name}"] = max(hard, default=0.0)
    return f


def metrics(rows: Rows, refuse: Rule) -> tuple[float, float, float]:
    """Accuracy, abstention recall, false abstention when `refuse` also refuses a part the
    service answered (a question is refused when every answered part is)."""
    right = refused_answerable = refused_unanswerable = answerable = 0
    for row in rows:
        refused = row["abstained"]
        if not refused:
            answered = [derived(p) for p in row["parts"] if p.get("answered")]
            refused = bool(answered) and all(refuse(f) for f in answered)
        if row["answerable"]:
            answerable += 1
            right += row["correct"] and not refused
            refused_answerable += refused
        else:
            refused_unanswerable += refused
    unanswerable = max(len(rows) - answerable, 1)
    return (
        right / answerable,
        refused_unanswerable / unanswerable,
        refused_answerable / answerable,
    )


def choose(validation: Rows, family: Callable[[float], Rule], grid: list[float]) -> float | None:
    """The setting with the best abstention recall on validation whose accuracy falls and whose
    false abstention rises by at most 0.01 (the issue's bound); `grid` from least refusing."""
    base = metrics(validation, lambda f: False)
    best: tuple[float, float] | None = None
    for value in grid:
        acc, recall, false = metrics(validation, family(value))
        within = acc >= base[0] - 0.0101 and false <= base[2] + 0.0101
        if within and (best is None or recall > best[1] + 1e-9):
            best = (value, recall)
    return None if best is None else best[0]


def logistic(train: Rows, features: list[str]) -> Callable[[dict[str, float]], float]:
    """P(answerable) of an answered part, a logistic regression fitted on train's answered parts."""

    x, y = [], []
    for row in train:
        if not row["abstained"]:
            for part in row["parts"]:
                if part.get("answered"):
                    f = derived(part)
                    x.append([f[k] for k in features])
                    y.append(float(row["answerable"]))
    return standardised_logistic(np.asarray(x), np.asarray(y), features)


def standardised_logistic(
    matrix: np.ndarray, y: np.ndarray, features: list[str]
) -> Callable[[dict[str, float]], float]:
    """P(label) of a feature dict, a logistic regression fitted on standardised features."""
    from fit_extractive import fit_logistic

    mean, scale = matrix.mean(0), matrix.std(0) + 1e-9
    w = fit_logistic((matrix - mean) / scale, y)

    def probability(f: dict[str, float]) -> float:
        z = (np.asarray([f[k] for k in features]) - mean) / scale
        return float(1 / (1 + np.exp(-(z @ w[:-1] + w[-1]))))

    return probability


def report() -> None:
    """Every variant: chosen on validation, then train, validation, dev and seed."""
    sets = {
        n: json.loads((SAVED / f"{n}.json").read_text())
        for n in SETS
        if (SAVED / f"{n}.json").exists()
    }
    if "validation" not in sets:
        raise SystemExit(f"nothing to choose on: run --collect validation first ({SAVED})")
    grid = [round(0.30 + 0.02 * i, 2) for i in range(20)][::-1]
    families: list[tuple[str, Callable[[float], Rule], list[float]]] = [
        (
            "largest missing term (not in sentence) >= t",
            lambda t: lambda f: f["top_miss_sentence"] >= t,
            grid,
        ),
        (
            "largest missing term (not in sentence, heading, chunk, title) >= t",
            lambda t: lambda f: f["top_miss_context"] >= t,
            grid,
        ),
        (
            "similarity-only answer and score < t",
            lambda t: lambda f: bool(f["by_similarity_only"]) and f["score"] < t,
            [round(0.40 + 0.01 * i, 2) for i in range(21)],
        ),
        (
            "similarity-only answer and missing share (not in sentence or context) >= t",
            lambda t: lambda f: bool(f["by_similarity_only"]) and f["miss_context"] >= t,
            grid,
        ),
        (
            "missing share, no word at cosine 0.5 in sentence/heading/title, >= t",
            lambda t: lambda f: f["hard_near"] >= t,
            grid,
        ),
        (
            "typed question, words from the value to a covered term > t",
            lambda t: lambda f: f["typed_distance"] > t,
            [99, 20, 15, 10, 8, 5, 3, 2],
        ),
    ]
    if "train" in sets:
        for name, features in (
            ("logistic, question-level features", QUESTION_LEVEL),
            ("logistic, coverage, similarity, hard missing shares", HARD_MISSING),
        ):
            probability = logistic(sets["train"], features)
            families.append(
                (
                    f"{name}: P < t",
                    below(probability),
                    [round(0.05 + 0.01 * i, 2) for i in range(60)],
                )
            )
    print("| variant | chosen | " + " | ".join(sets) + " |")
    print("|---|---|" + "---|" * len(sets))
    print(
        "| baseline | | "
        + " | ".join(_fmt(metrics(r, lambda f: False)) for r in sets.values())
        + " |"
    )
    for name, family, values in families:
        value = choose(sets["validation"], family, values)
        cells = (
            ["-"] * len(sets)
            if value is None
            else [_fmt(metrics(r, family(value))) for r in sets.values()]
        )
        print(f"| {name} | {value} | " + " | ".join(cells) + " |")
    # Settings that do move the dev set, for what they cost elsewhere (not chosen on anything).
    for index, value in ((0, 0.40), (2, 0.45), (2, 0.50), (3, 0.60), (3, 0.50), (4, 0.50)):
        name, family, _ = families[index]
        cells = [_fmt(metrics(r, family(value))) for r in sets.values()]
        print(f"| (fixed) {name} | {value} | " + " | ".join(cells) + " |")


QUESTION_LEVEL = [
    "coverage",
    "similarity",
    "score",
    "top_miss_sentence",
    "miss_sentence",
    "top_miss_context",
    "miss_context",
    "top_miss_all",
    "score_gap",
    "sim_gap",
    "typed",
    "log_terms",
    "bigram",
    "candidates",
    "qualifying",
    "by_similarity_only",
]
HARD_MISSING = [
    "coverage",
    "similarity",
    "hard_near",
    "hard_chunk",
    "tophard_near",
    "tophard_chunk",
    "by_similarity_only",
]


def deletion_metric(rows: Rows, refuse: Rule) -> float:
    """The share of answer deletions refused: every part the answerer would still answer, with
    the answer's sentences gone, is refused by `refuse` too (SQuAD's answerable questions)."""
    deleted = [row["deleted"] for row in rows if row.get("deleted")]
    refused = 0
    for parts in deleted:
        answered = [derived(p) for p in parts if p.get("answered")]
        refused += all(refuse(f) for f in answered)
    return refused / max(len(deleted), 1)


def labelled_parts(train: Rows, unanswerable: bool) -> tuple[list[dict[str, float]], list[float]]:
    """Train's answered parts as (features, answerable): positives are the parts of the
    answerable questions the service answers right; negatives the parts the answerer still
    answers after an answer deletion, and, with `unanswerable`, those of SQuAD's unanswerable
    questions the service answers."""
    x: list[dict[str, float]] = []
    y: list[float] = []
    for row in train:
        if row["answerable"] and row["correct"]:
            for part in row["parts"]:
                if part.get("answered"):
                    x.append(derived(part))
                    y.append(1.0)
        for part in row.get("deleted", []):
            if part.get("answered"):
                x.append(derived(part))
                y.append(0.0)
        if unanswerable and not row["answerable"] and not row["abstained"]:
            for part in row["parts"]:
                if part.get("answered"):
                    x.append(derived(part))
                    y.append(0.0)
    return x, y


def deletion_logistic(
    train: Rows, features: list[str], unanswerable: bool
) -> Callable[[dict[str, float]], float]:
    """P(answerable), a logistic regression fitted on train's labelled parts (`labelled_parts`)."""
    parts, y = labelled_parts(train, unanswerable)
    matrix = np.asarray([[f[k] for k in features] for f in parts])
    return standardised_logistic(matrix, np.asarray(y), features)


def qualifies_family(train: Rows, unanswerable: bool) -> Callable[[float], tuple[float, float]]:
    """For an allowed share t of train's positive parts refused: the (min_coverage,
    min_similarity) pair at or above the shipped one that refuses the most negative parts."""
    from bot.answering.extractive.scorer import load_sentence_scorer

    shipped = load_sentence_scorer()
    parts, y = labelled_parts(train, unanswerable)
    cov = np.asarray([f["coverage"] for f in parts])
    sim = np.asarray([f["similarity"] for f in parts])
    label = np.asarray(y)
    pairs = [
        (round(shipped.min_coverage + 0.025 * i, 3), round(shipped.min_similarity + 0.0125 * j, 4))
        for i in range(15)
        for j in range(25)
    ]
    outcomes = []
    for c, s_ in pairs:
        refused = ~((cov >= c) | (sim >= s_))
        outcomes.append(
            (float(refused[label == 1].mean()), float(refused[label == 0].mean()), (c, s_))
        )

    def setting(t: float) -> tuple[float, float]:
        within = [o for o in outcomes if o[0] <= t + 1e-12]
        return max(within, key=lambda o: (o[1], -o[0]))[2]

    return setting


def choose_on_deletions(
    validation: Rows, family: Callable[[float], Rule], grid: list[float]
) -> float | None:
    """The setting that refuses the most of validation's answer deletions while validation's real
    questions lose at most 0.01 accuracy and gain at most 0.01 false abstention."""
    base = metrics(validation, lambda f: False)
    best: tuple[float, float] | None = None
    for value in grid:
        acc, _, false = metrics(validation, family(value))
        within = acc >= base[0] - 0.0101 and false <= base[2] + 0.0101
        refused = deletion_metric(validation, family(value))
        if within and (best is None or refused > best[1] + 1e-9):
            best = (value, refused)
    return None if best is None else best[0]


def write_floor() -> None:
    """Fit the answering floor (answer_coverage, answer_similarity) on train's answer deletions,
    choose it on validation's real questions (`choose`), and write it into the package's weights
    file, beside the settings benchmarks/fit_extractive.py writes."""
    from bot.answering.extractive.scorer import WEIGHTS_FILE

    sets = {n: json.loads((SAVED / f"{n}.json").read_text()) for n in ("train", "validation")}
    pick = qualifies_family(sets["train"], unanswerable=False)
    grid = [round(0.005 * i, 3) for i in range(41)]
    value = choose(sets["validation"], threshold_family(pick), grid)
    if value is None:
        print("no floor keeps validation within the bound")
        return
    coverage, similarity = pick(value)
    packaged = REPO / "bot" / "answering" / "extractive" / WEIGHTS_FILE
    data = json.loads(packaged.read_text(encoding="utf-8"))
    data.update(answer_coverage=coverage, answer_similarity=similarity)
    packaged.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"wrote answer_coverage={coverage}, answer_similarity={similarity} to {packaged}")


def report_deletion() -> None:
    """The answer-deletion variants: fitted on train, each setting chosen on validation by real
    abstention recall ("real") or by answer deletions refused ("del"), both within the bound."""
    missing = [n for n in SETS if not (SAVED / f"{n}.json").exists()]
    if missing:
        raise SystemExit(f"collect {', '.join(missing)} first (see --help); looked in {SAVED}")
    sets = {n: json.loads((SAVED / f"{n}.json").read_text()) for n in SETS}
    train, validation = sets["train"], sets["validation"]
    p_grid = [round(0.05 + 0.01 * i, 2) for i in range(90)]
    t_grid = [round(0.005 * i, 3) for i in range(41)]
    families: list[tuple[str, Callable[[float], Rule], list[float]]] = []
    for unanswerable in (False, True):
        negatives = "deletions + SQuAD unanswerables" if unanswerable else "deletions"
        families.append(
            (
                f"qualifies thresholds (neg: {negatives}), train positives refused <= t",
                threshold_family(qualifies_family(train, unanswerable)),
                t_grid,
            )
        )
        for name, features in (
            ("coverage, similarity", ["coverage", "similarity"]),
            ("question-level features", QUESTION_LEVEL),
            ("coverage, similarity, hard missing shares", HARD_MISSING),
        ):
            families.append(
                (
                    f"logistic {name} (neg: {negatives}): P < t",
                    below(deletion_logistic(train, features, unanswerable)),
                    p_grid,
                )
            )
    print("| variant | chosen by | setting | " + " | ".join(sets) + " | val deletions refused |")
    print("|---|---|---|" + "---|" * (len(sets) + 1))
    print(
        "| baseline | | | "
        + " | ".join(_fmt(metrics(r, never)) for r in sets.values())
        + f" | {deletion_metric(validation, never):.3f} |"
    )
    for name, family, values in families:
        for how, chooser in (("real", choose), ("del", choose_on_deletions)):
            value = chooser(validation, family, values)
            if value is None:
                print(f"| {name} | {how} | None |" + " - |" * (len(sets) + 1))
                continue
            rule = family(value)
            cells = [_fmt(metrics(r, rule)) for r in sets.values()]
            shown = f"{value} {getattr(rule, 'setting', '')}"
            print(
                f"| {name} | {how} | {shown} | "
                + " | ".join(cells)
                + f" | {deletion_metric(validation, rule):.3f} |"
            )


def never(f: dict[str, float]) -> bool:
    """No refusal: the service's own answers."""
    return False


def below(probability: Callable[[dict[str, float]], float]) -> Callable[[float], Rule]:
    """Refuse a part whose P(answerable) is under the threshold."""

    def family(t: float) -> Rule:
        return lambda f: probability(f) < t

    return family


class ThresholdRule:
    """Refuse a part whose chosen sentence would not qualify at (min_coverage, min_similarity)."""

    def __init__(self, setting: tuple[float, float]) -> None:
        self.setting = setting

    def __call__(self, f: dict[str, float]) -> bool:
        return not (f["coverage"] >= self.setting[0] or f["similarity"] >= self.setting[1])


def threshold_family(pick: Callable[[float], tuple[float, float]]) -> Callable[[float], Rule]:
    """The qualifies-threshold rule at each allowed share of train positives refused."""
    return lambda t: ThresholdRule(pick(t))


def _fmt(m: tuple[float, float, float]) -> str:
    return " / ".join(f"{v:.3f}" for v in m)


SETS = ("train", "validation", "dev", "seed")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--collect", choices=["train", "validation"])
    parser.add_argument("--collect-dev", action="store_true")
    parser.add_argument("--collect-seed", action="store_true")
    parser.add_argument("--report", action="store_true")
    parser.add_argument(
        "--without-floor", action="store_true", help="collect as before the answering floor"
    )
    parser.add_argument("--report-deletion", action="store_true")
    parser.add_argument("--write", action="store_true", help="write the answer-deletion floor")
    args = parser.parse_args()
    SAVED.mkdir(parents=True, exist_ok=True)
    if args.collect:
        corpus, questions = squad_questions(args.collect)
        limit = int(os.environ.get("ABST_LIMIT", "0")) or None
        rows = collect(corpus, questions[:limit], args.collect, args.without_floor)
        (SAVED / f"{args.collect}.json").write_text(json.dumps(rows), encoding="utf-8")
    elif args.report:
        report()
    elif args.report_deletion:
        report_deletion()
    elif args.write:
        write_floor()
    elif args.collect_dev:
        dev = DATA / "real-docs"
        lines = (dev / "questions.jsonl").read_text(encoding="utf-8").splitlines()
        rows = collect(
            dev / "corpus", [json.loads(line) for line in lines], "dev", args.without_floor
        )
        (SAVED / "dev.json").write_text(json.dumps(rows), encoding="utf-8")
    elif args.collect_seed:
        repo = Path(__file__).resolve().parent.parent
        lines = (repo / "tests/data/seed_questions.jsonl").read_text(encoding="utf-8").splitlines()
        rows = collect(
            repo / "corpus", [json.loads(line) for line in lines], "seed", args.without_floor
        )
        (SAVED / "seed.json").write_text(json.dumps(rows), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
