# The two commands: `make demo` (set up, train, serve, send a sample request) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Nothing here may reach a model hub or phone home.
export MLFLOW_DISABLE_TELEMETRY := true
export BENTOML_DO_NOT_TRACK := true
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false

.PHONY: install demo serve test bench data clean help
.DEFAULT_GOAL := help

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==24.3.1
	# torch first: this exact pin takes the local CPU wheel instead of CUDA builds from the index
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,spark]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install pinned dependencies (once)

demo: install  ## generate sample data, train + register + promote, serve, send a request, stop
	$(BIN)/hybrid demo

serve: install  ## run the service in the foreground on localhost:3000 (trains first if needed)
	@test -f mlruns/mlflow.db || $(BIN)/hybrid train intent
	$(BIN)/hybrid serve

test: install  ## run the test suite
	$(BIN)/python -m pytest

bench: install  ## benchmarks on ../shared/data (results in bench/results/; about 150 minutes)
	$(BIN)/python bench/intent.py
	$(BIN)/python bench/sentiment.py
	$(BIN)/python bench/ner.py
	$(BIN)/python bench/nab.py --grid '{"long_window": [288, 1000, 2000], "quiet": [75, 100, 150], "average": [10, 30]}'
	$(BIN)/python bench/m4.py
	$(BIN)/python bench/scifact.py --scale 100000,1000000
	$(BIN)/python bench/router.py
	$(BIN)/python bench/injection.py
	$(BIN)/python bench/cache.py
	$(BIN)/python bench/ask.py
	$(BIN)/python bench/dispatcher.py
	$(BIN)/python bench/hybrid.py
	$(BIN)/hybrid register pipeline
	$(BIN)/python bench/serving.py

data: install  ## (re)generate the bundled sample data in data/sample/
	$(BIN)/hybrid data

clean:  ## remove the venv, the MLflow store and generated data
	rm -rf $(VENV) mlruns/mlflow.db mlruns/artifacts mlruns/*.log data/sample
