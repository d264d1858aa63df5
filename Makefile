# `make run`: set up, migrate, load the demo data and serve on 127.0.0.1:8000 (SQLite, nothing else needed).
# `make test`: set up and run the whole test suite (SQLite unless DATABASE_URL says otherwise).
PY := .venv/bin/python

.PHONY: setup run test lint bench clean

setup:
	@bash scripts/bootstrap.sh

# DEBUG=1: development only (tracebacks, a key kept in var/); production sets SECRET_KEY and leaves DEBUG unset.
# Large files are read and applied on a thread of the server (BULKUPLOAD_TASKS_ON_THREAD) behind the progress page;
# SQLite's write-ahead log lets that page read while the work writes (kept in the database file).
run: setup
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py shell -c "from django.db import connection as c; c.vendor == 'sqlite' and c.cursor().execute('PRAGMA journal_mode=WAL')"
	DEBUG=1 $(PY) manage.py seed_demo
	@echo ""
	@echo "  Open http://127.0.0.1:8000/ and log in as alice (Acme) or bob (Globex); admin for the Django admin."
	@echo "  Password for all three: bulkupload-demo"
	@echo ""
	DEBUG=1 BULKUPLOAD_TASKS_ON_THREAD=1 $(PY) manage.py runserver 127.0.0.1:8000

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf .venv var .pytest_cache
