"""Pure-Python install of deeptrack_ros: the tracker core and the evaluation, no ROS needed.

ROS users build the package with colcon from CMakeLists.txt, which also generates the
TrackStatus message. This file serves everyone else (`pip install .`), and gives the ROS
build its console scripts. torch is pinned because an unpinned requirement lets pip pick the
newest release with gigabytes of CUDA libraries, where a CPU build is all the tracker needs.
"""

from setuptools import find_packages, setup

setup(
    name='deeptrack_ros',
    version='0.1.0',
    description='DeepTrack online CNN tracker with a ROS 2 node and an offline evaluation',
    license='BSD-3-Clause',
    python_requires='>=3.10',
    packages=find_packages(include=['deeptrack_ros', 'deeptrack_ros.*']),
    install_requires=[
        'numpy',
        'torch==2.13.0',
        'opencv-contrib-python-headless',
        'rosbags',
        'matplotlib',
    ],
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            'deeptrack-node = deeptrack_ros.ros.main:main',
            'deeptrack-eval = deeptrack_ros.eval.cli:main',
            'deeptrack-demo = deeptrack_ros.ros.demo:main',
        ],
    },
)
