# The two commands a new user needs are `make demo` and `make test`; both install first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint demo bench clean browser redis

# The web console's chart library and the API page's Swagger UI (/docs), from the npm registry
# at the versions ui/package-lock.json pins, copied into the package (git-ignored): every file
# the console and /docs use is served locally. Install scripts are not run (none is needed;
# swagger-ui-dist's dependency @scarf/scarf would only report the install).
VENDOR := src/attune/server/console/static/vendor
VENDOR_STAMP := $(VENDOR)/.built
CHROMIUM := /usr/bin/chromium
REDIS_SERVER := /usr/bin/redis-server
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get

install: $(STAMP) $(VENDOR_STAMP)

# The stamp is rebuilt only when the dependency list changes, so a second `make` is quick.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU build first, from this machine's disk: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(VENDOR_STAMP): ui/package.json ui/package-lock.json
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  $(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends npm; } || \
	  { echo "make: npm is needed to build the console's assets (apt-get install npm)" >&2; exit 1; }
	cd ui && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp ui/node_modules/chart.js/dist/chart.umd.min.js ui/node_modules/chart.js/dist/chart.umd.min.js.map $(VENDOR)/
	cp ui/node_modules/chart.js/LICENSE.md $(VENDOR)/chart.js.LICENSE.md
	cp ui/node_modules/swagger-ui-dist/swagger-ui-bundle.js ui/node_modules/swagger-ui-dist/swagger-ui.css $(VENDOR)/
	cp ui/node_modules/swagger-ui-dist/favicon-32x32.png $(VENDOR)/swagger-ui-favicon-32x32.png
	cp ui/node_modules/swagger-ui-dist/LICENSE $(VENDOR)/swagger-ui.LICENSE
	cp ui/node_modules/swagger-ui-dist/NOTICE $(VENDOR)/swagger-ui.NOTICE
	touch $(VENDOR_STAMP)

# Debian's Chromium for the console's browser tests (Playwright drives it; no browser download).
# Installed when missing and we are root with apt-get; otherwise those tests skip and say why.
browser:
	@test -x $(CHROMIUM) || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  $(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends chromium; } || \
	  echo "make: $(CHROMIUM) is missing and cannot be installed here: browser tests will skip" >&2

# Debian's redis-server for the Redis backend's tests (each test starts its own server on a
# free port in a temporary folder). Installed like Chromium; otherwise those tests skip and say why.
redis:
	@test -x $(REDIS_SERVER) || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  $(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends redis-server; } || \
	  echo "make: $(REDIS_SERVER) is missing and cannot be installed here: Redis tests will skip" >&2

# lint-imports checks the layer contracts of pyproject.toml ([tool.importlinter]) first.
test: install browser redis
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# `make demo DATA=PATH` demonstrates another dataset folder or file (scripts/demo.sh --help).
demo: install
	bash scripts/demo.sh $(if $(DATA),--data '$(DATA)')

clean:
	rm -rf $(VENV) build *.egg-info ui/node_modules $(VENDOR)
