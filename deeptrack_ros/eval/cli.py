"""The `deeptrack-eval` command: otb, bag, otb2bag, bench (or `python -m deeptrack_ros.eval`).

Bad input ends in one line on stderr, `deeptrack-eval: error: FILE[:LINE]: what`, and exit
status 2 (argparse's own usage errors use 2 as well). Every command writes its results into a
temporary sibling of its output (`DIR.partial-XXXXXXXX`) and renames it into place only when
everything was written: an existing output is replaced only by a complete new one and a failed
run leaves nothing that looks like a result (see `staging`).

DeepTrack's configuration is the core's `TrackerConfig`: `--mode` picks the preset and each
`--set KEY=VALUE` overrides one field through `TrackerConfig.from_mapping`, so an ablation
needs no code (values: true/false, numbers, comma lists for tuples, else strings).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
from collections.abc import Sequence as Seq
from pathlib import Path
from typing import Any

from deeptrack_ros.eval.errors import EvalError

PROG = 'deeptrack-eval'
DIRECTIONS = ('forward', 'reversed', 'both')
MODES = ('paper', 'best')
"""The core's presets, named here so the peers and the harness run without torch."""
MIN_IMAGE_SCALE, MAX_IMAGE_SCALE = 0.1, 8.0
"""--image-scale's range: beyond it a target is a few pixels tall, or a frame is gigabytes."""


def main(argv: Seq[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input). Interrupted
    (Ctrl-C), it prints one line and ends the process with status 130 itself."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except EvalError as exc:
        message = ' '.join(str(exc).split())
        print(f'{PROG}: error: {message}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # The partial output is already removed (see `staging`). Exit here: on the way out the
        # interpreter runs the ROS libraries' shutdown hooks, which can deliver the SIGINT
        # once more and end the process by the signal instead of this status.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print(f'{PROG}: interrupted; no output written', file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(130)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (kept separate so docs and tests can inspect it)."""
    from deeptrack_ros.eval.trackers import TRACKER_NAMES

    parser = argparse.ArgumentParser(
        prog=PROG, description='Offline evaluation of DeepTrack and OpenCV peer trackers.')
    sub = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')

    otb = sub.add_parser('otb', help='one-pass evaluation on OTB-format sequence folders',
                         description='One-pass (OPE) evaluation on OTB-format folders '
                         '(img/*.jpg + 1-based groundtruth_rect.txt).')
    otb.add_argument('root', type=Path, metavar='ROOT',
                     help='benchmark folder holding sequence folders (or one sequence folder)')
    otb.add_argument('--sequences', metavar='A,B',
                     help='sequence names (Jogging-1) or folder names (Jogging); default all')
    otb.add_argument('--trackers', default='deeptrack,csrt,kcf,mil', metavar='A,B',
                     help=f'trackers to compare, from {",".join(TRACKER_NAMES)} '
                     '(default: %(default)s)')
    otb.add_argument('--direction', default='forward', choices=DIRECTIONS,
                     help='play every sequence forward, reversed (from its last annotated '
                     'frame back to the first, named NAME-reversed: a second test on the '
                     'same annotation) or both (default: %(default)s)')
    otb.add_argument('--frame-step', type=int, default=1, metavar='N',
                     help='track every N-th frame only, from the first (named NAME-stepN): '
                     'the target moves N times as far between frames, as from a slower camera '
                     'or a node that drops images it cannot keep up with (default: %(default)s)')
    _image_scale_option(otb)
    otb.add_argument('--gray', action='store_true',
                     help='turn every image gray before tracking (named NAME-gray), as from a '
                     'monochrome camera')
    _tracker_options(otb, several_modes=True)
    otb.add_argument('--seeds', metavar='A,B',
                     help='run DeepTrack once per seed (e.g. 0,1,2) and report each run, '
                     'their mean and their range; the peers run once (with the first seed). '
                     'Replaces --seed')
    otb.add_argument('--out', type=Path, required=True, metavar='DIR', help='output folder')
    otb.set_defaults(handler=run_otb)

    bag = sub.add_parser('bag', help='replay a rosbag2 bag through a tracker',
                         description='Replay every image of a rosbag2 bag (mcap or sqlite3) '
                         'through the tracker and write a new bag with detections and status.')
    bag.add_argument('bag', type=Path, metavar='BAG', help='rosbag2 folder or .mcap/.db3 file')
    bag.add_argument('--image-topic', required=True, metavar='T',
                     help='sensor_msgs/Image or CompressedImage topic')
    init = bag.add_mutually_exclusive_group(required=True)
    init.add_argument('--init-box', metavar='X,Y,W,H',
                      help='initial box on the first image, 0-based pixels')
    init.add_argument('--init-topic', metavar='T2',
                      help='initialise from the first vision_msgs/Detection2D on this topic')
    gt = bag.add_mutually_exclusive_group()
    gt.add_argument('--gt-topic', metavar='T3',
                    help='ground truth: Detection2D per image, matched by header stamp')
    gt.add_argument('--gt-file', type=Path, metavar='F',
                    help='ground truth: OTB-style text (1-based), one row per image in order')
    bag.add_argument('--tracker', default='deeptrack', choices=TRACKER_NAMES,
                     help='tracker to replay with (default: %(default)s)')
    bag.add_argument('--storage', choices=('mcap', 'sqlite3'),
                     help='storage of the output bag (default: the input\'s)')
    bag.add_argument('--detection-topic', default='/deeptrack/detection', metavar='T',
                     help='output Detection2D topic (default: %(default)s)')
    bag.add_argument('--status-topic', default='/deeptrack/status', metavar='T',
                     help='output TrackStatus topic (default: %(default)s)')
    _tracker_options(bag)
    bag.add_argument('--out', type=Path, required=True, metavar='DIR', help='output folder')
    bag.set_defaults(handler=run_bag)

    conv = sub.add_parser('otb2bag', help='convert an OTB sequence into a rosbag2 bag',
                          description='Write an OTB sequence as a bag: rgb8 images on '
                          '/camera/image_raw and Detection2D ground truth on /ground_truth.')
    conv.add_argument('seq_dir', type=Path, metavar='SEQ_DIR', help='OTB sequence folder')
    conv.add_argument('out_bag', type=Path, metavar='OUT_BAG', help='bag folder to create')
    conv.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap',
                      help='storage format (default: %(default)s)')
    conv.add_argument('--fps', type=float, default=30.0,
                      help='frame rate of the header stamps (default: %(default)s)')
    conv.add_argument('--target', type=int, metavar='N',
                      help='target N of a multi-target folder (groundtruth_rect.N.txt); '
                      'default: the first')
    conv.add_argument('--quiet', action='store_true', help='no progress bar')
    conv.set_defaults(handler=run_otb2bag)

    bench = sub.add_parser('bench', help='speed benchmark: DeepTrack paths vs CSRT, and the node',
                           description='Time DeepTrack (each --paths preset) and CSRT on the '
                           'same sequences in one run: median fps, ratio to CSRT, mean P@20 '
                           'and AUC, per-stage split; then the ROS node\'s own overhead and '
                           'its lag behind a fast camera. Prints figures; asserts nothing.')
    bench.add_argument('root', type=Path, metavar='ROOT',
                       help='benchmark folder holding OTB sequence folders')
    bench.add_argument('--sequences', metavar='A,B', help='sequence names; default all')
    bench.add_argument('--paths', default='best', metavar='A,B',
                       help='DeepTrack presets to time, e.g. best,paper (default: %(default)s; '
                       '--set applies to every path)')
    bench.add_argument('--frames', type=int, default=None, metavar='N',
                       help='only the first N frames of every sequence (default: all)')
    bench.add_argument('--threads', type=int, default=None, metavar='N',
                       help='torch CPU threads (default: torch\'s own choice)')
    _image_scale_option(bench)
    bench.add_argument('--node-rate', type=float, default=60.0, metavar='HZ',
                       help='camera rate for the node measurement (default: %(default)s)')
    bench.add_argument('--node-seconds', type=float, default=10.0, metavar='S',
                       help='length of the node measurement; 0 skips it (default: %(default)s)')
    _tracker_options(bench)
    bench.set_defaults(handler=run_bench)
    return parser


def _tracker_options(parser: argparse.ArgumentParser, several_modes: bool = False) -> None:
    """Options shared by the commands that run trackers; with `several_modes` `--mode`
    takes a comma list, each preset run as its own tracker."""
    parser.add_argument('--device', default='auto', choices=('auto', 'cpu', 'cuda'),
                        help='DeepTrack device (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=None,
                        help='DeepTrack random seed (default: none)')
    default_help = '(default: the core\'s DEFAULT_MODE, best, as the node ships)'
    if several_modes:
        parser.add_argument('--mode', default=None, metavar='MODE[,MODE]',
                            help=f'DeepTrack configuration preset, {" or ".join(MODES)}, or '
                            'several, comma-separated, each run as its own tracker '
                            f'(deeptrack-best, deeptrack-paper) in one table {default_help}')
    else:
        parser.add_argument('--mode', default=None, choices=MODES,
                            help=f'DeepTrack configuration preset {default_help}')
    parser.add_argument('--set', dest='overrides', action='append', default=[],
                        metavar='KEY=VALUE',
                        help='override one TrackerConfig field (repeatable)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')


# --- value parsing --------------------------------------------------------------------------

def parse_box(text: str, option: str = '--init-box') -> tuple[float, float, float, float]:
    """'X,Y,W,H' (commas or spaces) to a box of finite floats."""
    parts = [p for p in text.replace(',', ' ').split() if p]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise EvalError(f'{option}: expected X,Y,W,H numbers, got {text!r}') from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise EvalError(f'{option}: expected four finite numbers X,Y,W,H, got {text!r}')
    return values  # type: ignore[return-value]


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` items to a mapping for `TrackerConfig.from_mapping`."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition('=')
        key = key.strip()
        if not sep or not key:
            raise EvalError(f'--set: expected KEY=VALUE, got {item!r}')
        if key == 'mode':
            raise EvalError('--set: use --mode to choose the preset')
        out[key] = parse_value(value.strip())
    return out


def parse_value(text: str) -> Any:
    """A command-line value: bool, int, float, a comma list (tuple fields) or a string."""
    if ',' in text:
        return [parse_value(part.strip()) for part in text.split(',') if part.strip()]
    lowered = text.lower()
    if lowered in ('true', 'false'):
        return lowered == 'true'
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_modes(text: str | None) -> list[str | None]:
    """`--mode best,paper` to distinct preset names in the order given; no `--mode` is
    [None], the core's default preset."""
    if text is None:
        return [None]
    modes = [part.strip().lower() for part in text.split(',') if part.strip()]
    if not modes:
        raise EvalError('--mode: no preset named')
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown:
        raise EvalError(f'--mode: unknown {", ".join(unknown)} (choose from {", ".join(MODES)})')
    if len(set(modes)) != len(modes):
        raise EvalError(f'--mode: repeated preset in {text!r}')
    return modes


def parse_seeds(text: str) -> list[int]:
    """`--seeds 0,1,2` to distinct integers, in the order given."""
    try:
        seeds = [int(part) for part in text.replace(',', ' ').split()]
    except ValueError:
        raise EvalError(f'--seeds: expected integers like 0,1,2, got {text!r}') from None
    if not seeds:
        raise EvalError('--seeds: no seed given')
    if len(set(seeds)) != len(seeds):
        raise EvalError(f'--seeds: repeated seed in {text!r}')
    return seeds


def _specs(names: list[str], args: argparse.Namespace, seeds: list[int] | None = None
           ) -> tuple[list[Any], dict[str, list[str]]]:
    """One TrackerSpec per name (DeepTrack's configs built and validated up front), and the
    runs of every DeepTrack preset run with several seeds (its name -> its runs' names).

    DeepTrack gets one spec per preset of `--mode` and, with `seeds`, per seed; the peers run
    once (with the first seed). One preset keeps the plain name `deeptrack`; several are
    named `deeptrack-MODE`, so both modes and the peers land in one table.
    """
    from deeptrack_ros.eval.report import seed_label
    from deeptrack_ros.eval.trackers import TrackerSpec, deeptrack_config

    overrides = parse_overrides(args.overrides)
    modes = parse_modes(args.mode)
    if 'deeptrack' not in names and overrides:
        raise EvalError('--set applies to deeptrack, which is not among the trackers')
    configs = ({mode: deeptrack_config(mode, overrides) for mode in modes}
               if 'deeptrack' in names else {})
    first_seed = seeds[0] if seeds else args.seed
    specs: list[Any] = []
    seed_runs: dict[str, list[str]] = {}
    for name in names:
        if name != 'deeptrack':
            specs.append(TrackerSpec(name, None, args.device, first_seed))
            continue
        for mode, config in configs.items():
            base = name if len(modes) == 1 else f'{name}-{mode}'
            if not seeds:
                specs.append(TrackerSpec(name, config, args.device, args.seed,
                                         None if base == name else base))
                continue
            runs = [seed_label(seed, base) for seed in seeds]
            specs.extend(TrackerSpec(name, config, args.device, seed, run)
                         for seed, run in zip(seeds, runs))
            seed_runs[base] = runs
    return specs, seed_runs


# --- commands -------------------------------------------------------------------------------

def _image_scale_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--image-scale', type=float, default=1.0, metavar='S',
                        help='resize every image by S before tracking (named NAME-scaleS), '
                        'as from a camera of another resolution; boxes are scored in the '
                        'recorded pixels (default: %(default)s)')


def check_image_scale(scale: float) -> None:
    """Reject an --image-scale outside [MIN_IMAGE_SCALE, MAX_IMAGE_SCALE] before any I/O."""
    if not (math.isfinite(scale) and MIN_IMAGE_SCALE <= scale <= MAX_IMAGE_SCALE):
        raise EvalError(f'--image-scale must be between {MIN_IMAGE_SCALE:g} and '
                        f'{MAX_IMAGE_SCALE:g}, not {scale:g}')


def run_otb(args: argparse.Namespace) -> int:
    """`otb`: every tracker on every sequence, then summary, CSVs, plots and the table."""
    from deeptrack_ros.eval.metrics import score_sequence
    from deeptrack_ros.eval.progress import Progress
    from deeptrack_ros.eval.report import (Evaluation, format_markdown, format_table,
                                           plot_curves, write_frames_csv, write_summary)
    from deeptrack_ros.eval.runner import run_sequence
    from deeptrack_ros.eval.sequences import (discover, every_nth_frame, gray_sequence,
                                              rescaled_sequence, reversed_sequence)
    from deeptrack_ros.eval.staging import staged_dir
    from deeptrack_ros.eval.trackers import parse_tracker_list

    names = parse_tracker_list(args.trackers)
    seeds = None
    if args.seeds is not None:
        if args.seed is not None:
            raise EvalError('--seed and --seeds exclude each other')
        seeds = parse_seeds(args.seeds)
        if 'deeptrack' not in names:
            raise EvalError('--seeds applies to deeptrack, which is not among the trackers')
    wanted = [s.strip() for s in args.sequences.split(',') if s.strip()] \
        if args.sequences else None
    if args.frame_step < 1:
        raise EvalError(f'--frame-step must be 1 or more, not {args.frame_step}')
    check_image_scale(args.image_scale)
    found = discover(args.root, wanted)
    forward = found if args.direction != 'reversed' else []
    backward = [reversed_sequence(q) for q in found] if args.direction != 'forward' else []
    sequences = [rescaled_sequence(every_nth_frame(q, args.frame_step), args.image_scale)
                 for q in forward + backward]
    if args.gray:
        sequences = [gray_sequence(q) for q in sequences]
    specs, seed_runs = _specs(names, args, seeds)
    progress = Progress(enabled=not args.quiet)
    evaluation = Evaluation(device='cpu', seed=args.seed, seeds=seeds, seed_runs=seed_runs)
    total = len(specs) * len(sequences)
    with staged_dir(args.out) as staging:
        for number, (spec, sequence) in enumerate(
                ((sp, sq) for sp in specs for sq in sequences), start=1):
            tracker = spec.build()
            if spec.name == 'deeptrack':
                evaluation.device = tracker.device
            prefix = f'[{number}/{total}] ' + (f'seed {spec.seed} ' if spec.label else '')
            run = run_sequence(tracker, sequence, progress, prefix)
            evaluation.add(spec.title, sequence.name,
                           score_sequence(run.boxes, sequence.groundtruth), run)
            write_frames_csv(staging / spec.title / f'{sequence.name}.csv', run)
        write_summary(staging / 'summary.json', evaluation)
        (staging / 'table.md').write_text(format_markdown(evaluation), encoding='utf-8')
        plot_curves(staging, evaluation)
    progress.message(f'wrote {args.out}')
    print(format_table(evaluation))
    return 0


def run_bench(args: argparse.Namespace) -> int:
    """`bench`: DeepTrack paths and CSRT timed on the same frames, then the node."""
    import dataclasses

    from deeptrack_ros.eval.bench import (format_paths, format_per_sequence, machine_summary,
                                          node_benchmark_lines, run_paths)
    from deeptrack_ros.eval.progress import Progress
    from deeptrack_ros.eval.sequences import discover, rescaled_sequence
    from deeptrack_ros.eval.trackers import TrackerSpec, deeptrack_config

    if args.threads is not None:
        if args.threads < 1:
            raise EvalError(f'--threads must be at least 1, got {args.threads}')
        import torch
        torch.set_num_threads(args.threads)
    if args.frames is not None and args.frames < 2:
        raise EvalError(f'--frames must be at least 2, got {args.frames}')
    wanted = [s.strip() for s in args.sequences.split(',') if s.strip()] \
        if args.sequences else None
    check_image_scale(args.image_scale)
    sequences = discover(args.root, wanted)
    if args.frames is not None:
        sequences = [dataclasses.replace(q, frames=q.frames[:args.frames],
                                         groundtruth=q.groundtruth[:args.frames])
                     for q in sequences]
    sequences = [rescaled_sequence(q, args.image_scale) for q in sequences]
    overrides = parse_overrides(args.overrides)
    paths = [p.strip() for p in args.paths.split(',') if p.strip()]
    if not paths:
        raise EvalError('--paths: no preset named')
    specs = [(f'deeptrack[{path}]',
              TrackerSpec('deeptrack', deeptrack_config(path, overrides), args.device,
                          args.seed)) for path in paths]
    specs.append(('csrt', TrackerSpec('csrt', None, args.device, args.seed)))
    device = str(specs[0][1].build().device) if specs else 'cpu'
    print(machine_summary(device), flush=True)
    print(f'{len(sequences)} sequences, '
          f'{sum(len(q) for q in sequences)} frames per path', flush=True)
    results = run_paths(specs, sequences, Progress(enabled=not args.quiet))
    print(format_paths(results))
    print(format_per_sequence(results))
    if args.node_seconds > 0:
        config = specs[0][1].config
        for line in node_benchmark_lines(config, args.node_rate, args.node_seconds,
                                         args.device, args.seed or 0):
            print(line)
    return 0


def run_bag(args: argparse.Namespace) -> int:
    """`bag`: replay a bag, write the new bag, the CSV and (with ground truth) the metrics."""
    from deeptrack_ros.eval import rosmsgs
    from deeptrack_ros.eval.progress import Progress
    from deeptrack_ros.eval.replay import ReplayRequest, replay
    from deeptrack_ros.eval.report import format_table, plot_curves, write_summary
    from deeptrack_ros.eval.staging import staged_dir

    request = ReplayRequest(
        bag=args.bag, image_topic=args.image_topic,
        init_box=parse_box(args.init_box) if args.init_box else None,
        init_topic=args.init_topic, gt_topic=args.gt_topic, gt_file=args.gt_file,
        storage=args.storage, detection_topic=args.detection_topic,
        status_topic=args.status_topic)
    if not args.bag.exists():
        raise EvalError(f'{args.bag}: no such bag')
    if args.gt_file is not None and not args.gt_file.is_file():
        raise EvalError(f'{args.gt_file}: no such ground-truth file')
    spec = _specs([args.tracker], args)[0][0]
    progress = Progress(enabled=not args.quiet)
    with staged_dir(args.out) as staging:
        tracker = spec.build()
        outcome = replay(request, tracker, staging, args.seed, progress)
        if outcome.evaluation is not None:
            write_summary(staging / 'summary.json', outcome.evaluation)
            plot_curves(staging, outcome.evaluation)
    status = '' if rosmsgs.has_status_type() else \
        ' (TrackStatus.msg not found: detections only)'
    progress.message(f'wrote {args.out}: {outcome.images} images, {outcome.detections} '
                     f'detections, {outcome.statuses} status messages{status}')
    if outcome.evaluation is not None:
        print(format_table(outcome.evaluation))
    else:
        print(f'{outcome.run.tracker}: {len(outcome.run.records)} frames, '
              f'{outcome.run.fps:.1f} fps (no ground truth, no metrics)')
    return 0


def run_otb2bag(args: argparse.Namespace) -> int:
    """`otb2bag`: one OTB sequence (one target) to a bag."""
    from deeptrack_ros.eval.bags import otb_to_bag
    from deeptrack_ros.eval.progress import Progress
    from deeptrack_ros.eval.sequences import load_folder
    from deeptrack_ros.eval.staging import staged_path

    if not args.seq_dir.is_dir():
        raise EvalError(f'{args.seq_dir}: no such folder')
    sequences = load_folder(args.seq_dir)
    if args.target is None:
        sequence = sequences[0]
    else:
        name = f'{args.seq_dir.name}-{args.target}'
        matches = [s for s in sequences if s.name == name]
        if not matches and args.target == 1 and len(sequences) == 1 \
                and sequences[0].source.name == 'groundtruth_rect.txt':
            matches = sequences  # a single-target folder: its only target is target 1
        if not matches:
            raise EvalError(f'{args.seq_dir}: no groundtruth_rect.{args.target}.txt')
        sequence = matches[0]
    progress = Progress(enabled=not args.quiet)
    progress.start(f'otb2bag {sequence.name}', len(sequence))
    with staged_path(args.out_bag) as target:
        count = otb_to_bag(list(sequence.frames), sequence.groundtruth, target, args.storage,
                           args.fps, progress)
    progress.finish()
    print(f'{sequence.name}: {count} frames -> {args.out_bag} ({args.storage})')
    return 0


if __name__ == '__main__':  # pragma: no cover
    sys.exit(main())
