"""The runtime's settings: every ``run_config`` key, its default and its meaning, in one place.

Both apps read the same ``run_config`` (``[tool.flwr.app.config]`` in ``pyproject.toml``,
overridden with ``flwr run . --run-config "key=value ..."``). :data:`KEYS` is the single list
of keys; ``pyproject.toml`` repeats the defaults (a test keeps the two equal) and the README's
configuration table is :func:`config_table_markdown`. Under ``flwr.simulation.run_simulation``
the ``run_config`` is empty, so every key is read with its default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rinr_core.codecs import (
    CONTAINER_RINR,
    STREAM,
    Codec,
    CodecOptions,
    codec_names,
    get_runtime_codec,
)
from rinr_core.devices import DEVICE_PATTERN
from rinr_core.errors import ConfigError, require
from rinr_core.tables import markdown_table
from rinr_core.weights import weight_codec_names
from rinr_runtime.planning import AGGREGATIONS, CRITERIA, RUNTIME_PLACEMENTS

if TYPE_CHECKING:  # pragma: no cover - typing only
    from rinr_runtime.detector import TrainSettings

AUTO = "auto"
"""The ``placement`` that lets the placement model choose (``rinr_runtime.planning``)."""
PLACEMENTS = (*RUNTIME_PLACEMENTS, AUTO)
"""``edge`` and ``fog`` run as asked; ``auto`` becomes one of them after round 1's collect."""
EDGE_TRAINERS = ("backprop", "forward-gradient")
"""Values of ``edge-training``: Ultralytics' backprop trainer or the forward-gradient trainer."""
POST_FILTERS = ("none", "lut")
"""Values of ``post-filter``: none, or the fog's look-up post-filter (``fog.postfilter``)."""
TRAINABLE_PATTERN = re.compile(r"all|head|head:cls|head:cls-out|last:[1-9][0-9]*")
"""Values of ``trainable`` (N of ``last:N`` is checked against the model when training)."""


@dataclass(frozen=True)
class Key:
    """One ``run_config`` key: its name, default value and a one-line meaning."""

    name: str
    default: bool | int | float | str
    help: str


KEYS: tuple[Key, ...] = (
    # rounds and nodes
    Key("num-server-rounds", 2, "Rounds of collect -> encode -> broadcast -> train/evaluate."),
    Key("min-nodes", 2, "Wait for at least this many edge nodes before round 1."),
    Key("node-wait-s", 60.0, "Longest wait for `min-nodes` (s); then go on with the nodes present."),
    Key("round-timeout-s", 1800.0,
        "Longest wait for the replies of one phase (s); missing replies are logged and skipped."),
    # codec
    Key("codec", "residual-inr",
        "What the fog broadcasts: `residual-inr` (QRE), `rapid-inr` (BS), `jpeg` (relay), or a "
        "video codec: `res-nerv` (one NeRV per node's stream + object residual INRs, later "
        "frames as updates) or `nerv` (NeRV only)."),
    Key("preset", "fast", "Encoder preset of `rinr_core.presets` (`fast` or `paper`)."),
    Key("inr-steps", 300, "Fitting steps per INR (0: the preset's)."),
    Key("inr-lr", 0.0, "Fitting learning rate (0: the preset's)."),
    Key("background-bits", 0, "Bits per background weight in `residual-inr` (0: the preset's, 8)."),
    Key("object-bits", 0, "Bits per object weight in `residual-inr` (0: the preset's, 16)."),
    Key("nerv-preset", "fast", "NeRV preset of `rinr_core.nerv` for `res-nerv` and `nerv`."),
    Key("nerv-epochs", 0, "NeRV fitting epochs of a stream's first frames (0: the preset's); "
        "later frames fine-tune for half as many."),
    Key("nerv-bpp", 0.0, "Size each stream's NeRV to this many stored bits per pixel per frame "
        "(0: the preset's; `compact` sizes to 0.3, `fast` and `paper` have one size)."),
    Key("target-background-db", 0.0, "Video codecs: refit a stream's NeRV 1.6x larger (up to 0.8 "
        "bits/px/frame) while a frame's background is below this PSNR (0: off)."),
    Key("target-object-db", 0.0, "`res-nerv`: refit an object INR below this PSNR with the next "
        "larger object tier (0: off)."),
    Key("encode-batch", 32, "Most frames the fog fits in one batched encode call."),
    Key("encode-workers", 1, "Stream codecs: processes the fog encodes different cameras' "
        "segments in at once, each with its share of the CPU threads (1: in the fog's process)."),
    Key("post-filter", "none", "Restoration of decoded frames at the edges: `none`, or `lut` (the "
        "fog trains a look-up post-filter for its codec on the first frames it encodes, trains "
        "a new one when its gain on new frames falls under half, and sends each one once to "
        "every node; edges apply it before YOLO: `rinr_core.lut`, `docs/results/postfilter.md`)."),
    Key("post-filter-steps", 300, "`post-filter = lut`: training steps of each post-filter."),
    # limits on what one node may send (what exceeds them is refused or deferred, with reasons)
    Key("max-upload-frames", 256, "Most frames the fog takes from one node per round; the rest "
        "are deferred (not acknowledged, so the node uploads them again next round)."),
    Key("max-upload-bytes", 64_000_000, "Most JPEG bytes the fog takes from one node per round; "
        "frames past it are deferred like those past `max-upload-frames`."),
    Key("max-frame-bytes", 4_000_000, "Largest JPEG the fog accepts (bytes); a larger one is "
        "refused with the reason."),
    Key("max-frame-pixels", 16_777_216, "Largest frame the fog decodes (width x height, read from "
        "the JPEG header before decoding); a larger one is refused, never decoded."),
    Key("inr-warm-start", True,
        "Start each frame's INRs from the previous frame of the same node (a quarter of the "
        "steps, motion-compensated); `false`: every frame from scratch."),
    # training
    Key("train", True, "Train YOLOv8 each round; `false` moves and measures data only."),
    Key("placement", "edge",
        "Where YOLOv8 trains: `edge` (INRs are broadcast), `fog` (weights are broadcast) or "
        "`auto` (the placement model picks after round 1's collect, from the sizes measured in "
        "the run; the report says why)."),
    Key("placement-criterion", "bytes",
        "`placement = auto` chooses by `bytes` (after round 1's collect, from the sizes "
        "measured) or by `time` (round 1 trains at the edges; after it, from the fog encode, "
        "edge decode and training speeds round 1 measured, for the rest of the run). With "
        "`edge` or `fog` the time advice is reported only."),
    Key("aggregation", "independent",
        "Edge models: `independent` local models, or one global model aggregated by Flower's "
        "strategy of that name: `fedavg`, `fedprox` (FedAvg; each edge adds `proximal-mu`/2 "
        "times the squared L2 distance to the global weights to its YOLOv8 loss), `fedavgm` (server "
        "momentum 0.9, lr 0.1), `fedadam`, `fedyogi`, `fedadagrad` (server-side optimizers, "
        "eta 0.01, tau 0.001). Round 1 has no global model yet: it is a plain FedAvg of "
        "models trained from the same seeded YAML."),
    Key("proximal-mu", 0.01, "`fedprox`: weight mu of the proximal term (0: plain FedAvg)."),
    Key("weight-codec", "fp32",
        "How every weight message travels (fog -> edges and edges -> fog, train and evaluate): "
        "`fp32` (float32 arrays), `fp16`, `int8` (per-output-channel scale and zero point) or "
        "`sgq` (stripe-wise group quantization, entropy-coded); every codec but `fp32` sends "
        "deltas against the weights both sides hold, with error feedback."),
    Key("weight-bits", 4, "Bits per weight of `weight-codec = sgq` (2-8; sensitive tensors get "
        "more); `fp32`, `fp16` and `int8` ignore it."),
    Key("model", "yolov8n.yaml", "Model YAML (trained from scratch) or path of a local .pt file."),
    Key("epochs", 1, "YOLOv8 epochs per round."),
    Key("imgsz", 128, "YOLOv8 input size (pixels)."),
    Key("batch", 16, "YOLOv8 batch size."),
    Key("lr0", 0.0, "YOLOv8 initial learning rate with AdamW (0: Ultralytics' automatic choice)."),
    Key("edge-training", "backprop",
        "How edges fine-tune YOLOv8: `backprop` (Ultralytics' trainer) or `forward-gradient` "
        "(gradient estimates from forward passes only, no activations kept: "
        "`rinr_runtime.detector.forward`; `lr0` > 0 sets its relative step size)."),
    Key("fg-directions", 8, "`forward-gradient`: random directions per step (two forward passes "
        "of the trainable part each)."),
    Key("fg-bits", 0, "`forward-gradient`: 0 (float32), or 16 / 8 for fixed-point weights, "
        "activations and perturbations (simulated with fake quantization)."),
    Key("trainable", "all", "Which part of YOLOv8 trains, the rest frozen (both trainers): `all`, "
        "`head` (the Detect module), `head:cls` (its classification branch), `head:cls-out` "
        "(that branch's output 1x1 convolutions) or `last:N` (the last N modules)."),
    Key("class-names", "object",
        "Comma-separated classes; with one name, every object is that class (single-class)."),
    # data
    Key("data", "",
        "Edge data: empty for generated scenes; else OTB/YOLO folders (comma-separated, or a "
        "folder of them); node p takes folder p mod n, nodes sharing one interleave its frames."),
    Key("frames-per-node", 12, "Frames each node has (its own, including held-out ones)."),
    Key("frames-per-round", 0, "New frames a node captures per round (0: all in round 1)."),
    Key("val-every", 5,
        "Every k-th own frame is held out as validation (original JPEG), never uploaded."),
    Key("frame-width", 160, "Width of generated frames (pixels)."),
    Key("frame-height", 96, "Height of generated frames (pixels)."),
    Key("max-side", 160, "Real frames are shrunk to this longer side (0: keep their size)."),
    Key("jpeg-quality", 90, "JPEG quality of the generated camera frames."),
    Key("seed", 0, "Seed of generated scenes, INR fitting and YOLOv8 training."),
    # paths and device
    Key("run-dir", "", "Run report folder (empty: runs/<UTC time>)."),
    Key("cache-dir", "runs/encode-cache", "Fog encode cache, shared across runs (empty: off)."),
    Key("edge-dir", "runs/edge", "Edge state: <edge-dir>/run-<run id>/node-<partition id>/."),
    Key("chaos-rate", 0.0, "Soak tests only: probability that a node fails a message (half "
        "with an error, half silent past `round-timeout-s`), seeded by `seed`; 0 in real runs."),
    Key("device", "", "Torch device for encoding, decoding and training (empty: cuda if present)."),
)

DEFAULTS: dict[str, bool | int | float | str] = {k.name: k.default for k in KEYS}


@dataclass(frozen=True)
class RuntimeConfig:
    """The parsed ``run_config`` (see :data:`KEYS` for meanings); build with :meth:`from_run_config`."""

    num_server_rounds: int
    min_nodes: int
    node_wait_s: float
    round_timeout_s: float
    codec: str
    preset: str
    inr_steps: int
    inr_lr: float
    background_bits: int
    object_bits: int
    nerv_preset: str
    nerv_epochs: int
    nerv_bpp: float
    target_background_db: float
    target_object_db: float
    encode_batch: int
    encode_workers: int
    post_filter: str
    post_filter_steps: int
    max_upload_frames: int
    max_upload_bytes: int
    max_frame_bytes: int
    max_frame_pixels: int
    inr_warm_start: bool
    train: bool
    placement: str
    placement_criterion: str
    aggregation: str
    proximal_mu: float
    weight_codec: str
    weight_bits: int
    model: str
    epochs: int
    imgsz: int
    batch: int
    lr0: float
    edge_training: str
    fg_directions: int
    fg_bits: int
    trainable: str
    class_names: tuple[str, ...]
    data: str
    frames_per_node: int
    frames_per_round: int
    val_every: int
    frame_width: int
    frame_height: int
    max_side: int
    jpeg_quality: int
    seed: int
    run_dir: str
    cache_dir: str
    edge_dir: str
    chaos_rate: float
    device: str

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, object] | None = None) -> RuntimeConfig:
        """Parse ``run_config``; missing keys take :data:`DEFAULTS`, unknown keys are refused.

        Raises
        ------
        ConfigError
            A key is unknown, a value has the wrong type, or a value is out of range.
        """
        given = dict(run_config or {})
        unknown = sorted(set(given) - set(DEFAULTS))
        if unknown:
            raise ConfigError(
                f"unknown run_config keys {unknown}; the known keys are listed in "
                "[tool.flwr.app.config] of pyproject.toml"
            )
        values: dict[str, Any] = {k.name: _coerce(k, given.get(k.name, k.default)) for k in KEYS}
        names = tuple(n.strip() for n in str(values.pop("class-names")).split(",") if n.strip())
        config = cls(class_names=names, **{n.replace("-", "_"): v for n, v in values.items()})
        config.validate()
        return config

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming every out-of-range value."""
        runtime_codecs = codec_names(runtime=True)  # the registry's, at call time
        checks = {
            "num-server-rounds": self.num_server_rounds >= 1,
            "min-nodes": self.min_nodes >= 1,
            "node-wait-s": self.node_wait_s >= 0,
            "round-timeout-s": self.round_timeout_s > 0,
            "codec": self.codec in runtime_codecs,
            "inr-steps": self.inr_steps >= 0,
            "inr-lr": self.inr_lr >= 0,
            "background-bits": 0 <= self.background_bits <= 16,
            "object-bits": 0 <= self.object_bits <= 16,
            "nerv-epochs": self.nerv_epochs >= 0,
            "nerv-bpp": self.nerv_bpp >= 0,
            "target-background-db": self.target_background_db >= 0,
            "target-object-db": self.target_object_db >= 0,
            "encode-batch": self.encode_batch >= 1,
            "encode-workers": self.encode_workers >= 1,
            "post-filter": self.post_filter in POST_FILTERS,
            "post-filter-steps": self.post_filter_steps >= 1,
            "max-upload-frames": self.max_upload_frames >= 1,
            "max-upload-bytes": self.max_upload_bytes >= 1,
            "max-frame-bytes": self.max_frame_bytes >= 1,
            "max-frame-pixels": self.max_frame_pixels >= 256,
            "chaos-rate": 0.0 <= self.chaos_rate <= 1.0,
            "placement": self.placement in PLACEMENTS,
            "placement-criterion": self.placement_criterion in CRITERIA,
            "aggregation": self.aggregation in AGGREGATIONS,
            "proximal-mu": self.proximal_mu >= 0,
            "weight-codec": self.weight_codec in weight_codec_names(),
            "weight-bits": 2 <= self.weight_bits <= 8,
            "epochs": self.epochs >= 1,
            "imgsz": self.imgsz >= 32,
            "batch": self.batch >= 1,
            "lr0": self.lr0 >= 0,
            "edge-training": self.edge_training in EDGE_TRAINERS,
            "fg-directions": self.fg_directions >= 1,
            "fg-bits": self.fg_bits in (0, 16, 8),
            "trainable": bool(TRAINABLE_PATTERN.fullmatch(self.trainable)),
            "class-names": len(self.class_names) >= 1
            and len(set(self.class_names)) == len(self.class_names),
            "frames-per-node": self.frames_per_node >= 1,
            "frames-per-round": self.frames_per_round >= 0,
            "val-every": self.val_every >= 2,
            "frame-width": self.frame_width >= 16,
            "frame-height": self.frame_height >= 16,
            "max-side": self.max_side == 0 or self.max_side >= 16,
            "jpeg-quality": 1 <= self.jpeg_quality <= 100,
            "device": not self.device or bool(DEVICE_PATTERN.match(self.device)),
        }
        if self.codec in runtime_codecs:
            spec = self.codec_spec
            key = "nerv-preset" if spec.kind == STREAM else "preset"
            checks[key] = self.nerv_preset in spec.presets if spec.kind == STREAM else (
                not spec.presets or self.preset in spec.presets)
        require(checks, lambda name: getattr(self, name.replace("-", "_")), "run_config values",
                f"see the configuration table in the README (codec: {'|'.join(runtime_codecs)}, "
                f"placement: {'|'.join(PLACEMENTS)}, placement-criterion: {'|'.join(CRITERIA)}, "
                f"aggregation: {'|'.join(AGGREGATIONS)}, "
                f"weight-codec: {'|'.join(weight_codec_names())}, weight-bits 2-8, "
                f"edge-training: {'|'.join(EDGE_TRAINERS)}, fg-bits 0|16|8, "
                f"post-filter: {'|'.join(POST_FILTERS)}, "
                "trainable: all|head|head:cls|head:cls-out|last:N, "
                "val-every >= 2, sizes >= 16 px, device: empty, cpu, cuda, cuda:N or mps)")

    @property
    def codec_spec(self) -> Codec:
        """The run's codec from the registry (:mod:`rinr_core.codecs`)."""
        return get_runtime_codec(self.codec)

    @property
    def codec_mode(self) -> str | None:
        """The registry name of a per-frame INR codec (``qre`` for ``residual-inr``), else ``None``."""
        spec = self.codec_spec
        return spec.name if spec.container == CONTAINER_RINR else None

    @property
    def sequence_codec(self) -> bool:
        """Whether :attr:`codec` is a stream codec (``.rinrs`` streams, one per node)."""
        return self.codec_spec.kind == STREAM

    def codec_options(self) -> CodecOptions:
        """The codec knobs of this run (0 and empty values: the codec's preset value)."""
        return CodecOptions(
            preset=self.preset, steps=self.inr_steps or None, lr=self.inr_lr or None,
            background_bits=self.background_bits or None, object_bits=self.object_bits or None,
            nerv_preset=self.nerv_preset, nerv_epochs=self.nerv_epochs or None,
            nerv_bpp=self.nerv_bpp or None, target_background_db=self.target_background_db or None,
            target_object_db=self.target_object_db or None, warm_start=self.inr_warm_start,
            device=self.torch_device, seed=self.seed,
        )

    @property
    def torch_device(self) -> str | None:
        """The configured device, or ``None`` to let each library pick cuda when present."""
        return self.device or None

    @property
    def yolo_device(self) -> str | None:
        """The device in Ultralytics' spelling (``"0"`` for ``"cuda"``), or ``None`` (auto)."""
        if not self.device:
            return None
        if self.device == "cuda":
            return "0"
        return self.device.removeprefix("cuda:")


def yolo_settings(config: RuntimeConfig) -> TrainSettings:
    """The run's YOLOv8 settings (``rinr_runtime.detector`` is imported only when called)."""
    from rinr_runtime.detector import TrainSettings

    return TrainSettings(model=config.model, epochs=config.epochs, imgsz=config.imgsz,
                         batch=config.batch, device=config.yolo_device, workers=0,
                         seed=config.seed, lr0=config.lr0 or None)


def _coerce(key: Key, value: object) -> bool | int | float | str:
    """Convert a run_config value to the type of the key's default, or raise ConfigError."""
    kind = type(key.default)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(value, str):
        return value
    raise ConfigError(
        f"run_config key {key.name!r} must be of type {kind.__name__} (like {key.default!r}), "
        f"got {value!r}"
    )


def resolve_path(path: str, base: Path | None = None) -> Path:
    """An absolute path: ``path`` as given when absolute, else under ``base`` (the cwd)."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else (base or Path.cwd()) / candidate


def default_run_dir(base: Path | None = None) -> Path:
    """``runs/<UTC timestamp>`` under ``base`` (the cwd), the default report folder."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return resolve_path(f"runs/{stamp}", base)


def config_table_markdown() -> str:
    """The README's configuration table: one row per key with its default and meaning."""
    rows = []
    for key in KEYS:
        default = str(key.default).lower() if isinstance(key.default, bool) else repr(key.default)
        rows.append([f"`{key.name}`", "`{}`".format(default.replace("'", '"')), key.help])
    return markdown_table(["key", "default", "meaning"], rows, align=["l", "l", "l"]) + "\n"


README_TABLE_START = "<!-- config-table: generated by `python -m rinr_runtime.config`; a test keeps it equal -->"
README_TABLE_END = "<!-- config-table: end -->"


def readme_with_config_table(readme: str) -> str:
    """``readme`` with the text between the config-table markers replaced by the current table."""
    start, end = readme.find(README_TABLE_START), readme.find(README_TABLE_END)
    if start < 0 or end < start:
        raise ConfigError(f"README has no {README_TABLE_START!r} ... {README_TABLE_END!r} block; "
                          "put the two markers where the configuration table goes")
    head = readme[: start + len(README_TABLE_START)]
    return f"{head}\n{config_table_markdown()}{readme[end:]}"


# --- per-node settings (Deployment Engine) -------------------------------------------------------

NODE_CONFIG_KEYS = ("data", "device", "edge-dir")
"""``run_config`` keys a SuperNode may set for itself in ``flower-supernode --node-config``
(its camera's frame folder, its torch device, its state folder); the node's value wins."""


def node_run_config(run_config: Mapping[str, object], node_config: Mapping[str, object]
                    ) -> dict[str, object]:
    """``run_config`` with the node's own values of :data:`NODE_CONFIG_KEYS` from ``node_config``."""
    own = {key: node_config[key] for key in NODE_CONFIG_KEYS if key in node_config}
    return {**run_config, **own}


def main(argv: list[str] | None = None) -> int:
    """Rewrite the README's configuration table from :data:`KEYS` (``--check``: only compare)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m rinr_runtime.config", description=main.__doc__)
    parser.add_argument("readme", nargs="?", default="README.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if the table is stale")
    args = parser.parse_args(argv)
    path = Path(args.readme)
    text = path.read_text(encoding="utf-8")
    wanted = readme_with_config_table(text)
    if args.check:
        return 0 if wanted == text else 1
    path.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
