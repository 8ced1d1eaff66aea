"""Small generated OTB-format sequences, for tests and smoke runs without a dataset.

A textured, coloured target moves over a smooth random background on a known path, so every
part of the evaluation (loader, harness, peers, bags, reports) can be exercised in a second
with real files and real trackers, and the true boxes are known exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def render_frames(count: int = 12, size: tuple[int, int] = (120, 90),
                  box: tuple[int, int, int, int] = (30, 25, 24, 20),
                  step: tuple[int, int] = (2, 1),
                  seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """(RGB frames, 0-based integer boxes) of a target moving `step` pixels per frame."""
    width, height = size
    rng = np.random.default_rng(seed)
    coarse = rng.integers(40, 120, size=(height // 8 + 2, width // 8 + 2, 3)).astype(np.float32)
    background = np.kron(coarse, np.ones((8, 8, 1), dtype=np.float32))[:height, :width]
    x0, y0, w, h = box
    tile = np.zeros((h, w, 3), dtype=np.float32)
    checker = (np.add.outer(np.arange(h) // 4, np.arange(w) // 4) % 2).astype(bool)
    tile[checker] = (230, 40, 40)
    tile[~checker] = (250, 220, 30)
    frames, boxes = [], []
    for i in range(count):
        x = min(max(0, x0 + step[0] * i), width - w)
        y = min(max(0, y0 + step[1] * i), height - h)
        frame = background.copy()
        frame[y:y + h, x:x + w] = tile
        frame += rng.normal(0.0, 3.0, size=frame.shape).astype(np.float32)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
        boxes.append((x, y, w, h))
    return frames, np.asarray(boxes, dtype=np.float64)


def write_otb_sequence(folder: Path, count: int = 12, size: tuple[int, int] = (120, 90),
                       separator: str = ',', first_number: int = 1, extension: str = '.png',
                       seed: int = 0, gt_name: str = 'groundtruth_rect.txt') -> np.ndarray:
    """Write `folder/img/NNNN.ext` and a 1-based ground-truth file; return the 0-based boxes.

    PNG by default so pixels round-trip exactly; JPEG (`extension='.jpg'`) matches OTB.
    """
    import cv2

    frames, boxes = render_frames(count, size, seed=seed)
    images = Path(folder) / 'img'
    images.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        path = images / f'{first_number + i:04d}{extension}'
        if not cv2.imwrite(str(path), frame[:, :, ::-1]):
            raise OSError(f'cannot write {path}')
    rows = [separator.join(str(int(v) + (1 if k < 2 else 0)) for k, v in enumerate(b))
            for b in boxes]
    (Path(folder) / gt_name).write_text('\n'.join(rows) + '\n', encoding='utf-8')
    return boxes
