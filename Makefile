# The two commands a new user needs: `make run` and `make test` (see README.md).
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
PORT ?= 8000
export PORT

.PHONY: run test setup system-deps bench load

setup: system-deps $(VENV)/.installed

# SpatiaLite for the embedded default; PostGIS when a local PostgreSQL server is installed;
# Chromium for the operator console's browser test.
system-deps:
	@if ! ldconfig -p | grep -q mod_spatialite; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing SpatiaLite (libsqlite3-mod-spatialite)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsqlite3-mod-spatialite >/dev/null; \
	  else echo "Please install SpatiaLite: sudo apt-get install libsqlite3-mod-spatialite" >&2; exit 1; fi; \
	fi
	@if ! command -v chromium >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Chromium and a CJK font for the console's browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	fi
	@pg=$$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1); \
	if [ -n "$$pg" ] && [ ! -e /usr/share/postgresql/$$pg/extension/postgis.control ] \
	   && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing PostGIS for the local PostgreSQL $$pg"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-$$pg-postgis-3 >/dev/null; \
	fi

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: setup
	$(FLASK) db upgrade
	$(FLASK) seed
	@echo "Platform on http://127.0.0.1:$(PORT)  docs: http://127.0.0.1:$(PORT)/docs  spec: http://127.0.0.1:$(PORT)/openapi.json"
	EMBEDDED_DISPATCH=1 $(VENV)/bin/gunicorn --bind 127.0.0.1:$(PORT) --workers 1 --threads 16 --worker-class gthread \
	  --timeout 120 --access-logfile - wsgi:app

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) -m robotaxi_dispatch.bench

# Needs PostgreSQL/PostGIS and Redis on 127.0.0.1 (see load/run.py for the knobs).
load: setup
	$(PY) -m load.run
