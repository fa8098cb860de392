# The two commands a new user needs: `make run` and `make test` (see README.md).
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
# gevent workers (gunicorn.conf.py): live streams hold a socket each, not a thread.
SERVE := $(VENV)/bin/gunicorn --config gunicorn.conf.py
PORT ?= 8000
OCPP_PORT ?= 9000
export PORT OCPP_PORT

.PHONY: run test setup system-deps lock typecheck bench load streams

setup: system-deps $(VENV)/.installed

# SpatiaLite for the embedded default; PostGIS when a local PostgreSQL server is installed;
# Chromium for the operator console's browser test, node for its modules' unit tests.
# Another apt run (an unattended upgrade, a second setup) holds dpkg's lock: wait for it, do not fail.
APT = DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=600
system-deps:
	@if ! ldconfig -p | grep -q mod_spatialite; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing SpatiaLite (libsqlite3-mod-spatialite)"; \
	    $(APT) update && $(APT) install -y libsqlite3-mod-spatialite >/dev/null; \
	  else echo "Please install SpatiaLite: sudo apt-get install libsqlite3-mod-spatialite" >&2; exit 1; fi; \
	fi
	@if ! command -v chromium >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Chromium and a CJK font for the console's browser test"; \
	  $(APT) update && $(APT) install -y chromium fonts-wqy-microhei >/dev/null; \
	fi
	@if ! command -v node >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing node for the console's unit tests (node --test)"; \
	  $(APT) update && $(APT) install -y nodejs >/dev/null; \
	fi
	@pg=$$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1); \
	if [ -n "$$pg" ] && [ ! -e /usr/share/postgresql/$$pg/extension/postgis.control ] \
	   && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing PostGIS for the local PostgreSQL $$pg"; \
	  $(APT) update && $(APT) install -y postgresql-$$pg-postgis-3 >/dev/null; \
	fi

# Every package comes from the dev lock (the runtime lock plus the tools) and must match its hash.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --require-hashes --no-deps -r requirements-dev.txt
	touch $@

# The locks pin every package with the hashes of all its files, for CPython 3.11 on Linux x86_64,
# whatever machine runs this. Edit a .in file, then `make lock`: the other pins stay as they are;
# `make lock UPGRADE=1` moves every package to the newest release the .in bounds allow.
LOCK := $(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock: $(VENV)/.installed
	$(LOCK) requirements.in -o requirements.txt
	$(LOCK) requirements-dev.in --constraint requirements.txt -o requirements-dev.txt

# The embedded default runs in development mode, the one mode the public development key is
# accepted in; everywhere else SECRET_KEY must be set.
run: export APP_ENV = development
run: setup
	$(FLASK) db upgrade
	$(FLASK) seed
	@echo "Platform on http://127.0.0.1:$(PORT)  docs: http://127.0.0.1:$(PORT)/docs  spec: http://127.0.0.1:$(PORT)/openapi.json"
	@echo "Chargers (OCPP 2.0.1 / 1.6) on ws://127.0.0.1:$(OCPP_PORT)/ocpp/<identity>"
	# The CSMS is a process of its own beside the web server, and ends with it.
	$(FLASK) ocpp serve --port $(OCPP_PORT) & csms=$$!; \
	trap 'kill $$csms 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
	EMBEDDED_DISPATCH=1 EMBEDDED_JOBS=1 $(SERVE) --access-logfile -

test: setup
	$(PY) -m pytest -q

# The domain packages, settings and package list in pyproject.toml.
typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

bench: setup
	$(PY) -m robotaxi_dispatch.bench $(BENCH_ARGS)  # e.g. BENCH_ARGS="--plot robotaxi_dispatch/dispatch_quality.png"

# Needs PostgreSQL/PostGIS and Redis on 127.0.0.1 (see load/run.py for the knobs).
load: setup
	$(PY) -m load.run

# Thousands of live streams and the telemetry path, measured on 127.0.0.1 (see README, Live streams).
streams: setup
	$(PY) -m load.streams
