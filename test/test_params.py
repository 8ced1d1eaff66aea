"""The node's ROS parameters: declared from TrackerConfig, validated, and mirrored in the YAML.

Parameter changes are sent the ways a user sends them: `set_parameters` on the node, and the
node's `~/set_parameters` service called from another node over DDS (what `ros2 param set`
does). A refused change must say why; read-only parameters must refuse every change.
"""

import pathlib

import pytest

rclpy = pytest.importorskip('rclpy')
pytest.importorskip('deeptrack_ros.msg')
pytest.importorskip('vision_msgs.msg')

from rcl_interfaces.msg import Parameter as ParameterMsg  # noqa: E402
from rcl_interfaces.msg import ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from deeptrack_ros.core import preset  # noqa: E402
from deeptrack_ros.core.config import config_fields  # noqa: E402
from deeptrack_ros.ros import parameters  # noqa: E402
from deeptrack_ros.ros.tracker_node import TrackerNode  # noqa: E402

from node_test_support import TIMEOUT, Peer, unique_namespace  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent
YAML = REPO / 'config' / 'tracker.yaml'


@pytest.fixture
def node(ros_context):
    tracker_node = TrackerNode(context=ros_context, namespace=unique_namespace())
    yield tracker_node
    tracker_node.destroy_node()


def test_committed_yaml_is_the_generated_one():
    """config/tracker.yaml has one source: regenerate it rather than editing it."""
    assert YAML.read_text(encoding='utf-8') == parameters.yaml_text(), (
        'config/tracker.yaml is out of date; run '
        '`python -m deeptrack_ros.ros.parameters --write-yaml config/tracker.yaml`')
    assert parameters.main(['--check', str(YAML)]) == 0


def test_every_config_field_is_declared_with_its_descriptor(node):
    best = preset('best')
    for name, _, info in config_fields():
        assert node.has_parameter(name), name
        descriptor = node.describe_parameter(name)
        assert info.description[:30] in descriptor.description or name == 'mode'
        assert descriptor.read_only == (info.read_only or name == 'mode'), name
        value = node.get_parameter(name).value
        default = getattr(best, name)
        assert (tuple(value) if isinstance(default, tuple) else value) == default, name
        if isinstance(default, bool) or info.minimum is None:
            continue
        if isinstance(default, int):
            assert (descriptor.integer_range[0].from_value,
                    descriptor.integer_range[0].to_value) == (info.minimum, info.maximum), name
        elif isinstance(default, float):
            bounds = descriptor.floating_point_range[0]
            assert (bounds.from_value, bounds.to_value) == (info.minimum, info.maximum), name
    estimator = node.describe_parameter('estimator')
    assert 'argmax' in estimator.description and 'top_mean' in estimator.description


def test_node_parameters_and_their_defaults(node):
    expected = {'mode': 'best', 'device': 'auto', 'seed': 0, 'reliability': 'best_effort',
                'qos_depth': 1, 'diagnostics_period': 1.0, 'publish_debug_image': False,
                'track_id_prefix': 'track', 'class_id': 'target', 'init_history': 30,
                'torch_threads': 0, 'mono16_max': 65535.0}
    for name, value in expected.items():
        assert node.get_parameter(name).value == value, name
    for name in ('reliability', 'qos_depth', 'diagnostics_period', 'init_history',
                 'torch_threads', 'mode'):
        assert node.describe_parameter(name).read_only, name


@pytest.mark.parametrize('name, value, reason', [
    ('num_particles', 0, 'out of range'),
    ('lost_score', 1.5, 'out of range'),
    ('num_particles', 'many', 'type'),
    ('estimator', 'median', 'estimator must be one of argmax, top_mean'),
    ('cue_normalisation', 'patch', 'scoring dense needs cue_normalisation fixed'),
    ('device', 'tpu', "device must be 'auto', 'cpu', 'cuda'"),
    ('track_id_prefix', ' ', 'must not be empty'),
    ('patch_size', 48, 'read-only'),
    ('conv1_kernel', 9, 'read-only'),
    ('reliability', 'reliable', 'read-only'),
    ('mode', 'paper', 'read-only'),
])
def test_invalid_changes_are_refused_with_a_reason(node, name, value, reason):
    before = node.get_parameter(name).value
    [result] = node.set_parameters([Parameter(name, value=value)])
    assert not result.successful
    assert reason in result.reason, result.reason
    assert node.get_parameter(name).value == before


def test_valid_changes_are_accepted(node):
    results = node.set_parameters([Parameter('lost_score', value=0.3),
                                   Parameter('device', value='cpu'),
                                   Parameter('estimator', value='top_mean'),
                                   Parameter('lcn_radii', value=[0.2, 0.25]),
                                   Parameter('publish_debug_image', value=True)])
    assert all(r.successful for r in results), [r.reason for r in results]
    config = parameters.tracker_config(parameters.current_values(node, node._specs))
    assert config.lost_score == 0.3 and config.estimator == 'top_mean'
    assert config.lcn_radii == (0.2, 0.25)


def test_set_parameters_service_refuses_with_a_reason_over_dds(ros_context):
    """What `ros2 param set` does: call ~/set_parameters from another node."""
    namespace = unique_namespace()
    tracker_node = TrackerNode(context=ros_context, namespace=namespace)
    peer = Peer(ros_context, namespace, extra_nodes=(tracker_node,))
    try:
        client = peer.node.create_client(SetParameters,
                                         f'{namespace}/tracker_node/set_parameters')
        peer.wait_for(client.service_is_ready, TIMEOUT, 'the set_parameters service')
        request = SetParameters.Request(parameters=[
            ParameterMsg(name='scoring', value=ParameterValue(
                type=ParameterType.PARAMETER_STRING, string_value='everything')),
            ParameterMsg(name='sigma_scale', value=ParameterValue(
                type=ParameterType.PARAMETER_DOUBLE, double_value=0.02)),
            ParameterMsg(name='fc_hidden', value=ParameterValue(
                type=ParameterType.PARAMETER_INTEGER, integer_value=16)),
        ])
        future = client.call_async(request)
        peer.wait_for(future.done, TIMEOUT, 'the set_parameters reply')
        refused, accepted, read_only = future.result().results
        assert not refused.successful and 'scoring must be one of' in refused.reason
        assert accepted.successful, accepted.reason
        assert not read_only.successful and 'read-only' in read_only.reason
        assert tracker_node.get_parameter('sigma_scale').value == 0.02
    finally:
        peer.close()
        tracker_node.destroy_node()


def test_start_up_values_come_from_overrides_and_are_validated(ros_context):
    tracker_node = TrackerNode(context=ros_context, namespace=unique_namespace(),
                               parameter_overrides=[Parameter('patch_size', value=34),
                                                    Parameter('conv1_kernel', value=15),
                                                    Parameter('mode', value='paper')])
    try:
        assert tracker_node.get_parameter('patch_size').value == 34
        assert tracker_node.get_parameter('mode').value == 'paper'
    finally:
        tracker_node.destroy_node()
    with pytest.raises(ValueError, match='first feature map'):
        TrackerNode(context=ros_context, namespace=unique_namespace(),
                    parameter_overrides=[Parameter('patch_size', value=33)])


def test_the_shipped_yaml_loads_into_a_node_with_matching_types(ros_context):
    """rcl parses the generated file; every value keeps the type its parameter declares."""
    tracker_node = TrackerNode(context=ros_context, namespace=unique_namespace(),
                               cli_args=['--ros-args', '--params-file', str(YAML)])
    lines = {line.split(':', 1)[0].strip(): line.split(':', 1)[1].strip()
             for line in YAML.read_text(encoding='utf-8').splitlines()
             if line.startswith('    ') and not line.strip().startswith('#') and ':' in line}
    try:
        for spec in parameters.parameter_specs():
            value = parameters.plain_value(tracker_node.get_parameter(spec.name).value)
            assert type(value) is type(spec.default), spec.name
            assert parameters.yaml_value(value) == lines[spec.name], spec.name
    finally:
        tracker_node.destroy_node()


def test_yaml_values_keep_their_types():
    assert parameters.yaml_value(True) == 'true'
    assert parameters.yaml_value(10.0) == '10.0'
    assert parameters.yaml_value(1e-05) == '1.0e-05'
    assert parameters.yaml_value(3) == '3'
    assert parameters.yaml_value("it's") == "'it''s'"
    assert parameters.yaml_value((0.1, 0.15)) == '[0.1, 0.15]'


def test_cuda_requested_without_cuda_falls_back_to_the_cpu(ros_context):
    torch = pytest.importorskip('torch')
    if torch.cuda.is_available():
        pytest.skip('this machine has CUDA, so there is no fallback to see')
    tracker_node = TrackerNode(context=ros_context, namespace=unique_namespace(),
                               parameter_overrides=[Parameter('device', value='cuda')])
    try:
        assert tracker_node.snapshot().device == 'cpu'
        tracker = tracker_node._build_tracker()
        assert tracker.device.type == 'cpu'
        assert 'CUDA is unavailable' in tracker.device_warning
    finally:
        tracker_node.destroy_node()
