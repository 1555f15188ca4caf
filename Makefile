# The two commands of the README. Both create .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo lint venv clean

venv: $(STAMP)

# torch 2.14.1 + torchvision 0.29.1 are pinned together: PyPI's torchvision only imports beside
# the torch it was built for, and timm (a dev dependency) needs torchvision.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install "torch==2.14.1" "torchvision==0.29.1"
	$(PY) -m pip install -e ".[dev]"
	# SB3's own CNN tests (tests/test_sb3_peer_suite.py) come from the installed version's sdist.
	rm -rf $(VENV)/sb3-sdist && mkdir -p $(VENV)/sb3-sdist
	$(PY) -m pip download --no-deps --no-binary :all: -d $(VENV)/sb3-sdist \
		"stable-baselines3==$$($(PY) -c 'import stable_baselines3; print(stable_baselines3.__version__)')"
	tar -xzf $(VENV)/sb3-sdist/stable_baselines3-*.tar.gz -C $(VENV)/sb3-sdist --wildcards '*/tests/test_cnn.py'
	touch $(STAMP)

# One pytest worker per core (pytest-xdist; tests use one torch thread each). Tests that start a Ray
# share one worker (xdist_group "ray"); the slowest 25 are listed at the end.
test: $(STAMP)
	$(PY) -m pytest -q -n auto --dist loadgroup --durations=25

# The variant table, then a short throughput comparison (NatureCNN, nano, nano_rl, small on Pong, 3
# interleaved rounds): 10 minutes on a quiet 2-core Intel Xeon, 81 minutes on the same machine
# shared with other jobs (load average 2 to 15); its last line says whether the ratios were steady
# enough to mean anything. The full-size run is in docs/results.md.
demo: $(STAMP)
	$(PY) -m mnv4_rl.demo
	$(PY) -m mnv4_lab.bench --encoders nano nano_rl small --env Pong --repeats 3 \
		--ppo-steps 1024 --dqn-learning-starts 300 --dqn-steps 300 --encoder-seconds 0.5 \
		--out results/demo

lint: $(STAMP)
	$(VENV)/bin/ruff check mnv4_rl mnv4_lab examples tests benchmarks
	$(VENV)/bin/ruff format --check mnv4_rl mnv4_lab examples tests benchmarks

clean:
	rm -rf $(VENV) runs results
