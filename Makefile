# geoaccess: every target creates or reuses the local virtual environment in .venv
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test maps bench bench-scale lint venv clean screenshots

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

## make demo: build the synthetic demo inputs (once), run the pipeline, write maps/demo/index.html and maps/demo-mixed/index.html (travel over terrain, walking-only beside motorised, time of day; --no-mixed skips it)
demo: $(STAMP)
	$(BIN)/geoaccess demo

## make test: the test suite (small generated fixtures; real data in ../shared when present)
test: $(STAMP)
	$(BIN)/python -m pytest -q

## make screenshots: render every page of the demo bundle in headless Chromium (offline), PNGs in maps/demo/screenshots/
screenshots: $(STAMP)
	GEOACCESS_SCREENSHOTS=$(CURDIR)/maps/demo/screenshots $(BIN)/python -m pytest -q tests/test_browser.py

## make maps: run every study under data/studies/
maps: $(STAMP)
	@test -f data/demo/roads.osm.pbf || $(BIN)/python -m geoaccess.demo data/demo
	@# generated synthetic-region studies (geoaccess demo --region) are run by that command, not here
	@for s in data/studies/*.toml; do case $$s in */region-*) continue;; esac; echo "== $$s"; $(BIN)/geoaccess run $$s || exit 1; done

## make bench: shortest-path benchmarks against peers (prints ratios and memory); geoaccess serve's click-to-table time on the demo; cost distance against scikit-image; the demo with mixed travel against the road-only demo
bench: $(STAMP)
	-$(BIN)/python -m pip install --quiet -e ".[bench]" || echo "some bench peers did not install; they are skipped"
	$(BIN)/python bench/bench_paths.py
	@test -f data/demo/roads.osm.pbf || $(BIN)/python -m geoaccess.demo data/demo
	$(BIN)/python bench/bench_serve.py --clicks 10 --requests 40
	$(BIN)/python bench/bench_terrain.py
	$(BIN)/python bench/bench_demo.py

## make bench-scale: province-scale runs (Taiyuan demo, Qinghai 63, Shanxi 14): time and peak memory per stage; the country (CN, 1 km) by province on a 2-worker LocalCluster; Qinghai with mixed travel over terrain (cold and warm)
bench-scale: $(STAMP)
	$(BIN)/python bench/bench_scale.py
	$(BIN)/python bench/bench_mixed.py

lint: $(STAMP)
	$(BIN)/ruff check geoaccess tests
	$(BIN)/ruff format --check geoaccess tests

clean:
	rm -rf $(VENV) maps/*/ data/demo .pytest_cache
