"""Everything the evaluation writes: summary.json, per-frame CSV, OTB plots and the table.

summary.json has a fixed shape that scripts and the docs rely on:

    {"trackers": {NAME: {"sequences": {SEQ: {"precision20", "success_auc", "success50",
                                               "success60", "fps", "frames"}},
                         "mean": {same keys; "frames" is the total}}},
     "device": str, "seed": int | null}

With `--seeds` DeepTrack runs once per seed, each under its own name (`deeptrack-seed0`, ...),
and two keys are added: "seeds" (the list) and "over_seeds": {"deeptrack": {"runs": [names],
"mean", "min", "max": {metric: value}}}, the mean, lowest and highest of the runs' means,
which is how one number and its spread over seeds are reported. With several presets
(`--mode best,paper`) each is a tracker of its own, `deeptrack-best` and `deeptrack-paper`,
with runs `deeptrack-best-seed0`, ..., and an "over_seeds" entry each.

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


def seed_label(seed: int, tracker: str = 'deeptrack') -> str:
    """What one seed's run of a tracker is called in results (`deeptrack-seed0`,
    `deeptrack-paper-seed0`)."""
    return f'{tracker}-seed{seed}'


@dataclass
class Evaluation:
    """All results of one run, per tracker in the order requested, per sequence in run order."""

    device: str = 'cpu'
    seed: int | None = None
    seeds: list[int] | None = None
    """With `--seeds`: DeepTrack ran once per seed, under `seed_label(seed, ...)`."""
    seed_runs: dict[str, list[str]] = field(default_factory=dict)
    """A tracker run once per seed (each DeepTrack preset): its name -> its runs' names."""
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

    def over_seeds(self, tracker: str) -> dict[str, Any]:
        """Mean, lowest and highest over a tracker's seed runs of each run's mean (runs not
        evaluated yet are left out; frames is each run's total, equal for all)."""
        runs = [run for run in self.seed_runs[tracker] if run in self.trackers]
        means = [self.mean(run) for run in runs]
        out: dict[str, Any] = {'runs': runs}
        for name, reduce in (('mean', np.mean), ('min', np.min), ('max', np.max)):
            values: dict[str, Any] = {k: float(reduce([m[k] for m in means])) if means else 0.0
                                      for k in METRIC_KEYS}
            values['frames'] = means[0]['frames'] if means else 0
            out[name] = values
        return out

    def curves(self, tracker: str) -> tuple[np.ndarray, np.ndarray]:
        """Mean precision and success curves of a tracker over its sequences."""
        return mean_curves([e.score for e in self.trackers[tracker].values()])

    def groups(self) -> list[tuple[str, list[str]]]:
        """Each tracker with the runs evaluated under it: a tracker run with several seeds
        (first) with its seed runs, every other tracker with itself. Plots and `table.md`
        compare these, not single seeds."""
        seeded = {run for runs in self.seed_runs.values() for run in runs}
        out = [(tracker, [run for run in runs if run in self.trackers])
               for tracker, runs in self.seed_runs.items()]
        out += [(name, [name]) for name in self.trackers if name not in seeded]
        return [(name, runs) for name, runs in out if runs]

    def plotted_curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The curves the plots draw, by legend name: one per tracker of `groups`, a seeded
        one over all its runs' sequences (the mean over seeds of each run's curve)."""
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, runs in self.groups():
            if name in self.seed_runs:
                name = f'{name} ({len(runs)} seeds)'
            out[name] = mean_curves([entry.score for run in runs
                                     for entry in self.trackers[run].values()])
        return out

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            'trackers': {name: {'sequences': {seq: entry.as_dict()
                                              for seq, entry in entries.items()},
                                'mean': self.mean(name)}
                         for name, entries in self.trackers.items()},
            'device': self.device,
            'seed': self.seed}
        if self.seeds:
            out['seeds'] = list(self.seeds)
            out['over_seeds'] = {name: self.over_seeds(name) for name in self.seed_runs}
        return out


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
    """The final console table: mean numbers per tracker, then for a tracker run with several
    seeds the mean, lowest and highest of its runs (`deeptrack mean`, `... min`, `... max`)."""
    rows = [(name, evaluation.mean(name)) for name in evaluation.trackers]
    for tracker in evaluation.seed_runs:
        spread = evaluation.over_seeds(tracker)
        rows.extend((f'{tracker} {key}', spread[key]) for key in ('mean', 'min', 'max'))
    width = max([12] + [len(name) + 2 for name, _ in rows])
    header = (f'{"tracker":<{width}}{"P@20":>8}{"AUC":>8}{"SR@0.5":>8}{"SR@0.6":>8}'
              f'{"fps":>9}')
    lines = [header, '-' * len(header)]
    for name, m in rows:
        lines.append(f'{name:<{width}}{m["precision20"]:>8.3f}{m["success_auc"]:>8.3f}'
                     f'{m["success50"]:>8.3f}{m["success60"]:>8.3f}{m["fps"]:>9.1f}')
    return '\n'.join(lines)


def format_markdown(evaluation: Evaluation) -> str:
    """The results as Markdown for a document (`table.md`): one row per tracker, a tracker run
    with several seeds as the mean of its runs with their lowest and highest, then P@20 / AUC
    per sequence (a seeded tracker's as the mean over its seeds)."""
    columns = evaluation.groups()
    lines = ['| tracker | P@20 | AUC | SR@0.5 | SR@0.6 |', '|---|---|---|---|---|']
    for name, runs in columns:
        if name in evaluation.seed_runs:
            spread = evaluation.over_seeds(name)
            cells = [f'{spread["mean"][key]:.3f} ({spread["min"][key]:.3f}-'
                     f'{spread["max"][key]:.3f})' for key in METRIC_KEYS[:4]]
            name = f'{name}, mean of {len(runs)} seeds (lowest-highest)'
        else:
            mean = evaluation.mean(name)
            cells = [f'{mean[key]:.3f}' for key in METRIC_KEYS[:4]]
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    sequences = list(dict.fromkeys(seq for _, runs in columns for run in runs
                                   for seq in evaluation.trackers[run]))
    lines += ['', '| sequence (P@20 / AUC) | ' + ' | '.join(name for name, _ in columns) + ' |',
              '|---|' + '---|' * len(columns)]
    for sequence in sequences:
        cells = []
        for _, runs in columns:
            entries = [evaluation.trackers[run][sequence].as_dict() for run in runs
                       if sequence in evaluation.trackers[run]]
            cells.append(f'{np.mean([e["precision20"] for e in entries]):.3f} / '
                         f'{np.mean([e["success_auc"] for e in entries]):.3f}'
                         if entries else '-')
        lines.append(f'| {sequence} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def plot_curves(out_dir: Path, evaluation: Evaluation, title_suffix: str = 'OPE') -> None:
    """precision.png and success.png, one curve per tracker, legends ranked as in OTB papers.

    Uses matplotlib's object API with the Agg canvas directly, so no global backend is set
    and no display is ever needed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    curves = evaluation.plotted_curves()
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
