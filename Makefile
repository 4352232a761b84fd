# Two commands do everything: `make run` and `make test`. The rest are their steps.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_TEST_URL := postgresql+asyncpg://postgres@127.0.0.1:5432/test

.PHONY: run test setup browser migrate messages clean

# With a token, `loa run --prepare` migrates the bot's database and imports the areas first (what
# `make migrate` does); without one it starts the sandbox, which never touches data/loa.db.
run: setup
	$(BIN)/loa run --prepare

# The linter first (its rules are in pyproject.toml), then the suite.
test: migrate browser
	$(BIN)/ruff check .
	@if [ -z "$$TEST_DATABASE_URL" ] && $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null; then \
		echo "PostgreSQL answers on 127.0.0.1:5432: the suite runs on SQLite and PostgreSQL"; \
		export TEST_DATABASE_URL=$(PG_TEST_URL); \
	fi; \
	$(BIN)/pytest

setup: $(VENV)/.installed

# Debian's chromium, which the browser tests drive with Playwright (it never downloads one of its
# own; LOA_CHROMIUM names another binary), and an emoji font for the screenshots of the chats.
# `make test` installs them when chromium is missing (`make run` does not: a server needs no
# browser); when it cannot, the browser tests fail, saying so.
browser:
	@[ -n "$$LOA_CHROMIUM" ] || command -v chromium >/dev/null || { \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-color-emoji; \
	} || echo "Could not install chromium: run 'apt-get install chromium' as root (or set LOA_CHROMIUM to a Chromium binary), or the browser tests fail" >&2

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Loa needs Python 3.11 or newer ($(PYTHON) is older); set PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

migrate: setup
	$(BIN)/loa db upgrade
	$(BIN)/loa areas import storage/seed/vn-admin-units-2025

# After changing user-facing strings: refresh the template and both catalogs, then translate.
messages: setup
	$(BIN)/pybabel extract -F babel.cfg --no-location --omit-header -o kernel/locales/messages.pot .
	$(BIN)/pybabel update -i kernel/locales/messages.pot -d kernel/locales --ignore-obsolete --no-fuzzy-matching --width 100

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
