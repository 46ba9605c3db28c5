PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench docs docs-serve fashion clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $(VENV)/.installed $@

# The demo uses Pillow (the PNG digits), onnx (the export) and onnxruntime (the export's check): it installs
# them, and stops with the install command if one is still missing.
$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[image,onnx]' onnxruntime
	touch $(VENV)/.installed $@

DEMO := runs/demo
DEMO_FILES := $(DEMO)/digits.snn $(DEMO)/history.csv $(DEMO)/digits/digits.npy $(DEMO)/digits/labels.npy \
	$(DEMO)/digits/digit-0-label-3.png $(DEMO)/digits/digit-1-label-8.png $(DEMO)/digits/digit-2-label-8.png \
	$(DEMO)/digits.onnx

demo: export OPENBLAS_NUM_THREADS ?= 1
demo: $(VENV)/.installed-demo
	@$(BIN)/python -c "import PIL, onnx, onnxruntime" 2>/dev/null || { echo "make demo needs Pillow, onnx and \
	onnxruntime: $(BIN)/pip install -e '.[image,onnx]' onnxruntime" >&2; exit 1; }
	@mkdir -p $(DEMO)
	$(BIN)/scratchnn train --data digits --model cnn --epochs 15 --batch-size 64 --optimizer adam --lr 2e-3 \
		--schedule cosine --seed 0 --out $(DEMO)/digits.snn --history $(DEMO)/history.csv --verbose 2
	$(BIN)/scratchnn evaluate $(DEMO)/digits.snn --data digits
	$(BIN)/scratchnn datasets --export-digits $(DEMO)/digits --count 3
	$(BIN)/scratchnn predict $(DEMO)/digits.snn $(DEMO)/digits/digit-0-label-3.png $(DEMO)/digits/digits.npy
	$(BIN)/scratchnn export $(DEMO)/digits.snn $(DEMO)/digits.onnx
	@for file in $(DEMO_FILES); do test -f $$file || { echo "make demo: $$file was not written" >&2; exit 1; }; done
	@echo
	@echo "The demo wrote, in $(DEMO)/:"
	@echo "  digits.snn   the trained CNN (architecture, weights, optimizer state)"
	@echo "  history.csv  loss and accuracy per epoch"
	@echo "  digits/      three test digits: digit-0-label-3.png, digit-1-label-8.png, digit-2-label-8.png,"
	@echo "               digits.npy (the same three as an array), labels.npy"
	@echo "  digits.onnx  the model as ONNX, checked against onnxruntime"
	@echo
	@echo "Next, try (after: source .venv/bin/activate):"
	@echo "  1. scratchnn explain $(DEMO)/digits.snn $(DEMO)/digits/digit-0-label-3.png --out $(DEMO)/explain.png"
	@echo "     which pixels the prediction rests on (needs matplotlib: pip install -e '.[plot]')"
	@echo "  2. scratchnn predict $(DEMO)/digits.snn YOUR_DIGIT.png   a digit you drew, dark ink on white paper"
	@echo "  3. make docs, then open site/index.html: the guide, the seed tutorials and the API reference"
	@echo "  or serve it: pip install -e '.[serve]' && scratchnn serve $(DEMO)/digits.snn, then open"
	@echo "     http://127.0.0.1:8000/ (draw a digit, watch a network learn in the playground; the API at /docs)"

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q --durations=15

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks examples tools
	$(BIN)/python tools/check_sizes.py src/scratchnn

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench.py --repeats 3 --plot docs/images/bench_ratio.png

$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[docs]'
	touch $(VENV)/.installed $@

docs: $(VENV)/.installed-docs
	$(BIN)/mkdocs build --strict

docs-serve: $(VENV)/.installed-docs
	$(BIN)/mkdocs serve

fashion:
	apt-get install -y dataset-fashion-mnist || (apt-get update && apt-get install -y dataset-fashion-mnist)

clean:
	rm -rf $(VENV) build site *.egg-info src/*.egg-info digits.snn
