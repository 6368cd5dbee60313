# xae: two commands on a fresh Debian 12 machine — `make up`, then `make test` (which runs the
# same set-up, so it also proves `make up` works, then lint, types, import contracts and pytest).
SHELL := /bin/bash
VENV := .venv
XAE := $(VENV)/bin/xae
ADMIN := $(VENV)/bin/xae-admin
EXAMPLE := examples/hello-python
EXAMPLE_APP := hello

.PHONY: up setup down test test-unit lint bench

setup:
	./scripts/bootstrap.sh

up: setup
	$(ADMIN) start
	$(ADMIN) bootstrap
	./scripts/deploy-example.sh $(EXAMPLE_APP) $(EXAMPLE)

down:
	$(ADMIN) stop

lint:
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src
	$(VENV)/bin/lint-imports

test-unit:
	$(VENV)/bin/pytest tests/unit -q

test: up lint
	$(VENV)/bin/pytest -q

bench: up
	$(VENV)/bin/python -m bench

# A real single-node Kubernetes from parts (docs/kubernetes-local.md).
.PHONY: k8s-up k8s-down
k8s-up:
	./scripts/k8s-local/up.sh

k8s-down:
	./scripts/k8s-local/down.sh
