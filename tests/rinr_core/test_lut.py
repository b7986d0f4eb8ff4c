"""The look-up post-filter: tables equal to their network, a checked file, training that helps."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch

from rinr_core.errors import (
    ChecksumMismatchError,
    ConfigError,
    MalformedPayloadError,
    NotARinrFileError,
    PayloadError,
    TruncatedPayloadError,
    UnsupportedVersionError,
)
from rinr_core.lut import (
    LayerSpec,
    LutFilter,
    LutNet,
    LutSpec,
    LutTrainSettings,
    from_network,
    mean_psnr,
    pack,
    to_network,
    train_lut,
    unpack,
)
from rinr_core.lut.format import MAGIC
from rinr_core.lut.network import ONE
from rinr_core.lut.tables import float_deviation
from rinr_core.lut.training import place_knots
from rinr_core.synthetic import generate_sequence

torch.set_num_threads(1)

SPECS = [
    LutSpec(),
    LutSpec(color="ycbcr", rotations=4),
    LutSpec(layers=(LayerSpec(3, 3, 6), LayerSpec(1, 3, 4), LayerSpec(3, 1, 3)), knots=9),
]


def _random_net(spec: LutSpec, seed: int = 0) -> LutNet:
    """A network with random values everywhere and random (increasing) knot positions."""
    generator = torch.Generator().manual_seed(seed)
    net = LutNet(spec)
    net.init_random(generator)
    with torch.no_grad():
        for layer in net.layers:
            layer.values.add_(torch.randn(layer.values.shape, generator=generator) * 0.5)
            knots = layer.positions.shape[1]
            for plane in range(layer.planes):
                inner = torch.randperm(layer.hi - layer.lo - 1, generator=generator)[: knots - 2]
                inner = inner.sort().values + layer.lo + 1
                layer.positions[plane] = torch.cat([torch.tensor([layer.lo]), inner,
                                                    torch.tensor([layer.hi])])
    return net


def _forward(net: LutNet, image: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        rgb = torch.from_numpy(image.transpose(2, 0, 1).copy()).float()[None]
        return net(rgb)[0].permute(1, 2, 0).numpy().astype(np.uint8)


def _image(height: int = 29, width: int = 41, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.describe())
def test_lookup_inference_equals_the_network_it_was_converted_from(spec: LutSpec) -> None:
    # Prepare: a network far from the identity, and its tables
    net = _random_net(spec)
    tables = from_network(net)
    image = _image()

    # Execute
    looked_up = LutFilter(tables).apply(image)
    reference = _forward(net, image)

    # Assert: within the promised error (0: bit for bit), and the filter does change pixels
    assert tables.promised_error == 0
    assert np.abs(looked_up.astype(int) - reference.astype(int)).max() <= tables.promised_error
    assert (looked_up != image).mean() > 0.5
    # each expanded table entry is within one 1/16 step of the float network's interpolation
    assert float_deviation(net) <= 1 / ONE + 1e-6


def test_tables_convert_back_to_the_same_network() -> None:
    net = _random_net(SPECS[2], seed=3)
    again = to_network(from_network(net))
    image = _image(seed=4)
    assert np.array_equal(_forward(again, image), _forward(net, image))


def test_rlut_round_trip_is_exact() -> None:
    tables = from_network(_random_net(SPECS[1]), {"codec": "qre", "frames": 3})
    data = pack(tables)
    back = unpack(data)
    assert back.spec == tables.spec and back.meta == tables.meta
    for a, b in zip(back.layers, tables.layers, strict=True):
        assert np.array_equal(a.positions, b.positions) and np.array_equal(a.values, b.values)
    image = _image(seed=5)
    assert np.array_equal(LutFilter(back).apply(image), LutFilter(tables).apply(image))


@pytest.fixture
def rlut() -> bytes:
    return pack(from_network(_random_net(SPECS[0]), {"codec": "qre"}))


def test_a_corrupted_rlut_is_refused(rlut: bytes) -> None:
    damaged = bytearray(rlut)
    damaged[len(damaged) // 2] ^= 0x40
    with pytest.raises(ChecksumMismatchError, match="CRC-32"):
        unpack(bytes(damaged))


@pytest.mark.parametrize("cut", [2, 9, 30, -1])
def test_a_truncated_rlut_is_refused(rlut: bytes, cut: int) -> None:
    with pytest.raises(TruncatedPayloadError, match="truncated"):
        unpack(rlut[:cut])


def test_every_prefix_and_every_flipped_byte_of_an_rlut_is_refused(rlut: bytes) -> None:
    # every shorter file says it is truncated; no single damaged byte yields tables
    for cut in range(len(rlut)):
        with pytest.raises(TruncatedPayloadError, match="truncated"):
            unpack(rlut[:cut])
    for at in range(len(rlut)):
        damaged = bytearray(rlut)
        damaged[at] ^= 1 << (at % 8)
        with pytest.raises(PayloadError, match=r"\.rlut|RLUT"):
            unpack(bytes(damaged))


def test_a_future_version_and_a_foreign_file_are_refused(rlut: bytes) -> None:
    future = rlut[:4] + bytes([2]) + rlut[5:]
    with pytest.raises(UnsupportedVersionError, match="version 2"):
        unpack(future)
    with pytest.raises(NotARinrFileError):
        unpack(b"RINR" + rlut[4:])


def test_a_well_checksummed_but_inconsistent_rlut_is_refused(rlut: bytes) -> None:
    # Prepare: a body whose first knot position is wrong, under a correct checksum
    head = struct.Struct("<4sBBI")
    body = bytearray(zlib.decompress(rlut[head.size:-4]))
    meta_len = struct.unpack_from("<I", body, 8)[0]
    first_knot = 12 + meta_len + 3 * 2
    body[first_knot:first_knot + 2] = struct.pack("<h", 7)
    packed = zlib.compress(bytes(body))
    data = head.pack(MAGIC, 1, 0, len(packed)) + packed
    data += struct.pack("<I", zlib.crc32(data))

    # Execute / Assert
    with pytest.raises(MalformedPayloadError, match="knot positions"):
        unpack(data)


def test_knots_follow_the_data_and_stay_increasing() -> None:
    counts = torch.zeros(256)
    counts[100:110] = 1000.0  # nearly every value in a narrow band
    positions = place_knots(counts, 0, 17, 0.25)
    assert positions[0] == 0 and positions[-1] == 255
    assert bool((positions[1:] > positions[:-1]).all())
    inside = int(((positions >= 100) & (positions < 110)).sum())
    assert inside >= 6  # most knots where the data is
    tight = place_knots(torch.ones(17), -8, 17, 0.0)  # as many knots as values
    assert tight.tolist() == list(range(-8, 9))


def test_spec_checks_its_fields() -> None:
    with pytest.raises(ConfigError, match="layers"):
        LutSpec(layers=(LayerSpec(3, 3, 4),))
    with pytest.raises(ConfigError, match="rotations"):
        LutSpec(rotations=2)


def _blurred(frames: list[np.ndarray]) -> list[np.ndarray]:
    """A stand-in codec: a 3x3 box blur (what an INR's lost detail looks like)."""
    out = []
    for image in frames:
        padded = np.pad(image.astype(np.float64), ((1, 1), (1, 1), (0, 0)), mode="edge")
        h, w = image.shape[:2]
        mean = sum(padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)) / 9
        out.append(np.round(mean).astype(np.uint8))
    return out


def test_training_restores_unseen_frames() -> None:
    # Prepare: 6 generated frames, blurred; train on the first 4, measure on the last 2
    frames = [f.image for f in generate_sequence(6, width=48, height=32, seed=2)]
    degraded = _blurred(frames)
    settings = LutTrainSettings(steps=120, batch=6, crop=24, seed=0)

    # Execute
    trained = train_lut(degraded[:4], frames[:4], LutSpec(), settings, meta={"codec": "blur"})
    restored = LutFilter(trained.tables).apply_many(degraded[4:])

    # Assert: the unseen frames got better, and the tables say what they were trained for
    gain = mean_psnr(frames[4:], restored) - mean_psnr(frames[4:], degraded[4:])
    assert gain > 0.3
    # what an edge looks up is what the trained network computes, bit for bit
    assert trained.tables.promised_error == 0
    for image, looked_up in zip(degraded[4:], restored, strict=True):
        assert np.array_equal(looked_up, _forward(trained.net, image))
    assert trained.tables.meta["codec"] == "blur" and trained.tables.meta["train_frames"] == 4
    assert trained.losses[-1] < trained.losses[0]
