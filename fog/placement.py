"""The placement model's inputs, measured in the run: sizes, the detector, and speeds.

Right after the first collect that brings frames, :class:`fog.strategy.RinrStrategy` feeds
the sizes to :func:`rinr_runtime.planning.recommend`. After the first round that trained,
:func:`round_throughputs` reads that round's record for the speeds it measured (fog encode
frames/s, edge decode frames/s, training images/s) and :func:`timed_advice` prices the
placements by time with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fog.postfilter import postfilter_bytes_per_frame
from rinr_core.codecs import Geometry
from rinr_core.errors import BadFrameError, ConfigError, InvalidBoxError
from rinr_core.frames import Frame, validate_box
from rinr_core.images import load_image
from rinr_runtime.config import RuntimeConfig
from rinr_runtime.planning import PlanInputs, Recommendation, recommend, weights_size
from rinr_runtime.planning.throughputs import Throughputs, apply_throughputs
from rinr_runtime.records import Upload

if TYPE_CHECKING:  # pragma: no cover - typing only
    from fog.report import RoundRecord


def detector_size(config: RuntimeConfig) -> tuple[int, int]:
    """Bytes and number of the weight arrays one weights message of the run's detector has.

    The detector is built from the run's model and compressed with its ``weight-codec``
    (:func:`rinr_runtime.planning.weights_size`, cached): float32 arrays with ``fp32``, one
    weight message otherwise.
    """
    size = weights_size(config.model, config.class_names, config.weight_codec,
                        config.weight_bits, config.seed)
    return size.bytes, size.arrays


def upload_geometry(upload: Upload) -> tuple[int, int, int] | None:
    """``(width, height, box area)`` of an upload as the codec will see it (``None``: unreadable)."""
    from io import BytesIO

    from PIL import Image

    try:
        with Image.open(BytesIO(upload.jpeg)) as image:
            width, height = image.size
        _, _, w, h = validate_box(upload.box, width, height)
    except (OSError, InvalidBoxError):
        return None
    return width, height, w * h


def codec_payload_bytes(config: RuntimeConfig, geometry: list[tuple[int, int, int]],
                        frames_per_device: float) -> float:
    """Mean payload bytes per frame of the run's codec for uploads of ``geometry``.

    The codec's own size estimate (:attr:`rinr_core.codecs.Codec.estimate_bytes`): exact for a
    ``.rinr`` (its layout fixes its size), an estimate for a stream of ``frames_per_device``
    frames (a ``.rinrs`` size depends on its pixels, known only after encoding).
    """
    spec = config.codec_spec
    if not geometry or spec.estimate_bytes is None:
        return 0.0
    frames = max(1, round(frames_per_device))
    options = config.codec_options()
    sizes = {g: spec.estimate_bytes(Geometry(*g), frames, options) for g in set(geometry)}
    return float(np.mean([sizes[g] for g in geometry]))


def sampled_payload_bytes(config: RuntimeConfig, uploads: list[Upload], sample: int = 8) -> float:
    """Mean payload bytes of a codec whose size depends on the pixels: a few uploads, encoded.

    Unreadable uploads are left out (the encode step refuses them with the reason).
    """
    frames = []
    for upload in uploads[:sample]:
        try:
            frames.append(Frame(load_image(upload.jpeg), upload.box))
        except BadFrameError:
            continue
    if not frames:
        return 0.0
    results = config.codec_spec.encode(frames, config.codec_options())
    return float(np.mean([len(r.payload) for r in results]))


def shared_frames_per_device(config: RuntimeConfig, round_one: float) -> float:
    """Frames a node uploads over the run (the placement model's ``frames_per_device``).

    ``round_one`` (the mean uploads per node of the first collect) when every frame comes at
    once; else the frames captured by the last round, less the held-out ones.
    """
    per_round = config.frames_per_round
    if per_round <= 0:
        return round_one
    captured = min(config.frames_per_node, per_round * config.num_server_rounds)
    return float(captured - captured // config.val_every)


def measured_plan_inputs(config: RuntimeConfig, uploads: list[Upload], devices: int,
                         model: tuple[int, int]) -> PlanInputs:
    """The placement model's inputs from the first uploads of this run.

    ``devices`` is the number of nodes that replied; ``model`` the detector's
    ``(bytes, arrays)`` (``(0, 0)`` when nothing trains: no weights travel). Payload sizes
    are means over ``uploads``: the JPEGs as uploaded, and the codec's size from
    :func:`codec_payload_bytes`.
    """
    payloads = {"jpeg": float(np.mean([len(u.jpeg) for u in uploads]))}
    round_one = len(uploads) / devices
    frames = shared_frames_per_device(config, round_one)
    spec = config.codec_spec
    if spec.estimate_bytes is not None:
        geometry = [g for g in map(upload_geometry, uploads) if g is not None]
        payloads[config.codec] = codec_payload_bytes(config, geometry, frames)
    elif not spec.relay:
        payloads[config.codec] = sampled_payload_bytes(config, uploads)
    if config.post_filter == "lut" and config.codec in payloads:  # one .rlut per node, amortized
        payloads[config.codec] += postfilter_bytes_per_frame(frames, devices)
    repeat = (weights_size(config.model, config.class_names, config.weight_codec,
                           config.weight_bits, config.seed).repeat_bytes if model[0] else None)
    return PlanInputs(
        devices=devices, frames_per_device=frames,
        payload_bytes=payloads, model_bytes=model[0], model_arrays=model[1],
        weights_repeat_bytes=repeat,
        rounds=config.num_server_rounds,
        frames_per_round=round_one if config.frames_per_round > 0 else 0,
        epochs=config.epochs, aggregation=config.aggregation, train=config.train,
    )


def _train_fps(metrics: list[dict]) -> float | None:
    """Mean training images/s (``num_train x epochs / train_seconds``) of the trainers that trained."""
    rates = [m["num_train"] * m.get("epochs", 1) / m["train_seconds"] for m in metrics
             if m.get("trained", 1) and m.get("num_train", 0) > 0 and m.get("train_seconds", 0) > 0]
    return float(np.mean(rates)) if rates else None


def round_throughputs(config: RuntimeConfig, record: RoundRecord) -> Throughputs:
    """The speeds one round measured, as the placement model's throughputs.

    Fog encode frames/s of the run's codec (the round's fresh encodes over its encode seconds;
    none for a relay codec), edge decode frames/s (received frames over decode seconds, all
    nodes), and training images/s of an edge (mean over the nodes that trained) and of the fog
    (when it trained). A side that did not train takes the other side's rate, and the note
    says so: the model needs both.
    """
    codec = config.codec
    encode = ({codec: record.encoded_now / record.encode_seconds}
              if not config.codec_spec.relay and record.encoded_now and record.encode_seconds > 0
              else {})
    edges = [m for key, m in record.train.items() if key != "fog"]
    received = sum(m.get("num_received", 0) for m in edges)
    decode_s = sum(m.get("decode_seconds", 0.0) for m in edges)
    decode = {codec: received / decode_s} if received and decode_s > 0 else {}
    edge_fps = _train_fps(edges)
    fog_fps = _train_fps([record.train["fog"]]) if "fog" in record.train else None
    notes = []
    if edge_fps is None and fog_fps is not None:
        edge_fps = fog_fps
        notes.append("the edges did not train: an edge's training rate is taken as the fog's")
    elif fog_fps is None and edge_fps is not None:
        fog_fps = edge_fps
        notes.append("the fog did not train: its training rate is taken as an edge's")
    return Throughputs(encode_fps=encode, decode_fps=decode, edge_train_fps=edge_fps,
                       fog_train_fps=fog_fps, source=f"round {record.round}",
                       note="; ".join(notes))


def timed_advice(config: RuntimeConfig, inputs: PlanInputs, record: RoundRecord
                 ) -> tuple[Recommendation | None, PlanInputs, str]:
    """The placement by time from the speeds ``record`` measured.

    Returns the recommendation (``None`` when a speed the model needs was not measured), the
    inputs with the throughputs, and a sentence on what was measured or missing.
    """
    measured = round_throughputs(config, record)
    timed = apply_throughputs(inputs, measured)
    def rate(value: float | None) -> str:
        return "-" if value is None else f"{value:.3g}"

    rates = (f"measured in round {record.round}: fog encode "
             f"{rate(measured.encode_fps.get(config.codec))}, edge decode "
             f"{rate(measured.decode_fps.get(config.codec))} frames/s, training "
             f"{rate(measured.edge_train_fps)} (edge) / {rate(measured.fog_train_fps)} (fog) "
             "images/s" + (f"; {measured.note}" if measured.note else ""))
    try:
        return recommend(timed, config.codec, "time"), timed, rates
    except ConfigError as exc:
        return None, timed, f"{rates}; no time advice: {exc}"
