# xae: two commands on a fresh Debian 12 machine — `make up`, then `make test` (which runs the
# same set-up, so it also proves `make up` works, then lint, types, import contracts and pytest).
SHELL := /bin/bash
VENV := .venv
XAE := $(VENV)/bin/xae
ADMIN := $(VENV)/bin/xae-admin
EXAMPLE := examples/hello-python
EXAMPLE_APP := hello

.PHONY: up setup down test test-unit lint bench k8s-for-tests
K8S_STATE := /var/lib/xae/k8s

setup:
	./scripts/bootstrap.sh

# `make up BACKEND=kubernetes` runs apps on the local cluster (`make k8s-up`) instead of Docker.
BACKEND ?= docker
ifeq ($(BACKEND),kubernetes)
UP_ENV := XAE_BACKEND=kubernetes XAE_KUBECONFIG=$(K8S_STATE)/kubeconfig XAE_REGISTRY=127.0.0.1:5000
UP_DEPS := setup k8s-up
else
UP_ENV := XAE_BACKEND=docker
UP_DEPS := setup
endif

up: $(UP_DEPS)
	$(UP_ENV) $(ADMIN) start
	$(ADMIN) bootstrap
	./scripts/deploy-example.sh $(EXAMPLE_APP) $(EXAMPLE)

down:
	$(ADMIN) stop

lint:
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy src tests
	$(VENV)/bin/lint-imports

# A plain `pytest` runs only this tier (pyproject's `testpaths`); the slow tiers are named by
# path below. The unit tier must keep its coverage: 85 % measured when the floor was last raised.
# Spread over the machine's cores by pytest-xdist (the tier is CPU-bound; coverage is combined).
COVERAGE := --cov=xae --cov-report=term:skip-covered --cov-fail-under=83
UNIT := -n auto
test-unit:
	$(VENV)/bin/pytest tests/unit -q $(UNIT) $(COVERAGE)

# The e2e suite runs once on docker and once on the local Kubernetes cluster. When the cluster
# cannot come up here, its half is skipped with the reason recorded below (the e2e harness
# reads it and says it in every skip).
k8s-for-tests:
	@mkdir -p $(K8S_STATE) && rm -f $(K8S_STATE)/unavailable
	@echo "bringing up the local Kubernetes cluster for the e2e tests (log: $(K8S_STATE)/up.log)"
	@./scripts/k8s-local/up.sh >$(K8S_STATE)/up.log 2>&1 || { \
	  echo "\`make k8s-up\` failed on this machine: $$(grep ERROR $(K8S_STATE)/up.log | tail -1) (log: $(K8S_STATE)/up.log)" >$(K8S_STATE)/unavailable; \
	  cat $(K8S_STATE)/unavailable; }

# The slow tiers run in two workers: the docker e2e lane, and the Kubernetes lane plus the
# fuzzer, integration modules filling in (tests/conftest.py groups them): 30 instead of 48
# minutes here. `make test LANES=` runs them one after another, in one process.
LANES ?= 2
LANE_ARGS := $(if $(LANES),-n $(LANES) --dist loadgroup,)

# What failed e2e tests saw (their apps' objects, the control plane's log on them), printed
# after the slow tiers' summary when they fail, so it ends up at the end of CI's output.
CLUES := /tmp/xae-test-clues.txt

# Every tier: unit (with its coverage floor), then integration (real Docker, nginx, git), then
# e2e on both backends. Any non-zero pytest exit fails the target, 5 (no tests collected) too.
test: up lint k8s-for-tests pebble
	$(VENV)/bin/pytest tests/unit -q $(UNIT) $(COVERAGE)
	@rm -f $(CLUES)
	XAE_TEST_CLUES=$(CLUES) $(VENV)/bin/pytest tests/integration tests/e2e -q --durations=25 \
	  $(LANE_ARGS) || { status=$$?; [ ! -s $(CLUES) ] || tail -c 16000 $(CLUES); exit $$status; }

bench: up
	$(VENV)/bin/python -m bench
	$(VENV)/bin/python -m bench.api_authz
	$(VENV)/bin/python -m bench.router_update
	$(VENV)/bin/python -m bench.build_queue
	$(VENV)/bin/python -m bench.git_push
	$(VENV)/bin/python -m bench.git_cold
	$(VENV)/bin/python -m bench.git_concurrent

# Let's Encrypt's test ACME server for the ACME tests, built once from the Go module proxy and
# cached under /var/cache/xae (the tests start and stop it).
.PHONY: pebble
pebble:
	@./scripts/pebble/build.sh >/dev/null

# A real single-node Kubernetes from parts (docs/kubernetes-local.md).
.PHONY: k8s-up k8s-down
k8s-up:
	./scripts/k8s-local/up.sh

k8s-down:
	./scripts/k8s-local/down.sh
