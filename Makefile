# deeptrack_ros: set up, test and demo from a bare checkout (no ROS distribution needed).
#
#   make setup   create .venv (ROS 2 Kilted from PyPI wheels, torch CPU) and build the package
#   make test    setup, then the whole test suite against real rclpy and Fast DDS
#   make demo    setup, then the demo (DEMO_ARGS='...' passes arguments)
#   make bench   setup, then the speed benchmark on OTB_ROOT (BENCH_ARGS='...' passes arguments)
#   make soak    setup, then 20,000 frames through the node with memory figures (SOAK_ARGS)
#   make clean   remove .venv and build/ (the next setup starts from scratch)

SHELL := /bin/bash
VENV := $(CURDIR)/.venv
PYTHON := $(VENV)/bin/python

# Keep every DDS participant started from here on this machine: discovery on localhost only,
# and transports limited to shared memory plus loopback UDP (the profile also carries large
# images reliably with best-effort QoS). test/conftest.py adds a random ROS_DOMAIN_ID per run.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export FASTDDS_DEFAULT_PROFILES_FILE := $(CURDIR)/config/fastdds_loopback.xml
export RMW_IMPLEMENTATION := rmw_fastrtps_cpp
# ament_index (package share folders) looks here; the venv is the install prefix.
export AMENT_PREFIX_PATH := $(VENV)
# Inherited from some other bootstrapped Python, this marker would stop the venv's ROS wheels
# from setting LD_LIBRARY_PATH, and rclpy would not load.
unexport _ROS_WHEELS_BOOTSTRAP_COMPLETE

PYTEST_FLAGS ?= -q -ra -p no:cacheprovider --timeout=300 --durations=10
DEMO_ARGS ?=
OTB_ROOT ?= ../shared/datasets/otb
BENCH_ARGS ?= --paths best --device cpu --seed 0
SOAK_ARGS ?= --frames 20000

.PHONY: setup test demo bench soak clean

setup:
	bash tools/setup_env.sh

test: setup
	$(PYTHON) -m pytest test $(PYTEST_FLAGS)

demo: setup
	$(VENV)/bin/deeptrack-demo $(DEMO_ARGS)

# Runs the source tree (python -m from the repository root), so edits need no re-install.
bench: setup
	$(PYTHON) -m deeptrack_ros.eval bench $(OTB_ROOT) $(BENCH_ARGS)

soak: setup
	$(PYTHON) -m deeptrack_ros.ros.soak $(SOAK_ARGS)

clean:
	rm -rf .venv build deeptrack_ros.egg-info
