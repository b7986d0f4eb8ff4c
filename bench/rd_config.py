"""What the rate-distortion benchmark measures and what it records: settings, run specs, results.

Constants and dataclasses shared by the ``rd_*`` modules of ``bench/rd.py``; a :class:`Report`'s
``data()`` is the ``rd.json`` file, which :func:`config_from_dict` and :func:`preset_from_dict`
read back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from common import REPO_ROOT

from rinr_core.codec import CodecSettings
from rinr_core.nerv import DEFAULT_NERV_PRESET
from rinr_core.presets import Preset, get_preset
from rinr_core.siren import SirenArch

NAME = "rd"
FIGURES_DIR = REPO_ROOT / "out" / "rd-figures"
FIGURES_NOTE = "out/rd-figures/"
DEFAULT_FRAMES = 2
DEFAULT_MAX_SIDE = 160
DEFAULT_PAPER_STEPS = 1000
DEFAULT_PAPER_MODES = ("bs", "qre")
DEFAULT_SEQUENCE_FRAMES = 60
QUICK = {"frames": 1, "max_side": 96, "steps": 100, "sequences": 1, "sequence_frames": 6, "nerv_epochs": 6}
VIDEO_CODECS = ("res-nerv", "nerv")
DEFAULT_GRID_LAMBDAS = (40.0, 150.0, 600.0)
BACKGROUND_DB = 30.0
OBJECT_DB = 35.0
CODEC_TITLES = {"jpeg": "JPEG", "webp": "WebP", "avif": "AVIF", "roi-jpeg": "ROI-JPEG",
                "res-nerv": "Res-NeRV", "nerv": "NeRV", "grid": "grid", "grid-stream": "grid stream",
                "camera-jpeg": "camera JPEG"}


@dataclass(frozen=True)
class RunSpec:
    """One INR encoder configuration of the benchmark: a preset, its step budget and its modes.

    ``snapshot`` is the preset as it was when the run was measured (kept in ``rd.json``, so a
    report rebuilt with ``--render`` describes what was measured, not today's preset).
    """

    name: str
    preset: str
    steps: int | None  # None: the preset's own budgets
    modes: tuple[str, ...]
    snapshot: Preset | None = None

    def resolved(self) -> Preset:
        """The preset this run used."""
        return self.snapshot if self.snapshot is not None else get_preset(self.preset)

    def settings(self, device: str | None) -> CodecSettings:
        """The codec settings of this run (frames are resized before, so no ``max_side``)."""
        return CodecSettings(mode="qre", preset=self.preset, steps=self.steps, device=device)

    def describe(self) -> str:
        """Preset, networks, learning rates and step budget in words."""
        p = self.resolved()
        if self.steps is None:
            steps = f"{p.steps} background / {p.object_steps} object steps (the preset's own)"
        else:
            steps = f"{self.steps} steps per INR"
            if self.steps < p.steps:
                steps += f" (**reduced** from the preset's {p.steps})"
        qat = f", +{p.qat_fraction:.0%} quantization-aware steps for QRE" if p.qat_fraction else ""
        same = " (the same network as the background, so BS and BE coincide)" if p.baseline == p.background else ""
        first = getattr(p, "first_layer_bits", None)
        bits = (f"QRE weights {p.background_bits} bit background / {p.object_bits} bit object"
                + (f" (first layer {first} bit)" if first else "") + f", other modes {p.float_bits} bit")
        return (f"`{self.preset}`: background SIREN {p.background.depth}x{p.background.width}, "
                f"BS {p.baseline.depth}x{p.baseline.width}{same}, object tiers by box area; Adam lr "
                f"{p.lr:g} (object {p.object_lr:g}) {p.schedule}; {steps}{qat}; {bits}; "
                f"modes {', '.join(m.upper() for m in self.modes)}")


def preset_from_dict(data: dict[str, Any]) -> Preset:
    """A :class:`Preset` from its ``dataclasses.asdict`` form (fields this version lacks are dropped)."""
    known = {f.name for f in fields(Preset)}
    values = {k: v for k, v in data.items() if k in known}
    values["background"] = SirenArch(**values["background"])
    values["baseline"] = SirenArch(**values["baseline"])
    values["object_tiers"] = tuple((int(bound), SirenArch(**arch)) for bound, arch in values["object_tiers"])
    return Preset(**values)


@dataclass(frozen=True)
class RdConfig:
    """Everything that decides the benchmark's numbers."""

    data_dir: Path
    sequences: tuple[str, ...] | None  # None: every sequence folder in data_dir
    frames: int
    max_side: int
    runs: tuple[RunSpec, ...]
    device: str | None = None
    background_db: float = BACKGROUND_DB
    object_db: float = OBJECT_DB
    sequence_frames: int = 0  # first frames of each sequence for the sequence codecs (0: no such section, -1: all)
    nerv_preset: str = DEFAULT_NERV_PRESET
    nerv_epochs: int | None = None  # None: the NeRV preset's own
    nerv_bpp: float | None = None  # None: the NeRV preset's architecture as is
    aim_targets: bool = False  # Res-NeRV: grow the NeRV / refit objects that miss the targets (see --aim-targets)
    object_steps: int | None = None  # None: the object preset's own (sequence codecs)
    grid_frames: int = 0  # first frames of the per-frame section coded with per-frame grid at the targets (0: none)
    grid_curve_frames: int = 0  # first frames of the per-frame section coded with grid at grid_lambdas (0: none)
    grid_lambdas: tuple[float, ...] = DEFAULT_GRID_LAMBDAS
    grid_stream_frames: int = 0  # first frames of each sequence coded as one grid stream at the targets (0: none)
    grid_steps: int | None = None  # cold steps of a grid fit (None: GridSettings' own, the `fast` preset)


@dataclass
class SequenceResult:
    """Everything measured on one sequence."""

    name: str
    size: tuple[int, int]
    frame_names: list[str]
    frame_indices: list[int]
    boxes: list[tuple[int, int, int, int]]
    source_jpeg_quality: int | None
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    sweep: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    targets: dict[str, Any] = field(default_factory=dict)
    pictures: list[str] = field(default_factory=list)
    video: dict[str, Any] = field(default_factory=dict)  # the sequence-codec section (empty: not run)
    grid: dict[str, Any] = field(default_factory=dict)  # the grid section (rd_grid; empty: not run)


@dataclass
class Report:
    """What a report is made of: the measurements and how they were taken."""

    results: list[SequenceResult]
    config: RdConfig
    environment: dict[str, Any]
    seconds: float
    command: str
    skipped: list[str]
    reused: dict[str, Any] | None = None  # the saved run the per-frame sections came from (--reuse-frames)
    reused_video: dict[str, Any] | None = None  # the saved run the sequence-codec sections came from (--reuse-video)

    def data(self) -> dict[str, Any]:
        """The JSON form written to ``rd.json`` (and read back by ``--render``)."""
        return {"benchmark": NAME, "command": self.command, "environment": self.environment,
                "seconds": self.seconds, "config": {**asdict(self.config), "data_dir": str(self.config.data_dir)},
                "sequences": [asdict(r) for r in self.results], "skipped": self.skipped, "reused": self.reused,
                "reused_video": self.reused_video}


def config_from_dict(cfg: dict[str, Any]) -> RdConfig:
    """An :class:`RdConfig` from its ``rd.json`` form (:meth:`Report.data`); older files get the defaults."""
    runs = tuple(RunSpec(r["name"], r["preset"], r["steps"], tuple(r["modes"]),
                         preset_from_dict(r["snapshot"]) if r.get("snapshot") else None) for r in cfg["runs"])
    return RdConfig(data_dir=Path(cfg["data_dir"]), sequences=tuple(cfg["sequences"]) if cfg["sequences"] else None,
                    frames=cfg["frames"], max_side=cfg["max_side"], runs=runs, device=cfg["device"],
                    background_db=cfg["background_db"], object_db=cfg["object_db"],
                    sequence_frames=cfg.get("sequence_frames", 0),
                    nerv_preset=cfg.get("nerv_preset", DEFAULT_NERV_PRESET), nerv_epochs=cfg.get("nerv_epochs"),
                    nerv_bpp=cfg.get("nerv_bpp"), aim_targets=cfg.get("aim_targets", False),
                    object_steps=cfg.get("object_steps"), grid_frames=cfg.get("grid_frames", 0),
                    grid_curve_frames=cfg.get("grid_curve_frames", 0),
                    grid_lambdas=tuple(cfg.get("grid_lambdas", DEFAULT_GRID_LAMBDAS)),
                    grid_stream_frames=cfg.get("grid_stream_frames", 0), grid_steps=cfg.get("grid_steps"))
