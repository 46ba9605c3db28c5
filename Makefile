PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench fashion clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $(VENV)/.installed $@

demo: export OPENBLAS_NUM_THREADS ?= 1
demo: $(VENV)/.installed
	@mkdir -p runs/demo
	$(BIN)/scratchnn train --data digits --model cnn --epochs 15 --batch-size 64 --optimizer adam --lr 2e-3 \
		--schedule cosine --seed 0 --out runs/demo/digits.snn --history runs/demo/history.csv --verbose 2
	$(BIN)/scratchnn evaluate runs/demo/digits.snn --data digits
	$(BIN)/scratchnn datasets --export-digits runs/demo/digits --count 3
	$(BIN)/scratchnn predict runs/demo/digits.snn runs/demo/digits/digits.npy
	$(BIN)/scratchnn export runs/demo/digits.snn runs/demo/digits.onnx \
		|| echo "ONNX export skipped: pip install -e '.[onnx]' onnxruntime"
	@echo "demo files in runs/demo/: digits.snn (model), history.csv (per-epoch figures),"
	@echo "  digits/ (three test digits: PNGs, digits.npy, labels.npy), digits.onnx (the model as ONNX)"

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q --durations=15

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks examples tools
	$(BIN)/python tools/check_sizes.py src/scratchnn

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/mlp.py
	$(BIN)/python benchmarks/cnn.py

fashion:
	apt-get install -y dataset-fashion-mnist || (apt-get update && apt-get install -y dataset-fashion-mnist)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info digits.snn
