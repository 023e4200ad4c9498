# make chat: set up and open the REPL on corpus/.   make test: set up and run every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-from-pyproject
NODE_STAMP := tests/node_modules/.installed-from-lock
SEED_QUESTIONS := tests/data/seed_questions.jsonl

# Quality gate on the seed question set with the offline backend (deterministic, no LLM judge).
# These floors sit just under what the extractive backend measures now (0.786 / 1.000 / 0.773 /
# 0.107, 2026-12-03, with the answering floor fitted on SQuAD answer deletions): one answer fewer
# (43/56), one refusal fewer (16/22) or one more answerable question refused (7/56) fails. Its
# thresholds are fitted on SQuAD train and chosen on validation articles, not on these questions
# (README, benchmarks/README.md).
EVAL_GATE := --fail-under answer_accuracy=0.78 --fail-under right_source_rate=0.95 \
	--fail-under abstention_recall=0.75 --fail-under false_abstention_rate=0.11 \
	--fail-under citation_validity=1.0 --fail-under hit@4=0.95

# The same gate on SQuAD 2.0 validation articles (benchmarks/data/squad-v2-validation.json, never
# used for fitting): 150 questions spread over the file, answerable and not, as an open corpus.
# Measured 2026-12-03 (75 answerable, 75 not), at the day's end: accuracy 0.813, abstention recall
# 0.173, false abstention 0.120. A venv installed afresh once moved this sample by one refusal
# (0.147 -> 0.133 on 2026-12-02, same code, package versions within pyproject's ranges), so the
# floors give that one question: they fail on two answers fewer, two refusals fewer, or one more
# answerable question refused.
SQUAD_GATE := --sample 150 --skip-retrieval --out .citebot/eval-squad \
	--fail-under answer_accuracy=0.80 --fail-under abstention_recall=0.14 \
	--fail-under false_abstention_rate=0.13

.PHONY: setup chat test lint eval clean

setup: $(STAMP)

# Re-install only when pyproject.toml changed. torch comes first, pinned: on this machine pip
# finds a CPU build of 2.13.0, while a bare `torch` requirement would pull GBs of CUDA packages.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The Telegram Bot API emulator used by the end-to-end tests (pinned in tests/package-lock.json).
$(NODE_STAMP): tests/package-lock.json
	npm ci --prefix tests --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

chat: $(STAMP)
	$(BIN)/citebot chat

lint: $(STAMP)
	$(BIN)/ruff check bot retrieval tests benchmarks
	$(BIN)/ruff format --check bot retrieval tests benchmarks
	$(BIN)/mypy

eval: $(STAMP)
	$(BIN)/citebot eval $(SEED_QUESTIONS) --backend extractive --out .citebot/eval-seed --quiet $(EVAL_GATE)
	$(BIN)/python benchmarks/answer_squad.py $(SQUAD_GATE)

test: $(STAMP) $(NODE_STAMP) lint
	$(BIN)/pytest
	$(MAKE) --no-print-directory eval

clean:
	rm -rf $(VENV) .citebot .pytest_cache .mypy_cache tests/node_modules
