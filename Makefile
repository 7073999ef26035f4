# Two entry points for a fresh machine: `make demo` and `make test` (each installs first).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: install demo test bench clean-venv

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# MAP-Elites on the shipped MNIST LeNet, direct and CPPN genomes: all 10 digits to >= 99.99%.
demo: install
	$(BIN)/evodream evolve --model lenet-mnist --encoding direct --algorithm map-elites --target all
	$(BIN)/evodream evolve --model lenet-mnist --encoding cppn --algorithm map-elites --target all

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python scripts/bench.py

clean-venv:
	rm -rf $(VENV)
