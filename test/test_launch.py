"""launch/tracker.launch.py: its arguments and the node it starts.

Where launch_ros is installed (a ROS distribution) the launch description is built and
inspected. Here, with ROS from PyPI wheels, launch and launch_ros do not exist, so that test
is skipped; the file's structure is still checked from its syntax tree, so a renamed
argument or executable is caught everywhere.
"""

import ast
import pathlib

import pytest

LAUNCH_FILE = pathlib.Path(__file__).resolve().parent.parent / 'launch' / 'tracker.launch.py'
ARGUMENTS = {'params_file', 'image_topic', 'namespace', 'log_level', 'device'}


def _calls(tree, name):
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, 'id', getattr(node.func, 'attr', None)) == name]


def test_launch_file_structure_from_its_syntax_tree():
    tree = ast.parse(LAUNCH_FILE.read_text(encoding='utf-8'))
    declared = {call.args[0].value for call in _calls(tree, 'DeclareLaunchArgument')}
    assert declared == ARGUMENTS
    [node] = _calls(tree, 'Node')
    keywords = {k.arg: k.value for k in node.keywords}
    constants = {k: v.value for k, v in keywords.items() if isinstance(v, ast.Constant)}
    assert constants['executable'] == 'tracker_node'
    assert constants['name'] == 'tracker_node'
    assert {'parameters', 'remappings', 'namespace', 'arguments'} <= set(keywords)
    assert _calls(tree, 'get_package_share_directory'), 'params_file defaults to the share dir'
    source = ast.unparse(keywords['remappings'])
    assert "'image'" in source and 'image_topic' in source


def test_launch_description_with_launch_ros(monkeypatch):
    pytest.importorskip('launch_ros', reason='launch_ros is not installable from a package '
                        'registry; it comes with a ROS 2 distribution')
    import importlib.util

    from launch.actions import DeclareLaunchArgument
    from launch_ros.actions import Node

    import ament_index_python.packages as packages

    monkeypatch.setattr(packages, 'get_package_share_directory',
                        lambda name: str(LAUNCH_FILE.parent.parent))
    spec = importlib.util.spec_from_file_location('tracker_launch', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    entities = description.entities
    declared = {e.name for e in entities if isinstance(e, DeclareLaunchArgument)}
    assert declared == ARGUMENTS
    nodes = [e for e in entities if isinstance(e, Node)]
    assert len(nodes) == 1
    defaults = {e.name: e.default_value for e in entities
                if isinstance(e, DeclareLaunchArgument)}
    params_default = ''.join(getattr(s, 'text', '') for s in defaults['params_file'])
    assert params_default.endswith('config/tracker.yaml')
