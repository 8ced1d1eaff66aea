"""Point the ROS wheels' exported CMake files at this machine's Python and numpy headers.

The ROS 2 wheels were built in a manylinux container whose interpreter lived under
/opt/python/cp311-cp311, and the *__rosidl_generator_py targets they export still list that
interpreter's include directory and its numpy include directory. Any interface package built
against them (vision_msgs, deeptrack_ros) then fails to compile its Python extension with
'Python.h: No such file'. Rewriting the two paths to the local ones fixes that; the script is
idempotent, so the setup can run it on every call (a reinstalled wheel brings the old paths
back).

Usage: python tools/patch_ros_cmake.py PREFIX   (PREFIX is the virtual environment)
"""

import pathlib
import sys
import sysconfig

import numpy

BUILDER_PREFIX = '/opt/python/cp311-cp311'
BUILDER_PY_INCLUDE = BUILDER_PREFIX + '/include/python3.11'
BUILDER_NUMPY_INCLUDE = BUILDER_PREFIX + '/lib/python3.11/site-packages/numpy/_core/include'


def patch(prefix):
    """Rewrite every share/**/*.cmake under prefix; return the number of files changed."""
    # Replace the longer numpy path first: it starts with the builder prefix as well.
    replacements = (
        (BUILDER_NUMPY_INCLUDE, numpy.get_include()),
        (BUILDER_PY_INCLUDE, sysconfig.get_paths()['include']),
    )
    changed = 0
    for path in sorted(pathlib.Path(prefix, 'share').glob('**/*.cmake')):
        text = path.read_text()
        if BUILDER_PREFIX not in text:
            continue
        new = text
        for old, local in replacements:
            new = new.replace(old, local)
        if new != text:
            path.write_text(new)
            changed += 1
        if BUILDER_PREFIX + '/include' in new or BUILDER_PREFIX + '/lib' in new:
            # A new wheel layout: fail here with a clear message rather than later in the
            # middle of a C compile.
            sys.exit(f'{path}: unknown builder include path left, update {__file__}')
    return changed


def main():
    """Patch the prefix given on the command line and say how many files changed."""
    prefix = sys.argv[1] if len(sys.argv) > 1 else sys.prefix
    print(f'patched {patch(prefix)} exported CMake file(s) under {prefix}/share')


if __name__ == '__main__':
    main()
