# Two commands do all the set-up on a fresh machine (Python 3.11):
#   make demo   virtual environment, install, MNIST, grade the example class
#   make test   the kit's own tests (and the browser of the page tests: scripts/install-chromium.sh)
# Offline, point MNIST_DIR at a folder with the four MNIST idx files (plain or .gz).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test stubs clean

$(BIN)/autograder: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[nbgrader,test,ray]'
	touch $@

demo: $(BIN)/autograder
	$(BIN)/autograder data
	$(BIN)/python examples/make_class.py build/example-class
	$(BIN)/autograder grade build/example-class --out build/example-grades --workers auto

test: $(BIN)/autograder
	scripts/install-chromium.sh
	$(BIN)/python -m pytest

stubs: $(BIN)/autograder
	$(BIN)/autograder stubs

clean:
	rm -rf build $(VENV)
