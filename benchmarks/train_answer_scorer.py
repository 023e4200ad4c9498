"""Train a cross-encoder from the bundled MiniLM weights that scores P(sentence answers question).

Usage (the runs recorded in benchmarks/README.md, "A cross-encoder answer scorer"):
  .venv/bin/python benchmarks/fit_extractive.py --collect train          # candidates, once
  .venv/bin/python benchmarks/fit_extractive.py --collect validation
  .venv/bin/python benchmarks/train_answer_scorer.py --measure 8         # time a few steps
  .venv/bin/python benchmarks/train_answer_scorer.py --epochs 3 --trained-layers 3
  .venv/bin/python benchmarks/train_answer_scorer.py --epochs 2 --trained-layers 3 --listwise \
      --lr 1e-4 --name listwise
  .venv/bin/python benchmarks/train_answer_scorer.py --epochs 2 --trained-layers 6 --listwise \
      --lr 5e-5 --near 2 --name full
  .venv/bin/python benchmarks/train_answer_scorer.py --trained-layers 3 \
      --score benchmarks/out/answer_scorer/epoch3.safetensors        # [--top 8]
  .venv/bin/python benchmarks/fit_extractive.py --answer-scorer epoch3   # the variants

Data: SQuAD 2.0 train articles only (benchmarks/data/squad-v2-train.json). The articles named by
`--fit-articles` are trained on; the others (`--dev-articles`, by default Imperialism) are held
out to choose the epoch and each variant's thresholds, so validation stays for the go/no-go. Each
question is paired with its paragraph's sentences (the project's splitter,
retrieval/text/sentences.py): for an answerable question the sentence holding the answer is the
positive, and the other sentences are negatives; the sentences of an unanswerable question's
paragraph are negatives, its plausible-but-wrong answer's sentence always among them. Negatives
are capped per question: the `--near` with most word overlap with the question, plus one at
random. So the probability is trained as an answerability signal, not only a ranking one.
`--listwise` batches whole questions and adds a softmax loss of each answerable question's
answer sentence against its other sentences.

The model: MiniLM's encoder over "[CLS] question [SEP] sentence [SEP]", mean-pooled, a linear
head. The embeddings always stay MiniLM's (checksummed); with `--trained-layers` below 6 the
lower layers do too. Their output is computed once per pair, and only the top `--trained-layers`
layers and the head are trained and saved, in fp16 (safetensors): 3 layers trained at 1.4-3.5 s
a step (batch 32) on 2 shared CPUs, all 6 at 2-2.1 s on a quiet machine, 10 s under load. `--score` scores the candidate sentences that benchmarks/fit_extractive.py
--collect saved for a split (the service's retrieval; of train, only the dev articles'), all of
them or, with `--top N`, each part's best N by the hand-set score (what the service would
rescore), and writes the probabilities for the simulation there. The test split is never read.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATA = Path(__file__).resolve().parent / "data"
OUT = Path(__file__).resolve().parent / "out" / "answer_scorer"
SAVED = Path(__file__).resolve().parent / "out" / "fit"
TRAIN_ARTICLES = ("Normans", "Huguenot", "Yuan_dynasty", "Imperialism")


def paragraph_pairs(
    article_names: set[str], *, near: int, seed: int
) -> list[tuple[str, str, float, str]]:
    """(question, sentence, label, question id) pairs from the named train articles."""
    from retrieval.text.sentences import sentence_spans
    from retrieval.text.terms import content_terms

    rng = random.Random(seed)
    pairs: list[tuple[str, str, float, str]] = []
    data = json.loads((DATA / "squad-v2-train.json").read_text(encoding="utf-8"))["data"]
    for article in data:
        if article["title"] not in article_names:
            continue
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            spans = sentence_spans(context)
            sentences = [context[s:e] for s, e in spans]
            terms = [set(content_terms(s)) for s in sentences]
            for qa in paragraph["qas"]:
                answers = [a for a in qa["answers"] if a["text"].strip()]
                answerable = bool(answers) and not qa.get("is_impossible")
                shown = answers[0] if answerable else (qa.get("plausible_answers") or [None])[0]
                # The sentence holding the (plausible) answer's start.
                held = None
                if shown is not None:
                    held = next(
                        (i for i, (s, e) in enumerate(spans) if s <= shown["answer_start"] < e),
                        None,
                    )
                asked = set(content_terms(qa["question"]))
                others = [i for i in range(len(sentences)) if i != held]
                others.sort(key=lambda i: -len(asked & terms[i]))
                chosen = others[:near]
                rest = others[near:]
                if rest:
                    chosen.append(rng.choice(rest))
                if held is not None:
                    label = 1.0 if answerable else 0.0
                    pairs.append((qa["question"], sentences[held], label, qa["id"]))
                pairs += [(qa["question"], sentences[i], 0.0, qa["id"]) for i in chosen]
    return pairs


class AnswerScorerModel:
    """MiniLM's encoder with a linear head on the mean-pooled pair (built lazily: torch)."""

    def __init__(self, max_tokens: int, trained_layers: int) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from retrieval.embeddings import minilm_model_dir, verify_weights

        folder = minilm_model_dir()
        verify_weights(folder / "model.safetensors")
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.encoder = AutoModel.from_pretrained(str(folder), local_files_only=True)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)
        self.max_tokens = max_tokens
        # Only the top `trained_layers` layers learn: the rest (and the embeddings) keep MiniLM's
        # weights, so their output can be computed once per pair and the checkpoint stays small.
        self.frozen_layers = self.encoder.config.num_hidden_layers - trained_layers
        for parameter in self.encoder.embeddings.parameters():
            parameter.requires_grad = False
        for layer in self.encoder.encoder.layer[: self.frozen_layers]:
            for parameter in layer.parameters():
                parameter.requires_grad = False

    def parameters(self) -> list[Any]:
        """The trained tensors."""
        return [p for p in self.encoder.parameters() if p.requires_grad] + list(
            self.head.parameters()
        )

    def trained_state(self) -> dict[str, Any]:
        """The trained tensors by name, fp16 (what a checkpoint holds)."""
        frozen = {f"encoder.{n}" for n, p in self.encoder.named_parameters() if not p.requires_grad}
        state = {f"encoder.{k}": v for k, v in self.encoder.state_dict().items()}
        state |= {f"head.{k}": v for k, v in self.head.state_dict().items()}
        return {
            k: v.detach().half().contiguous()
            for k, v in state.items()
            if k not in frozen and "position_ids" not in k
        }

    def load_trained(self, path: Path) -> None:
        """Load a checkpoint's trained tensors over the bundled ones."""
        from safetensors.torch import load_file

        state = load_file(str(path))
        encoder = {
            k[len("encoder.") :]: v.float() for k, v in state.items() if k.startswith("encoder.")
        }
        head = {k[len("head.") :]: v.float() for k, v in state.items() if k.startswith("head.")}
        self.encoder.load_state_dict(encoder, strict=False)
        self.head.load_state_dict(head)

    def train(self, mode: bool = True) -> None:
        """Training or inference mode (dropout)."""
        self.encoder.train(mode)
        self.head.train(mode)

    def tokens(self, questions: list[str], sentences: list[str]) -> Any:
        """The pairs as model input, padded to the longest."""
        return self.tokenizer(
            questions,
            sentences,
            truncation="longest_first",
            max_length=self.max_tokens,
            padding=True,
            return_tensors="pt",
        )

    def lower(self, batch: Any) -> Any:
        """The frozen embeddings' and layers' output for a batch of pairs."""
        from transformers.masking_utils import create_bidirectional_mask

        hidden = self.encoder.embeddings(
            input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"]
        )
        mask = create_bidirectional_mask(
            config=self.encoder.config, inputs_embeds=hidden, attention_mask=batch["attention_mask"]
        )
        for layer in self.encoder.encoder.layer[: self.frozen_layers]:
            hidden = layer(hidden, mask)
        return hidden

    def upper(self, hidden: Any, attention_mask: Any) -> Any:
        """One logit per pair from the frozen layers' output: the trained layers, pooled, the head."""
        from transformers.masking_utils import create_bidirectional_mask

        mask = create_bidirectional_mask(
            config=self.encoder.config, inputs_embeds=hidden, attention_mask=attention_mask
        )
        for layer in self.encoder.encoder.layer[self.frozen_layers :]:
            hidden = layer(hidden, mask)
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return self.head(pooled).squeeze(-1)

    def logits(self, questions: list[str], sentences: list[str]) -> Any:
        """One logit per pair."""
        batch = self.tokens(questions, sentences)
        return self.upper(self.lower(batch), batch["attention_mask"])

    def probabilities(
        self, questions: list[str], sentences: list[str], batch: int = 64
    ) -> list[float]:
        """P(sentence answers question) for each pair."""
        torch = self.torch
        self.train(False)
        out: list[float] = []
        with torch.inference_mode():
            for start in range(0, len(questions), batch):
                logits = self.logits(
                    questions[start : start + batch], sentences[start : start + batch]
                )
                out += torch.sigmoid(logits).tolist()
        return out


def dev_report(
    model: AnswerScorerModel, pairs: list[tuple[str, str, float, str]]
) -> dict[str, float]:
    """On held-out pairs: top-1 holds the answer (answerable), and how well the question's best
    probability separates answerable from unanswerable questions (AUC)."""
    probabilities = model.probabilities([p[0] for p in pairs], [p[1] for p in pairs])
    by_question: dict[str, list[tuple[float, float]]] = {}
    for (_, _, label, qid), p in zip(pairs, probabilities, strict=True):
        by_question.setdefault(qid, []).append((p, label))
    top1: list[float] = []
    best_answerable: list[float] = []
    best_unanswerable: list[float] = []
    for rows in by_question.values():
        best = max(rows)
        if any(label for _, label in rows):
            top1.append(best[1])
            best_answerable.append(best[0])
        else:
            best_unanswerable.append(best[0])
    wins = sum((a > u) + 0.5 * (a == u) for a in best_answerable for u in best_unanswerable) / max(
        len(best_answerable) * len(best_unanswerable), 1
    )
    return {"top1": sum(top1) / max(len(top1), 1), "answerability_auc": wins}


def train(args: argparse.Namespace) -> None:
    """Fit on the fit articles, report on the dev articles after each epoch, save checkpoints."""
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)
    fit = paragraph_pairs(set(args.fit_articles), near=args.near, seed=args.seed)
    dev = paragraph_pairs(set(args.dev_articles), near=args.near, seed=args.seed)
    positives = sum(p[2] for p in fit)
    print(f"pairs: fit {len(fit)} ({positives:.0f} positive), dev {len(dev)}", flush=True)
    model = AnswerScorerModel(args.max_tokens, args.trained_layers)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    steps_per_epoch = (len(fit) + args.batch - 1) // args.batch
    total = steps_per_epoch * args.epochs
    warmup = max(1, total // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / (total - warmup)))
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    rng = random.Random(args.seed)
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # Batches of pairs of similar length (less padding), each with its frozen layers' output,
    # computed once; each epoch visits the batches in a new order.
    # With --listwise a batch holds whole questions instead (their candidates compete).
    if args.listwise:
        by_question: dict[str, list[int]] = {}
        for i, pair in enumerate(fit):
            by_question.setdefault(pair[3], []).append(i)
        groups = list(by_question.values())
        rng.shuffle(groups)
        spans: list[list[int]] = [[]]
        for group in groups:
            if len(spans[-1]) >= args.batch:
                spans.append([])
            spans[-1] += group
    else:
        lengths = [len(model.tokenizer(q, s)["input_ids"]) for q, s, _, _ in fit]
        order = sorted(range(len(fit)), key=lambda i: (lengths[i], rng.random()))
        spans = [order[start : start + args.batch] for start in range(0, len(order), args.batch)]
    batches: list[tuple[Any, Any, Any, list[list[int]]]] = []
    model.train(False)
    for span in spans[: args.measure or None]:
        rows = [fit[i] for i in span]
        batch = model.tokens([r[0] for r in rows], [r[1] for r in rows])
        with torch.inference_mode():
            hidden = model.lower(batch)
        members: dict[str, list[int]] = {}
        for position, row in enumerate(rows):
            members.setdefault(row[3], []).append(position)
        answered = [m for m in members.values() if any(rows[i][2] for i in m)]
        batches.append(
            (hidden.clone(), batch["attention_mask"], torch.tensor([r[2] for r in rows]), answered)
        )
    print(
        f"frozen layers' output: {len(batches)} batches in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    step = 0
    started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train(True)
        visit = list(range(len(batches)))
        rng.shuffle(visit)
        for index in visit:
            hidden, attention_mask, labels, answered = batches[index]
            logits = model.upper(hidden, attention_mask)
            loss = loss_fn(logits, labels)
            if args.listwise and answered:
                # Each answerable question's answer sentence against its other sentences.
                loss = loss + sum(
                    torch.nn.functional.cross_entropy(
                        logits[m].unsqueeze(0), labels[m].argmax().unsqueeze(0)
                    )
                    for m in answered
                ) / len(answered)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            step += 1
            if step % 20 == 0 or (args.measure and step <= args.measure):
                elapsed = time.perf_counter() - started
                print(
                    f"epoch {epoch} step {step}/{total} loss {loss.item():.3f} "
                    f"{elapsed / step:.2f} s/step",
                    flush=True,
                )
            if args.measure and step >= args.measure:
                print(
                    f"measured: {(time.perf_counter() - started) / step:.2f} s/step at batch "
                    f"{args.batch}, {args.max_tokens} tokens, {args.threads} threads, "
                    f"{args.trained_layers} trained layers; an epoch is {steps_per_epoch} steps"
                )
                return
        path = OUT / f"{args.name}{epoch}.safetensors"
        save_file(model.trained_state(), str(path))
        report = dev_report(model, dev)
        print(
            f"epoch {epoch}: {time.perf_counter() - started:.0f} s, dev top-1 {report['top1']:.3f}, "
            f"answerability AUC {report['answerability_auc']:.3f}, saved {path} "
            f"({path.stat().st_size / 1e6:.1f} MB)",
            flush=True,
        )


def score(args: argparse.Namespace) -> None:
    """Each collected candidate's probability, for benchmarks/fit_extractive.py's simulation."""
    import numpy as np
    import torch
    from fit_extractive import HAND_SET

    torch.set_num_threads(args.threads)
    model = AnswerScorerModel(args.max_tokens, args.trained_layers)
    model.load_trained(Path(args.score))
    for split in args.splits:
        questions = json.loads((SAVED / f"{split}-features.json").read_text(encoding="utf-8"))
        # Of the train split, only the dev articles' questions: the model trained on the others.
        articles = [
            article["title"]
            for article in json.loads(
                (DATA / f"squad-v2-{split}.json").read_text(encoding="utf-8")
            )["data"]
            for paragraph in article["paragraphs"]
            for _ in paragraph["qas"]
        ]
        wanted = [split != "train" or title in args.dev_articles for title in articles]
        # With --top, only each part's best candidates by the hand-set score (what the service
        # would rescore); the others get probability 0.
        asked: list[str] = []
        texts: list[str] = []
        chosen: list[list[set[int]]] = []
        for q, keep in zip(questions, wanted, strict=True):
            chosen.append([])
            for part in q["parts"] if keep else []:
                indices = set(range(len(part["texts"])))
                if args.top and part["candidates"]:
                    features = np.asarray(part["candidates"], dtype=np.float64)[:, :-1]
                    indices = set(np.argsort(-HAND_SET.scores(features), kind="stable")[: args.top])
                chosen[-1].append(indices)
                asked += [part["question"]] * len(indices)
                texts += [t for i, t in enumerate(part["texts"]) if i in indices]
        started = time.perf_counter()
        probabilities = iter(model.probabilities(asked, texts))
        scored = [
            [
                [next(probabilities) if i in indices else 0.0 for i in range(len(part["texts"]))]
                for part, indices in zip(q["parts"], kept, strict=True)
            ]
            if keep
            else None
            for q, keep, kept in zip(questions, wanted, chosen, strict=True)
        ]
        name = Path(args.score).stem
        path = SAVED / f"{split}-{name}-probabilities.json"
        path.write_text(json.dumps(scored), encoding="utf-8")
        print(f"{split}: {len(texts)} pairs in {time.perf_counter() - started:.0f} s -> {path}")


def main() -> None:
    """Train, time or score."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fit-articles", nargs="+", default=list(TRAIN_ARTICLES[:3]))
    parser.add_argument("--dev-articles", nargs="+", default=list(TRAIN_ARTICLES[3:]))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--near", type=int, default=3, help="Most-overlapping negatives kept.")
    parser.add_argument("--trained-layers", type=int, default=2, help="Top layers trained.")
    parser.add_argument(
        "--listwise", action="store_true", help="Batches of whole questions, plus a softmax loss."
    )
    parser.add_argument("--name", default="epoch", help="Checkpoint name prefix.")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--measure", type=int, default=0, help="Time this many steps and stop.")
    parser.add_argument("--score", help="A checkpoint: score the collected candidates with it.")
    parser.add_argument("--top", type=int, default=0, help="Score only the best N per part.")
    parser.add_argument("--splits", nargs="+", default=["train", "validation"])
    args = parser.parse_args()
    if set(args.fit_articles) & set(args.dev_articles) or not set(
        args.fit_articles + args.dev_articles
    ) <= set(TRAIN_ARTICLES):
        raise SystemExit("fit and dev articles must be distinct train articles")
    if args.score:
        score(args)
    else:
        train(args)


if __name__ == "__main__":
    main()
