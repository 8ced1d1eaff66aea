"""Launch the DeepTrack tracker node.

    ros2 launch deeptrack_ros tracker.launch.py image_topic:=/camera/image_raw
    ros2 launch deeptrack_ros tracker.launch.py params_file:=/path/my_tracker.yaml \\
        namespace:=front device:=cuda log_level:=debug

Arguments:
  params_file  parameter file (default: the package's share/deeptrack_ros/config/tracker.yaml,
               generated from the tracker's config; copy it to change values)
  image_topic  topic the node's `image` subscription is remapped to (default: image)
  namespace    namespace of the node and its relative topics (default: none)
  log_level    rcutils log level of the node: debug, info, warn, error, fatal (default: info)
  device       torch device: auto, cpu, cuda or cuda:N (default: auto; overrides params_file)

The node is then /<namespace>/tracker_node: send a vision_msgs/Detection2D box to
~/init, read ~/detection and ~/status.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = 'deeptrack_ros'


def generate_launch_description() -> LaunchDescription:
    """The tracker node with its parameter file, remapping, namespace, log level and device."""
    default_params = os.path.join(get_package_share_directory(PACKAGE), 'config', 'tracker.yaml')
    arguments = [
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='Parameter file of the tracker node.'),
        DeclareLaunchArgument('image_topic', default_value='image',
                              description='Image topic to track on (remaps `image`).'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of the node.'),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='Log level: debug, info, warn, error or fatal.'),
        DeclareLaunchArgument('device', default_value='auto',
                              description='Torch device: auto, cpu, cuda or cuda:N.'),
    ]
    node = Node(
        package=PACKAGE,
        executable='tracker_node',
        name='tracker_node',
        namespace=LaunchConfiguration('namespace'),
        output='screen',
        emulate_tty=True,
        # Later entries win: the device argument overrides the parameter file's value.
        parameters=[LaunchConfiguration('params_file'),
                    {'device': LaunchConfiguration('device')}],
        remappings=[('image', LaunchConfiguration('image_topic'))],
        arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
    )
    return LaunchDescription([*arguments, node])
