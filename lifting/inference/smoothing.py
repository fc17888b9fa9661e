"""Smoothing pose sequences in time, and the velocity error that measures jitter.

A sequence is `(T, ..., D)`: frames first, any joint/coordinate axes after (e.g. `poses3d (T, J, 3)` mm or
`joints2d (T, J, 2)` px). NaN marks frames where a person is absent (a track's gaps): every contiguous run of
finite frames is filtered on its own, so a gap never drags a pose towards another time.

Two filters:
* `savgol`: Savitzky-Golay (scipy.signal.savgol_filter), a centred window of `window` frames fitting a
  polynomial of `order`; needs the whole sequence (offline), keeps peaks better than a moving average.
* `one_euro`: the One-Euro filter (Casiez et al., CHI 2012), causal (usable live): a low-pass whose cutoff
  rises with speed, `min_cutoff` and `d_cutoff` in Hz at `fps` frames per second.
Lifted sequences gain most when the tracked 2D is smoothed before lifting and the 3D again after it
(bench/smoothing.py).
"""

from __future__ import annotations

import numpy as np

from lifting.errors import UserError

METHODS = ("savgol", "one_euro")
# Tuned with bench/smoothing.py on Human3.6M S8 at 10 fps (lifter of opts/h36.yaml, 6 epochs on S1,5,6,7): with 10 px
# 2D noise, a 9-frame window on the 2D input and again on the 3D output takes MPJVE from 148.3 to 26.2 mm/frame and
# MPJPE from 142.8 to 80.4 mm; on clean 2D it costs 0.8 mm MPJPE (42.9 -> 43.7).
DEFAULT_WINDOW = 9
DEFAULT_ORDER = 2
DEFAULT_MIN_CUTOFF_HZ = 1.0
DEFAULT_BETA = 0.0
DEFAULT_D_CUTOFF_HZ = 1.0


def segments(sequence: np.ndarray) -> list[slice]:
    """The maximal runs of frames of `sequence (T, ...)` whose values are all finite."""
    finite = np.isfinite(np.asarray(sequence, dtype=np.float64).reshape(len(sequence), -1)).all(1)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], finite.astype(np.int8), [0]])))
    return [slice(a, b) for a, b in zip(edges[::2], edges[1::2])]


def savgol(sequence, window: int = DEFAULT_WINDOW, order: int = DEFAULT_ORDER) -> np.ndarray:
    """Savitzky-Golay along frames of `(T, ...)`; a segment shorter than `window` gets the longest odd window it
    holds, and one too short for `order` is left as it is."""
    if window < 1 or window % 2 == 0:
        raise UserError(f"smoothing window {window}: expected an odd number of frames >= 1")
    if not 0 <= order < window:
        raise UserError(f"smoothing order {order}: expected 0 <= order < window ({window} frames)")
    from scipy.signal import savgol_filter  # here: scipy.signal takes a second or two to import

    x = np.asarray(sequence, dtype=np.float64)
    out = x.copy()
    for seg in segments(x):
        n = seg.stop - seg.start
        w = min(window, n if n % 2 else n - 1)
        if w > order:
            out[seg] = savgol_filter(x[seg], w, order, axis=0, mode="interp")
    return out


def _alpha(cutoff_hz, fps: float):
    """Exponential smoothing factor of a first-order low-pass at `cutoff_hz` sampled at `fps`."""
    tau = 1.0 / (2 * np.pi * cutoff_hz)
    return 1.0 / (1.0 + tau * fps)


def one_euro(sequence, fps: float, min_cutoff: float = DEFAULT_MIN_CUTOFF_HZ, beta: float = DEFAULT_BETA,
             d_cutoff: float = DEFAULT_D_CUTOFF_HZ) -> np.ndarray:
    """One-Euro filter along frames of `(T, ..., D)`; the speed that opens the cutoff is the norm over the last
    axis (a joint's speed, in units per second), so a joint's coordinates share one cutoff."""
    if not fps > 0:
        raise UserError(f"fps {fps}: expected a positive frame rate")
    if not (min_cutoff > 0 and d_cutoff > 0 and beta >= 0):
        raise UserError(f"One-Euro parameters min_cutoff={min_cutoff}, d_cutoff={d_cutoff} (Hz, > 0) and "
                        f"beta={beta} (>= 0) out of range")
    x = np.asarray(sequence, dtype=np.float64)
    out = x.copy()
    a_d = _alpha(d_cutoff, fps)
    for seg in segments(x):
        prev, speed = x[seg.start], np.zeros(x.shape[1:])
        for t in range(seg.start + 1, seg.stop):
            speed = a_d * (x[t] - prev) * fps + (1 - a_d) * speed
            a = _alpha(min_cutoff + beta * np.linalg.norm(speed, axis=-1, keepdims=True), fps)
            prev = out[t] = a * x[t] + (1 - a) * prev
    return out


def smooth(sequence, method: str = "savgol", fps: float = 10.0, **params) -> np.ndarray:
    """`sequence (T, ..., D)` filtered by `method` ('savgol': window, order; 'one_euro': min_cutoff, beta,
    d_cutoff) - the `--smooth` of the scripts."""
    if method == "savgol":
        return savgol(sequence, **params)
    if method == "one_euro":
        return one_euro(sequence, fps, **params)
    raise UserError(f"smoothing method {method!r}: expected one of {', '.join(METHODS)}")


def smooth_tracks(tracks, method: str = "savgol", fps: float = 10.0, **params) -> np.ndarray:
    """Per-track arrays `(T, K, J, D)` (NaN where a track is absent, `lifting.inference.tracking.Tracks.joints`)
    smoothed track by track, so one person's absence never splits another's segments."""
    x = np.asarray(tracks, dtype=np.float64)
    if x.ndim < 2:
        raise UserError(f"smooth_tracks: expected (T, K, ...) per-track arrays, got shape {x.shape}")
    return np.stack([smooth(x[:, k], method, fps, **params) for k in range(x.shape[1])], 1) if x.shape[1] else x
