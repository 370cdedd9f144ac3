# Two commands do everything on a fresh machine:  make run   and   make test
# Set PYTHON=/path/to/python3.12 to choose the interpreter (Python >= 3.12 is required).
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test quick venv clean tutorials

run: $(STAMP)
	$(VENV)/bin/physml run all

quick: $(STAMP)
	$(VENV)/bin/physml run all --quick

test: $(STAMP)
	$(PY) -m pytest -q

venv: $(STAMP)

# execute tutorials/*.md (full size) and render them, with the physml run reports, to results/tutorials/
tutorials: $(STAMP)
	$(PY) tools/render_tutorials.py

$(STAMP): pyproject.toml setup.py
	@set -e; \
	if [ ! -x "$(PY)" ]; then \
	  interp="$$(sh tools/find-python.sh)"; \
	  echo "creating $(VENV) with $$interp"; \
	  "$$interp" -m venv $(VENV); \
	fi; \
	$(PY) -m pip install -q --upgrade pip; \
	$(PY) -m pip install -q -e ".[test]"; \
	touch $(STAMP)

clean:
	rm -rf $(VENV) results .pytest_cache
