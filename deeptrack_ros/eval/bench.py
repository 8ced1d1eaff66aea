"""`deeptrack-eval bench`: how fast DeepTrack runs, where the time goes, and at what accuracy.

One run times DeepTrack (one or more configuration paths, e.g. the shipped `best` and the
paper-faithful `paper`) and OpenCV's CSRT on the same sequences through the same harness as
`otb`, so the ratio between them is measured under the same load. Per path it prints the median
fps over sequences, the per-stage split of DeepTrack's own timings (cues, crop, score, train in
ms per frame), the fps ratio to CSRT, and the mean P@20 and success AUC. Then, when rclpy is
importable, it measures the ROS node itself in a fresh interpreter (deeptrack_ros.ros.node_bench):
its overhead per frame beyond the tracker and how far its detections lag a fast camera.

This is a benchmark, not a test: it prints figures and asserts nothing about them. Machines are
noisy, so compare the ratios printed by one run rather than absolute numbers across runs.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deeptrack_ros.core.config import config_fields, preset
from deeptrack_ros.eval.metrics import score_sequence
from deeptrack_ros.eval.runner import RunResult, run_sequence
from deeptrack_ros.eval.sequences import Sequence
from deeptrack_ros.eval.trackers import TrackerSpec

STAGES = ('cues', 'crop', 'score', 'train')
NODE_BENCH_SLACK_S = 180.0  # start-up, discovery, first-frame training and drain of the child


@dataclass
class PathResult:
    """One tracker path over all sequences: fps, accuracy and (DeepTrack) the stage split."""

    label: str
    fps: dict[str, float] = field(default_factory=dict)
    precision20: dict[str, float] = field(default_factory=dict)
    success_auc: dict[str, float] = field(default_factory=dict)
    stage_ms: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    init_s: list[float] = field(default_factory=list)

    @property
    def median_fps(self) -> float:
        return statistics.median(self.fps.values()) if self.fps else 0.0

    @property
    def mean_precision20(self) -> float:
        return float(np.mean(list(self.precision20.values()))) if self.precision20 else 0.0

    @property
    def mean_auc(self) -> float:
        return float(np.mean(list(self.success_auc.values()))) if self.success_auc else 0.0

    def add(self, sequence: Sequence, run: RunResult) -> None:
        score = score_sequence(run.boxes, sequence.groundtruth)
        self.fps[sequence.name] = run.fps
        self.precision20[sequence.name] = score.precision20
        self.success_auc[sequence.name] = score.success_auc
        if run.records:
            self.init_s.append(run.records[0].seconds)
        for record in run.records[1:]:
            timings = getattr(record.info.result, 'timings', None)
            if timings is not None:
                for stage in STAGES:
                    self.stage_ms[stage].append(float(getattr(timings, stage)))

    def stage_split(self) -> dict[str, float] | None:
        """Mean ms per frame of each stage, or None for trackers without stage timings."""
        if not self.stage_ms['cues']:
            return None
        return {stage: float(np.mean(values)) for stage, values in self.stage_ms.items()}


def machine_summary(device: str) -> str:
    """One line naming the machine, so that printed figures say where they were measured."""
    import torch

    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as handle:
            for line in handle:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = ''
    if device.startswith('cuda') and torch.cuda.is_available():
        gpu = f', GPU {torch.cuda.get_device_name(0)}'
    return (f'machine: {model}, {os.cpu_count()} CPU cores, torch {torch.__version__} with '
            f'{torch.get_num_threads()} threads, device {device}{gpu}')


def run_paths(specs: list[tuple[str, TrackerSpec]], sequences: list[Sequence],
              progress: Any = None) -> list[PathResult]:
    """Every (label, spec) over every sequence, sequence-major so that all paths see the
    machine in the same state at about the same time."""
    results = {label: PathResult(label) for label, _ in specs}
    total = len(specs) * len(sequences)
    number = 0
    for sequence in sequences:
        for label, spec in specs:
            number += 1
            tracker = spec.build()
            run = run_sequence(tracker, sequence, progress, f'[{number}/{total}] {label} ')
            results[label].add(sequence, run)
    return [results[label] for label, _ in specs]


def format_paths(results: list[PathResult], reference: str = 'csrt') -> str:
    """The benchmark table: fps, ratio to the reference (CSRT), accuracy, stage split."""
    base = next((r for r in results if r.label == reference), None)
    header = (f'{"path":22s} {"median fps":>10s} {"x CSRT":>7s} {"P@20":>6s} {"AUC":>6s} '
              f'{"init s":>7s}   ms/frame: ' + ' '.join(f'{s:>6s}' for s in STAGES))
    lines = [header]
    for result in results:
        ratio = (result.median_fps / base.median_fps
                 if base is not None and base.median_fps > 0 else float('nan'))
        split = result.stage_split()
        stages = ' '.join(f'{split[s]:6.1f}' for s in STAGES) if split else \
            ' '.join(f'{"-":>6s}' for _ in STAGES)
        init = statistics.median(result.init_s) if result.init_s else 0.0
        lines.append(f'{result.label:22s} {result.median_fps:10.1f} {ratio:7.2f} '
                     f'{result.mean_precision20:6.3f} {result.mean_auc:6.3f} {init:7.2f}'
                     f'             {stages}')
    return '\n'.join(lines)


def format_per_sequence(results: list[PathResult]) -> str:
    """fps of every path on every sequence (the medians above come from these)."""
    names = list(results[0].fps) if results else []
    width = max([11] + [len(n) for n in names])  # whole names: OTB has MotorRolling
    lines = [f'{"fps per sequence":22s} ' + ' '.join(f'{n:>{width}s}' for n in names)]
    for result in results:
        lines.append(f'{result.label:22s} ' +
                     ' '.join(f'{result.fps.get(n, 0.0):{width}.1f}' for n in names))
    return '\n'.join(lines)


def node_benchmark_command(config: Any, rate_hz: float, seconds: float, device: str,
                           seed: int) -> list[str]:
    """The command line that measures the node with `config`: its preset by name, and every
    field that differs from the preset as `--set NAME=VALUE` (a Python literal)."""
    command = [sys.executable, '-m', 'deeptrack_ros.ros.node_bench', '--rate', repr(rate_hz),
               '--seconds', repr(seconds), '--mode', config.mode, '--device', device,
               '--seed', str(seed)]
    base = preset(config.mode)
    for name, _, _ in config_fields():
        value = getattr(config, name)
        if name != 'mode' and value != getattr(base, name):
            command += ['--set', f'{name}={value!r}']
    return command


def node_benchmark_lines(config: Any, rate_hz: float, seconds: float, device: str,
                         seed: int) -> list[str]:
    """The ROS node's overhead and fast-camera lag, or why they could not be measured.

    Measured in a fresh interpreter (`python -m deeptrack_ros.ros.node_bench` with `config`'s
    fields), not in this process: a robot runs the node in a process of its own, and one that
    has already run the tracker on its main thread (the timings above) made the node's worker
    thread 1.6 to 2 times slower on the 2-core development machine (tracker 45 ms per frame
    against 28 ms, same node and camera; neither OMP_WAIT_POLICY=PASSIVE nor one torch thread
    in the main thread removed it). The child's log goes to stderr as it comes.
    """
    if importlib.util.find_spec('rclpy') is None:  # pip install without ROS: say so, go on
        return ['node: not measured (ROS 2 Python packages not importable: no rclpy)']
    command = node_benchmark_command(config, rate_hz, seconds, device, seed)
    environment = dict(os.environ)
    package_root = str(pathlib.Path(__file__).resolve().parents[2])
    environment['PYTHONPATH'] = os.pathsep.join(
        [package_root] + [p for p in environment.get('PYTHONPATH', '').split(os.pathsep) if p])
    try:
        completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=environment,
                                   timeout=seconds + NODE_BENCH_SLACK_S, check=False)
    except subprocess.TimeoutExpired:
        return [f'node: not measured (no result within {seconds + NODE_BENCH_SLACK_S:.0f} s)']
    lines = completed.stdout.splitlines()
    if completed.returncode != 0:
        return [f'node: not measured (the node benchmark exited with {completed.returncode}; '
                'its log is above)'] + lines
    return lines
