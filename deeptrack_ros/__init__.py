"""DeepTrack online CNN tracker for ROS 2.

The generated message module `deeptrack_ros.msg` (and its typesupport libraries) is installed
by CMake into site-packages, never into the source tree. Extending `__path__` lets
`import deeptrack_ros.msg` find it even when the source tree comes first on sys.path, as it
does for tests run from the repository root.
"""

__path__ = __import__('pkgutil').extend_path(__path__, __name__)
