# pipsim - setup, build, test, bench, demo.  Every target sets up what it needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SOURCES := pyproject.toml setup.py pipkernel/_build.py pipkernel/abi.py pipkernel/abi_headers.py \
           $(wildcard pipkernel/c/*.c) $(wildcard pipkernel/c/*.h)

.PHONY: setup build run chain test typecheck test-deep test-sanitize test-compat bench clean firmware firmware-toolchain docs

setup: $(STAMP) firmware

# Debian's gcc-arm-none-eabi (--no-install-recommends); nothing happens when it is there
firmware-toolchain:
	@firmware/setup-toolchain.sh >&2

firmware: firmware-toolchain $(STAMP)
	@$(MAKE) -s --no-print-directory -C firmware PY=$(abspath $(PY)) >&2

# (re)install the package in editable mode; this compiles the C core through cffi
$(STAMP): $(SOURCES) tools/setup-system.sh pipkernel/needs.py
	@PYTHON=$(PYTHON) tools/setup-system.sh >&2
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "setup: installing the package and its dependencies into $(VENV)" >&2
	@$(PY) -m pip install --quiet --upgrade pip >&2
	@$(PY) -m pip install --quiet -e ".[$$($(PYTHON) -P pipkernel/needs.py extras test)]" >&2
	@touch $@

build: setup

run: setup
	$(VENV)/bin/pipsim run

chain: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" tools/chain-demo.sh

# the suite on pytest-xdist workers (TEST_WORKERS=0: in one process); a file's tests share
# one worker, so its module fixtures are made once (docs/testing-kit.md)
TEST_WORKERS ?= auto
XDIST = -n $(TEST_WORKERS) --dist loadfile

test: setup
	$(PY) -m pytest -q $(XDIST)

# mypy on the public API (pyproject.toml [tool.mypy])
typecheck: setup
	$(PY) tools/typecheck.py

test-deep: setup
	HYPOTHESIS_PROFILE=deep $(PY) -m pytest -q $(XDIST)

# the core built with AddressSanitizer + UBSan, in a venv of its own
ASAN_VENV := .venv-sanitize
test-sanitize: setup
	@test -x $(ASAN_VENV)/bin/python || $(PYTHON) -m venv $(ASAN_VENV)
	PIPSIM_SANITIZE=1 $(ASAN_VENV)/bin/python -m pip install --quiet --force-reinstall --no-deps .
	$(ASAN_VENV)/bin/python -m pip install --quiet '.[test]'
	cd tests && PIPSIM_FIRMWARE_BUILD=$(abspath firmware/build) \
	  PYTHONPATH=$(abspath tools/sanitize) \
	  LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ../$(ASAN_VENV)/bin/python -m pytest -q -p no:cacheprovider $(XDIST) kernel properties machine
# (tools/sanitize/sitecustomize.py: capstone loads without RTLD_DEEPBIND, which ASan refuses)

# the lowest cbor2 allowed, and python-cwt's tokens both ways (tools/test-compat.sh)
test-compat: setup
	PYTHON=$(PYTHON) tools/test-compat.sh

# make bench also compares the zig toolchain's images with GCC's (bench/bench_toolchains.py)
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	@echo "bench: installing the zig extra into $(VENV)" >&2
	@$(PY) -m pip install --quiet -e '.[zig]' >&2
	@touch $@

bench: setup $(BENCH_STAMP)
	$(PY) bench/run.py

# the documentation site (mkdocs.yml) into site/; strict: a broken link, anchor or reference fails
DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): $(STAMP)
	@echo "docs: installing the docs extra into $(VENV)" >&2
	@$(PY) -m pip install --quiet -e '.[docs]' >&2
	@touch $@

docs: setup $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean:
	-$(MAKE) -C firmware clean
	rm -rf $(VENV) $(ASAN_VENV) .venv-compat build site *.egg-info pipkernel/*.so pipkernel/_pipcore.c \
	       pipkernel/*.o pipkernel/c/*.o pipkernel/c/pip_abi.h
