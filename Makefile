# kiln: the two commands for users, plus the steps they are made of.
#
#   make run    build (Release) and run the bundled example model on the default device
#   make test   every test: -DKILN_WERROR=ON build, ctest, then pytest (tests/python)
#
#   make test-full  the full-size models (bert-base, gpt2, t5-small, vit-base, resnet18, ...)
#               and the trained MiniLM on every backend and variant: needs a torch venv and
#               exports the models into ~/.cache/kiln/models first (tests/setup/setup_full.sh)
#   make asan   AddressSanitizer + UBSan build in build-asan: unit tests + malformed-input tests
#   make setup  Debian packages, Python venv and ONNX 1.18 test data, only what is missing
#   make build  configure and build everything in $(BUILD)
#
# BUILD (default build) is where everything goes: the CMake build, the venv, the test data.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
PYTEST_ARGS ?=
# `make test` (and `make build`) turn warnings into errors; `make run` keeps what the cache has
# (off on a fresh build), so that a user's first run does not depend on a warning-free compiler.
WERROR_ARG :=
test build: WERROR_ARG := -DKILN_WERROR=ON

MAKEFLAGS += --no-print-directory

PY      := $(BUILD)/venv/bin/python
EXAMPLE := tests/models/example

# Sanitizer reports must fail loudly: abort (a signal, never a plain exit 1) on the first one;
# the graph is also verified after every optimizer pass there.
SAN_ENV := KILN_VERIFY_PASSES=1 \
           ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=0 \
           UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1

.PHONY: run test test-full asan setup build configure

setup:
	@tests/setup/setup.sh $(BUILD)

configure: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(WERROR_ARG) $(CMAKE_ARGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

run: configure
	@cmake --build $(BUILD) -j $(JOBS) --target kiln
	@$(BUILD)/kiln run $(EXAMPLE)/encoder.onnx --inputs $(EXAMPLE)/inputs \
	  --output-dir $(BUILD)/example-out

test: build
	@rc=0; \
	(cd $(BUILD) && ctest --output-on-failure -j $(JOBS)) || rc=1; \
	KILN_BIN=$(abspath $(BUILD))/kiln $(PY) -m pytest tests/python -q -ra $(PYTEST_ARGS) || rc=1; \
	exit $$rc

test-full: build
	@tests/setup/setup_full.sh $(BUILD)
	@KILN_FULL=1 KILN_BIN=$(abspath $(BUILD))/kiln $(PY) -m pytest tests/python/test_full.py \
	  tests/python/test_real.py -q -ra $(PYTEST_ARGS)

asan: setup
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_WERROR=ON \
	  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" \
	  -DKILN_SANITIZE=address,undefined $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS) --target kiln kiln_tests
	@rc=0; \
	$(SAN_ENV) $(ASAN_BUILD)/tests/kiln_tests --gtest_brief=1 || rc=1; \
	$(SAN_ENV) KILN_BIN=$(abspath $(ASAN_BUILD))/kiln KILN_SANITIZED=1 \
	  $(PY) -m pytest tests/python/test_malformed.py -q -ra $(PYTEST_ARGS) || rc=1; \
	exit $$rc
