"""Everything the evaluation writes: summary.json, per-frame CSV, OTB plots and the table.

summary.json has a fixed shape that scripts and the docs rely on:

    {"trackers": {NAME: {"sequences": {SEQ: {"precision20", "success_auc", "success50",
                                               "success60", "fps", "frames"}},
                         "mean": {same keys; "frames" is the total}}},
     "device": str, "seed": int | null}

"mean" is the plain mean over sequences of each number (fps included), so every sequence
weighs the same, as in the OTB plots. The per-frame CSV has the columns
frame, x, y, w, h, score, quality, updated: frame is the 0-based index within the sequence,
the box is 0-based pixels, and score / quality / updated are empty for trackers without them.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deeptrack_ros.eval.metrics import (PRECISION_THRESHOLDS, SUCCESS_THRESHOLDS,
                                        SequenceScore, mean_curves)
from deeptrack_ros.eval.runner import RunResult

METRIC_KEYS = ('precision20', 'success_auc', 'success50', 'success60', 'fps')
CSV_COLUMNS = ('frame', 'x', 'y', 'w', 'h', 'score', 'quality', 'updated')


@dataclass(frozen=True)
class SequenceEntry:
    """The numbers of one tracker on one sequence."""

    score: SequenceScore
    fps: float
    frames: int

    def as_dict(self) -> dict[str, Any]:
        return {'precision20': self.score.precision20,
                'success_auc': self.score.success_auc,
                'success50': self.score.success_at(0.5),
                'success60': self.score.success_at(0.6),
                'fps': float(self.fps),
                'frames': int(self.frames)}


@dataclass
class Evaluation:
    """All results of one run, per tracker in the order requested, per sequence in run order."""

    device: str = 'cpu'
    seed: int | None = None
    trackers: dict[str, dict[str, SequenceEntry]] = field(default_factory=dict)

    def add(self, tracker: str, sequence: str, score: SequenceScore, run: RunResult) -> None:
        self.trackers.setdefault(tracker, {})[sequence] = SequenceEntry(
            score, run.fps, len(run.records))

    def mean(self, tracker: str) -> dict[str, Any]:
        """Mean of every metric over the tracker's sequences; frames is the total."""
        entries = [e.as_dict() for e in self.trackers[tracker].values()]
        mean: dict[str, Any] = {k: float(np.mean([e[k] for e in entries])) if entries else 0.0
                                for k in METRIC_KEYS}
        mean['frames'] = int(sum(e['frames'] for e in entries))
        return mean

    def curves(self, tracker: str) -> tuple[np.ndarray, np.ndarray]:
        """Mean precision and success curves of a tracker over its sequences."""
        return mean_curves([e.score for e in self.trackers[tracker].values()])

    def summary(self) -> dict[str, Any]:
        return {'trackers': {name: {'sequences': {seq: entry.as_dict()
                                                  for seq, entry in entries.items()},
                                    'mean': self.mean(name)}
                             for name, entries in self.trackers.items()},
                'device': self.device,
                'seed': self.seed}


def write_summary(path: Path, evaluation: Evaluation) -> None:
    """Write summary.json (sorted keys would reorder trackers; insertion order is kept)."""
    path.write_text(json.dumps(evaluation.summary(), indent=2) + '\n', encoding='utf-8')


def write_frames_csv(path: Path, run: RunResult) -> None:
    """One row per frame of one tracker on one sequence."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open('w', newline='', encoding='utf-8') as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for record in run.records:
            info = record.info
            writer.writerow([record.index, *(_num(v) for v in record.box),
                             _num(info.score), _num(info.quality),
                             '' if info.updated is None else int(info.updated)])


def _num(value: float | None) -> str:
    """Shortest exact text of a float ('' for None), so CSVs round-trip bit for bit."""
    return '' if value is None else repr(float(value))


def format_table(evaluation: Evaluation) -> str:
    """The final console table: mean numbers per tracker."""
    header = f'{"tracker":<12}{"P@20":>8}{"AUC":>8}{"SR@0.5":>8}{"SR@0.6":>8}{"fps":>9}'
    lines = [header, '-' * len(header)]
    for name in evaluation.trackers:
        m = evaluation.mean(name)
        lines.append(f'{name:<12}{m["precision20"]:>8.3f}{m["success_auc"]:>8.3f}'
                     f'{m["success50"]:>8.3f}{m["success60"]:>8.3f}{m["fps"]:>9.1f}')
    return '\n'.join(lines)


def plot_curves(out_dir: Path, evaluation: Evaluation, title_suffix: str = 'OPE') -> None:
    """precision.png and success.png, one curve per tracker, legends ranked as in OTB papers.

    Uses matplotlib's object API with the Agg canvas directly, so no global backend is set
    and no display is ever needed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    curves = {name: evaluation.curves(name) for name in evaluation.trackers}
    plots = (
        ('precision.png', f'Precision plots of {title_suffix}', 'Location error threshold (px)',
         'Precision', PRECISION_THRESHOLDS, 0, lambda c: float(c[int(20)])),
        ('success.png', f'Success plots of {title_suffix}', 'Overlap threshold',
         'Success rate', SUCCESS_THRESHOLDS, 1, lambda c: float(np.mean(c))),
    )
    for filename, title, xlabel, ylabel, xs, which, rank in plots:
        figure = Figure(figsize=(6.0, 4.5), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot(1, 1, 1)
        ranked = sorted(curves, key=lambda n: rank(curves[n][which]), reverse=True)
        for name in ranked:
            ys = curves[name][which]
            axes.plot(xs, ys, linewidth=2, label=f'{name} [{rank(ys):.3f}]')
        axes.set_title(title)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        axes.set_xlim(float(xs[0]), float(xs[-1]))
        axes.set_ylim(0.0, 1.0)
        axes.grid(True, linestyle=':', linewidth=0.8)
        axes.legend(loc='lower right' if which == 0 else 'lower left', fontsize=9)
        figure.tight_layout()
        figure.savefig(out_dir / filename)
