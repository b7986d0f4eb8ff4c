"""Generated "edge camera" scenes with one moving object and its exact box.

The project's own default data: each seed gives a different scene (sky/ground, blobs, texture,
a slow camera pan) with one textured object (ellipse, rounded panel or vehicle-like shape) that
moves smoothly and changes size slowly. Frames are rendered like a camera's: the scene through a
lens (a Gaussian point-spread function of :data:`OPTICS_SIGMA` pixels), then sensor noise.
Objects are painted like real ones: a saturated body colour with stripes and tinted windows
in darker shades of it, smooth surface detail and a dark outline. Boxes are the object's exact
pixel bounding box (the lens spreads its edge by about a pixel), so tests and demos need no
downloaded data. Frames depend only on ``(seed, width, height, index)``:
a shorter sequence is a prefix of a longer one.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rinr_core.errors import ConfigError
from rinr_core.frames import Frame

MIN_SIDE = 16
SHAPES = ("ellipse", "panel", "vehicle")
_NOISE_SIGMA = 1.5  # per-frame sensor noise, grey levels
OPTICS_SIGMA = 0.7
"""Standard deviation (pixels) of the lens blur applied before the sensor noise."""
_TEXTURE_CELLS = 6  # surface detail: a 6x6 grid of grey offsets, bilinearly interpolated
_PARTITION_SALT = 0x52494E52  # "RINR": keeps partition seeds apart from plain seeds


@dataclass(frozen=True)
class _Background:
    """Random choices that define one scene's background."""

    sky_top: np.ndarray
    sky_low: np.ndarray
    ground_far: np.ndarray
    ground_near: np.ndarray
    horizon: float  # row of the horizon at the image centre
    tilt: float  # horizon slope, rows per column
    period: int  # the world repeats every ``period`` columns (endless pan)
    blobs: np.ndarray  # (n, 7): x, y, rx, ry, dr, dg, db
    waves: np.ndarray  # (k, 4): kx, ky, phase, amplitude
    grain: np.ndarray  # (rows, period) fixed world texture
    pan_speed: float  # columns per frame
    bob: tuple[float, float, float]  # vertical camera sway: amplitude, period, phase


@dataclass(frozen=True)
class _Object:
    """Random choices that define the scene's object and its motion."""

    shape: str
    color: np.ndarray
    stripe_color: np.ndarray  # a darker shade of ``color``
    stripes: tuple[float, float, float]  # cycles across the width, phase, tilt
    texture: np.ndarray  # (cells, cells) fixed surface detail in object coordinates
    size: tuple[float, float]  # base width, height in pixels
    growth: tuple[float, float, float]  # relative size amplitude, period, phase
    path: np.ndarray  # (2, 2, 3): axis x/y, harmonic, (amplitude, period, phase)


@dataclass(frozen=True)
class _Scene:
    width: int
    height: int
    background: _Background
    obj: _Object


def generate_sequence(
    num_frames: int,
    *,
    width: int = 160,
    height: int = 96,
    seed: int = 0,
    label: str = "object",
) -> list[Frame]:
    """Generate ``num_frames`` frames of a deterministic synthetic scene with one moving object.

    Parameters
    ----------
    num_frames
        Number of frames (0 gives an empty list).
    width, height
        Frame size in pixels (each at least 16).
    seed
        Scene identity: the same seed always gives the same frames, different seeds give
        different backgrounds, objects, colours and motion.
    label
        Label of every frame.

    Returns
    -------
    list[Frame]
        Frames named ``f"syn{seed}_{i:04d}"``, with ``meta["index"]`` and ``meta["seed"]``;
        each box is the object's exact bounding box (its area is about 2-9% of the frame).

    Raises
    ------
    ConfigError
        ``num_frames`` is negative or the frame is smaller than 16x16.
    """
    if num_frames < 0:
        raise ConfigError(f"num_frames must be >= 0, got {num_frames}")
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ConfigError(f"frames must be at least {MIN_SIDE}x{MIN_SIDE}, got {width}x{height}")
    scene = _make_scene(seed, width, height)
    return [_render_frame(scene, seed, i, label) for i in range(num_frames)]


def partition_seed(partition_id: int, seed: int = 0) -> int:
    """The scene seed of edge node ``partition_id`` in a run seeded with ``seed``."""
    state = np.random.SeedSequence([_PARTITION_SALT, seed, partition_id]).generate_state(1)
    return int(state[0] & 0x7FFFFFFF)


def generate_partition(partition_id: int, num_frames: int, **kw: Any) -> list[Frame]:
    """Generate the scene of edge node ``partition_id``: :func:`generate_sequence` with its own seed.

    ``kw`` is passed on to :func:`generate_sequence`; a ``seed`` in it is the run's seed and is
    combined with ``partition_id`` (see :func:`partition_seed`), so every node sees a different
    scene and every run seed a different set of scenes.
    """
    if partition_id < 0:
        raise ConfigError(f"partition_id must be >= 0, got {partition_id}")
    run_seed = int(kw.pop("seed", 0))
    return generate_sequence(num_frames, seed=partition_seed(partition_id, run_seed), **kw)


# --- scene choices ------------------------------------------------------------------------


def _make_scene(seed: int, width: int, height: int) -> _Scene:
    """Draw every random choice of the scene from ``seed``."""
    rng = np.random.default_rng([seed, width, height])
    background = _make_background(rng, width, height)
    return _Scene(width, height, background, _make_object(rng, background, width, height))


def _hsv(rng: np.random.Generator, hue: float, sat: tuple, val: tuple) -> np.ndarray:
    """An RGB colour (0..255 floats) with the given hue and random saturation/value."""
    rgb = colorsys.hsv_to_rgb(hue % 1.0, rng.uniform(*sat), rng.uniform(*val))
    return np.array(rgb) * 255.0


def _make_background(rng: np.random.Generator, width: int, height: int) -> _Background:
    sky_hue = rng.uniform(0.52, 0.66)  # blue to slightly cyan/violet skies
    ground_hue = rng.uniform(0.05, 0.38)  # browns, ochres, greens
    period = 2 * width + 37
    n_blobs = int(rng.integers(5, 9))
    blobs = np.column_stack(
        [
            rng.uniform(0, period, n_blobs),
            rng.uniform(0, height, n_blobs),
            rng.uniform(0.08, 0.25, n_blobs) * width,
            rng.uniform(0.08, 0.25, n_blobs) * height,
            rng.uniform(-45, 45, (n_blobs, 3)),
        ]
    )
    n_waves = 4
    wavelength = rng.uniform(5, 24, n_waves)
    angle = rng.uniform(0, math.pi, n_waves)
    waves = np.column_stack(
        [
            2 * math.pi / wavelength * np.cos(angle),
            2 * math.pi / wavelength * np.sin(angle),
            rng.uniform(0, 2 * math.pi, n_waves),
            rng.uniform(2, 6, n_waves),
        ]
    )
    return _Background(
        sky_top=_hsv(rng, sky_hue, (0.4, 0.8), (0.55, 0.85)),
        sky_low=_hsv(rng, sky_hue - 0.05, (0.1, 0.35), (0.8, 1.0)),
        ground_far=_hsv(rng, ground_hue, (0.25, 0.5), (0.45, 0.7)),
        ground_near=_hsv(rng, ground_hue + 0.03, (0.35, 0.7), (0.25, 0.5)),
        horizon=rng.uniform(0.25, 0.45) * height,
        tilt=rng.uniform(-0.08, 0.08) * height / width,
        period=period,
        blobs=blobs,
        waves=waves,
        grain=rng.normal(0.0, 4.0, (height + 8, period)),
        pan_speed=float(rng.uniform(0.3, 1.0) * rng.choice([-1, 1])),
        bob=(rng.uniform(0.0, 1.5), rng.uniform(40, 90), rng.uniform(0, 2 * math.pi)),
    )


def _make_object(
    rng: np.random.Generator, background: _Background, width: int, height: int
) -> _Object:
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    aspect = rng.uniform(1.4, 2.2) if shape == "vehicle" else rng.uniform(0.6, 1.8)
    area = rng.uniform(0.035, 0.06) * width * height  # box area at the base size
    growth_amp = 0.2
    base_w = min(math.sqrt(area * aspect), 0.7 * width / (1 + growth_amp))
    base_h = min(base_w / aspect, 0.7 * height / (1 + growth_amp))
    color = _object_color(rng, background)
    path = np.zeros((2, 2, 3))
    for axis, (side, base) in enumerate(((width, base_w), (height, base_h))):
        room = max(0.0, (side - base * (1 + growth_amp)) / 2 - 1)
        path[axis, 0] = (0.8 * room, rng.uniform(70, 200), rng.uniform(0, 2 * math.pi))
        path[axis, 1] = (0.2 * room, rng.uniform(20, 45), rng.uniform(0, 2 * math.pi))
    return _Object(
        shape=shape,
        color=color,
        stripe_color=color * rng.uniform(0.45, 0.65),
        stripes=(rng.uniform(3, 7), rng.uniform(0, 2 * math.pi), rng.uniform(-0.6, 0.6)),
        texture=rng.normal(0.0, 10.0, (_TEXTURE_CELLS, _TEXTURE_CELLS)),
        size=(base_w, base_h),
        growth=(growth_amp, rng.uniform(60, 140), rng.uniform(0, 2 * math.pi)),
        path=path,
    )


def _object_color(rng: np.random.Generator, background: _Background) -> np.ndarray:
    """A saturated colour clearly different from every background base colour."""
    references = (
        background.sky_top,
        background.sky_low,
        background.ground_far,
        background.ground_near,
    )
    color = _hsv(rng, rng.uniform(0, 1), (0.6, 1.0), (0.5, 0.95))
    for _ in range(20):
        if min(np.abs(color - ref).sum() for ref in references) >= 90:
            break
        color = _hsv(rng, rng.uniform(0, 1), (0.6, 1.0), (0.5, 0.95))
    return color


# --- rendering ----------------------------------------------------------------------------


def _render_frame(scene: _Scene, seed: int, index: int, label: str) -> Frame:
    """Render frame ``index``: background, object, lens blur, then sensor noise."""
    canvas = _background(scene, index)
    box = _draw_object(scene, canvas, index)
    canvas = _lens_blur(canvas, OPTICS_SIGMA)
    rng = np.random.default_rng([seed, scene.width, scene.height, index])
    canvas += _NOISE_SIGMA * rng.standard_normal(canvas.shape, dtype=np.float32)
    image = np.clip(canvas, 0, 255).round().astype(np.uint8)
    return Frame(image, box, f"syn{seed}_{index:04d}", label, {"index": index, "seed": seed})


def _lens_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """``image`` through a separable Gaussian point-spread function (edges replicated)."""
    radius = max(1, math.ceil(3 * sigma))
    taps = np.exp(-(np.arange(-radius, radius + 1) ** 2) / (2 * sigma**2))
    taps /= taps.sum()
    padded = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    height, width = image.shape[:2]
    rows = sum(t * padded[:, k : k + width] for k, t in enumerate(taps))
    return sum(t * rows[k : k + height] for k, t in enumerate(taps)).astype(np.float32)


def _background(scene: _Scene, t: int) -> np.ndarray:
    """The noiseless background of frame ``t`` as float RGB ``(H, W, 3)`` within 0..255."""
    bg = scene.background
    bob_amp, period, phase = bg.bob
    ox = bg.pan_speed * t
    oy = bob_amp * math.sin(2 * math.pi * t / period + phase)
    cols = np.arange(scene.width, dtype=np.float64)
    rows = np.arange(scene.height, dtype=np.float64)[:, None]
    wx = cols + ox  # world columns; blobs and grain repeat every bg.period (endless pan)
    wy = rows + oy
    horizon = bg.horizon + bg.tilt * (cols - scene.width / 2)
    sky_t = np.clip(wy / np.maximum(horizon, 1.0), 0, 1)[..., None]
    ground_t = np.clip((wy - horizon) / np.maximum(scene.height - horizon, 1.0), 0, 1)[..., None]
    sky = bg.sky_top + (bg.sky_low - bg.sky_top) * sky_t
    ground = bg.ground_far + (bg.ground_near - bg.ground_far) * ground_t
    is_ground = (1.0 / (1.0 + np.exp(-(wy - horizon) / 0.7)))[..., None]
    image = sky + (ground - sky) * is_ground
    # blobs and waves are separable in rows and columns: build them from outer products
    x, y, rx, ry = (bg.blobs[:, k : k + 1] for k in range(4))
    dx = (wx[None, :] - x + bg.period / 2) % bg.period - bg.period / 2
    col_weight = np.exp(-((dx / rx) ** 2))  # (n, W)
    row_weight = np.exp(-(((wy[:, 0][None, :] - y) / ry) ** 2))  # (n, H)
    image += np.einsum("nh,nw,nc->hwc", row_weight, col_weight, bg.blobs[:, 4:], optimize=True)
    kx, ky, ph, amp = (bg.waves[:, k : k + 1] for k in range(4))
    ax, ay = kx * wx[None, :], ky * wy[:, 0][None, :] + ph  # (k, W), (k, H)
    texture = (amp * np.sin(ay)).T @ np.cos(ax) + (amp * np.cos(ay)).T @ np.sin(ax)
    grain_rows = np.clip(np.rint(wy).astype(int) + 4, 0, bg.grain.shape[0] - 1)
    texture += bg.grain[grain_rows, np.floor(wx).astype(int) % bg.period]
    image += (texture * (0.35 + 0.65 * is_ground[..., 0]))[..., None]
    return np.clip(image, 0.0, 255.0, out=image)


def _object_geometry(scene: _Scene, t: int) -> tuple[float, float, float, float]:
    """Centre and size ``(cx, cy, w, h)`` of the object in frame ``t`` (sub-pixel floats)."""
    obj = scene.obj
    amp, period, phase = obj.growth
    scale = 1.0 + amp * math.sin(2 * math.pi * t / period + phase)
    centre = [
        side / 2 + sum(a * math.sin(2 * math.pi * t / p + ph) for a, p, ph in obj.path[axis])
        for axis, side in enumerate((scene.width, scene.height))
    ]
    return centre[0], centre[1], obj.size[0] * scale, obj.size[1] * scale


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Which object-space points ``(u, v)`` in ``[0, 1]^2`` belong to the shape."""
    if shape == "ellipse":
        return (2 * u - 1) ** 2 + (2 * v - 1) ** 2 <= 1.0
    if shape == "panel":  # rounded rectangle
        r = 0.25
        du = np.maximum(np.abs(u - 0.5) - (0.5 - r), 0)
        dv = np.maximum(np.abs(v - 0.5) - (0.5 - r), 0)
        return (du**2 + dv**2 <= r**2) & (u >= 0) & (u <= 1) & (v >= 0) & (v <= 1)
    body = (v >= 0.38) & (v <= 0.85) & (u >= 0) & (u <= 1)
    cabin = (v >= 0.0) & (v < 0.4) & (u >= 0.22) & (u <= 0.72)
    wheels = ((u - 0.22) / 0.11) ** 2 + ((v - 0.85) / 0.15) ** 2 <= 1.0
    wheels |= ((u - 0.78) / 0.11) ** 2 + ((v - 0.85) / 0.15) ** 2 <= 1.0
    return body | cabin | wheels


def _draw_object(scene: _Scene, canvas: np.ndarray, t: int) -> tuple[int, int, int, int]:
    """Paint the object of frame ``t`` onto ``canvas`` in place; return its exact box."""
    obj = scene.obj
    cx, cy, w, h = _object_geometry(scene, t)
    x0, y0 = cx - w / 2, cy - h / 2
    c0, c1 = max(0, math.floor(x0)), min(scene.width, math.ceil(x0 + w))
    r0, r1 = max(0, math.floor(y0)), min(scene.height, math.ceil(y0 + h))
    u = (np.arange(c0, c1) + 0.5 - x0) / w  # pixel centres in object coordinates
    v = ((np.arange(r0, r1) + 0.5 - y0) / h)[:, None]
    u, v = np.broadcast_to(u, (r1 - r0, c1 - c0)), np.broadcast_to(v, (r1 - r0, c1 - c0))
    mask = _shape_mask(obj.shape, u, v)
    if not mask.any():  # cannot happen at the sizes drawn; keep the box meaningful anyway
        mask[mask.shape[0] // 2, mask.shape[1] // 2] = True
    canvas[r0:r1, c0:c1][mask] = _object_pixels(obj, u, v, mask)[mask]
    rows, cols = np.nonzero(mask)
    return (
        c0 + int(cols.min()),
        r0 + int(rows.min()),
        int(cols.max() - cols.min()) + 1,
        int(rows.max() - rows.min()) + 1,
    )


def _object_pixels(obj: _Object, u: np.ndarray, v: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Object colours at object-space points: shading, stripes, surface detail, dark outline."""
    cycles, phase, slant = obj.stripes
    wave = np.sin(2 * math.pi * cycles * (u + slant * v) + phase)
    stripe = (1.0 / (1.0 + np.exp(-4.0 * (wave - 0.2))))[..., None]  # painted, soft-edged
    colors = obj.color + (obj.stripe_color - obj.color) * stripe
    colors = colors * (1.15 - 0.35 * v)[..., None] + _surface(obj.texture, u, v)[..., None]
    if obj.shape == "vehicle":
        window = (v > 0.08) & (v < 0.34) & (u > 0.28) & (u < 0.66)
        colors = np.where(window[..., None], obj.color * 0.3 + 25.0, colors)  # tinted glass
        colors = np.where((v > 0.85)[..., None], colors * 0.25 + 15.0, colors)  # wheels
    edge = mask & ~_inner(mask)
    return np.where(edge[..., None], colors * 0.45, colors)


def _surface(texture: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The object's surface detail at object-space points: ``texture`` bilinearly interpolated."""
    cells = texture.shape[0]
    fu, fv = np.clip(u, 0, 1) * (cells - 1), np.clip(v, 0, 1) * (cells - 1)
    iu = np.minimum(fu.astype(int), cells - 2)
    iv = np.minimum(fv.astype(int), cells - 2)
    au, av = fu - iu, fv - iv
    top = texture[iv, iu] * (1 - au) + texture[iv, iu + 1] * au
    bottom = texture[iv + 1, iu] * (1 - au) + texture[iv + 1, iu + 1] * au
    return top * (1 - av) + bottom * av


def _inner(mask: np.ndarray) -> np.ndarray:
    """Mask pixels whose four neighbours are all in the mask."""
    padded = np.pad(mask, 1)
    return mask & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
