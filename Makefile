# Shortcuts; each target is one of the scripts in scripts/.
PG_URL ?= postgres://postgres@127.0.0.1:5432/helpdesk
REDIS ?= redis://127.0.0.1:6379/0

.PHONY: run test test-pg lint fmt bench ci

run:
	scripts/run

test:
	scripts/test

test-pg:
	DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS) scripts/test

lint:
	scripts/setup --dev
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports
	.venv/bin/mypy

fmt:
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

bench:
	.venv/bin/python bench/api_bench.py

ci:
	bash .ci/run
