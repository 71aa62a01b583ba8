# Fleet Portal. `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make run PORT=9000` moves the portal, the Tesla sandbox (PORT+1) and the MQTT broker
# (PORT+2; 1884 with the default 8000) together; SANDBOX_PORT and MQTT_PORT pick others.
PORT ?= 8000
SANDBOX_PORT ?=
MQTT_PORT ?=
DEV_ENV := $(BIN)/python scripts/dev_env.py --port $(PORT) \
	$(if $(SANDBOX_PORT),--sandbox-port $(SANDBOX_PORT)) $(if $(MQTT_PORT),--mqtt-port $(MQTT_PORT))

.PHONY: mutation run test lint format deploy-check install migrate messages compile-messages clean bench e2e demo screenshots rehearsal

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(STAMP)

.env: install
	$(DEV_ENV)

migrate: install
	$(DEV_ENV)
	$(BIN)/python manage.py migrate --no-input -v 0

run: migrate
	@echo
	@echo "  Fleet Portal: http://127.0.0.1:$(PORT)  (Ctrl-C stops the sandbox, web, worker and beat)"
	@echo
	$(BIN)/honcho -f Procfile.dev start

test: install
	$(BIN)/pytest

# The end-to-end journeys in Debian's Chromium (apt-get install chromium); screenshots of
# failures land in test-artifacts/.
e2e: install
	$(BIN)/pytest e2e

# The operator guide's pictures (docs/screenshots/), from a throwaway portal and sandbox;
# ONLY=dashboard,vehicle-390 retakes some (scripts/screenshots.py lists them).
screenshots: install
	$(BIN)/python scripts/screenshots.py $(if $(ONLY),--only $(ONLY))

# lint-imports checks the import graph against the contracts in pyproject.toml (the layers of
# docs/architecture.md).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# `check --deploy` with production settings and production-grade throwaway values made up on
# the spot (PostgreSQL, Redis broker and cache: `check --deploy` connects to none of them).
# The operator guide's steps under production settings against the sandbox, over TLS through
# the nginx example (docs/rehearsal.md): needs PostgreSQL, Redis, nginx; prints "rehearsal passed".
rehearsal:
	bash scripts/rehearse.sh

deploy-check: install
	SECRET_KEY="$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	FIELD_ENCRYPTION_KEYS="$$($(BIN)/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
	ALLOWED_HOSTS=portal.example.com DEBUG=False TESLA_ENV=production \
	DEFAULT_FROM_EMAIL="Fleet Portal <noreply@portal.example.com>" \
	PORTAL_PUBLIC_URL=https://portal.example.com \
	DATABASE_URL=postgres://fleetportal@127.0.0.1:5432/fleetportal \
	CELERY_BROKER_URL=redis://127.0.0.1:6379/0 CACHE_URL=redis://127.0.0.1:6379/1 \
	$(BIN)/python manage.py check --deploy --fail-level WARNING --settings=fleetportal.settings.production

# Extract new strings into every catalogue (needs GNU gettext's xgettext and msgmerge): each
# app's into <app>/locale/, the project's own into locale/. Then scripts/compile_messages.py
# reuses the translation of a string that moved between catalogues, drops obsolete entries and
# compiles every .mo with polib. The .mo files are committed: a fresh machine needs no gettext.
# Translate what is left (Poedit, Weblate, an editor), then `make compile-messages`.
MESSAGES_IGNORE := --ignore=.venv --ignore=var --ignore=sandbox --ignore=staticfiles --ignore=bench --ignore=e2e
messages: install
	$(BIN)/python manage.py makemessages -l zh_Hans --add-location=file $(MESSAGES_IGNORE)
	$(BIN)/python scripts/compile_messages.py

compile-messages: install
	$(BIN)/python scripts/compile_messages.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .import_linter_cache

# Benchmarks print figures (never part of `make test`). They run on the production stack:
# PostgreSQL and Redis on 127.0.0.1, in throwaway databases.
BENCH_ENV := DATABASE_URL=postgres://postgres@127.0.0.1:5432/fleetportal_bench \
	CELERY_BROKER_URL=redis://127.0.0.1:6379/13 CACHE_URL=redis://127.0.0.1:6379/12
bench: install
	$(BENCH_ENV) $(BIN)/python -m bench

# The manual seed workflow (the curl steps the portal replaces, listed in sandbox/demo.py)
# against a fresh in-process sandbox, using only teslafleet/.
demo: install
	$(BIN)/python -m sandbox.demo --embedded

# How many wrong versions of the security-critical modules the tests catch (issue 20): mutmut
# plus a small driver for the kinds it lacks, in a throwaway copy of the tree. About an hour
# on 2 cores, so never part of make test or CI; ONLY=jws,crypto runs some modules.
mutation: install
	$(BIN)/python scripts/mutation.py $(if $(ONLY),--only $(ONLY)) $(if $(MUTANTS),--mutants '$(MUTANTS)')
