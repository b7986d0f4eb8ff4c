"""The placement model: hand-computed bytes and times, monotonicity, crossovers, ``rinr plan``."""

import argparse
import json

import numpy as np
import pytest
import torch

from rinr_core.codec import CodecSettings, encode_frame
from rinr_core.errors import ConfigError
from rinr_core.synthetic import generate_sequence
from rinr_runtime.planning import (
    CODECS,
    DEFAULT_BOX_AREA,
    DEFAULT_JPEG_BYTES,
    DIRECTIONS,
    PHASES,
    PlanInputs,
    WireOverhead,
    crossover_devices,
    default_payload_bytes,
    estimate,
    estimate_all,
    inr_payload_bytes,
    model_size,
    recommend,
    reduction_vs_jpeg,
    reduction_vs_serverless,
    sequence_payload_bytes,
    sweep,
)
from rinr_runtime.planning.cli import add_parser

torch.set_num_threads(1)

PAYLOAD = {"jpeg": 100.0, "residual-inr": 10.0}


def payload_only(**changes) -> PlanInputs:
    """Small round numbers with no protocol overhead: the paper's equations."""
    base = {"devices": 3, "frames_per_device": 2, "payload_bytes": PAYLOAD, "model_bytes": 1000,
            "overhead": WireOverhead.none()}
    return PlanInputs(**{**base, **changes})


def run_plan(argv: list[str], capsys) -> tuple[int, str]:
    """Run ``rinr plan`` through a throwaway parser (as ``rinr_core.cli`` registers it)."""
    parser = argparse.ArgumentParser(prog="rinr")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["plan", *argv])
    code = args.func(args)
    return code, capsys.readouterr().out


# --- hand-computed bytes -----------------------------------------------------------------------


def test_payload_only_totals_follow_the_equations():
    # Prepare: N=3, F=2, J=100, S=10, M=1000, one round, independent edge models
    inputs = payload_only()

    # Execute
    edge = estimate(inputs, "residual-inr", "edge")
    fog = estimate(inputs, "residual-inr", "fog")
    serverless = estimate(inputs, "jpeg", "serverless")

    # Assert: N F J + N (N-1) F S,  N F J + N R M,  N (N-1) F J
    assert edge.total_bytes == 3 * 2 * 100 + 3 * 2 * 2 * 10 == 720
    assert fog.total_bytes == 600 + 3 * 1 * 1000 == 3600
    assert serverless.total_bytes == 3 * 2 * 2 * 100 == 1200
    assert edge.ledger["collect"]["up"] == 600 and edge.ledger["broadcast"]["down"] == 120
    assert fog.ledger["evaluate"]["down"] == 3000 and fog.ledger["broadcast"]["down"] == 0
    assert edge.parts == {"uploads": 600, "payloads": 120, "weights": 0, "overhead": 0}
    assert edge.links == {"edge->fog": 200, "fog->edge": 40}
    assert serverless.links == {"edge->edge": 200}


def test_fedavg_weights_go_up_every_round_and_down_to_train_and_evaluate():
    # Prepare: N=2, F=1, M=50, R=2: up R N M, train down N M, evaluate down R N M
    inputs = payload_only(devices=2, frames_per_device=1, model_bytes=50, rounds=2,
                          aggregation="fedavg")

    # Execute
    edge = estimate(inputs, "residual-inr", "edge")
    fog = estimate(inputs, "residual-inr", "fog")

    # Assert
    assert edge.ledger["train"] == {"down": 100, "up": 200}
    assert edge.ledger["evaluate"] == {"down": 200, "up": 0}
    assert edge.total_bytes == 200 + 20 + 500
    assert fog.total_bytes == 200 + 2 * 2 * 50


@pytest.mark.parametrize("aggregation", ["fedprox", "fedadam", "fedyogi", "fedadagrad", "fedavgm"])
def test_every_flower_strategy_moves_the_weights_fedavg_moves(aggregation):
    # every aggregation but `independent` sends the global weights down and each edge's up
    fedavg = payload_only(devices=3, frames_per_device=2, model_bytes=50, rounds=3,
                          aggregation="fedavg")
    other = payload_only(devices=3, frames_per_device=2, model_bytes=50, rounds=3,
                         aggregation=aggregation)
    for placement in ("edge", "fog", "serverless"):
        assert (estimate(other, "residual-inr", placement).ledger
                == estimate(fedavg, "residual-inr", placement).ledger)


def test_wire_overhead_lands_in_the_runtime_ledger_cells():
    # Prepare: distinct overheads so each cell's formula shows; N=2, F=1, one round
    overhead = WireOverhead(collect_down=1, collect_up=2, broadcast_down=3, broadcast_up=4,
                            train_down=5, train_up=6, evaluate_down=7, evaluate_up=8,
                            upload_item=10, delivery_item=20, frame_id=100, weight_array=1000,
                            ack_record=5000)
    inputs = payload_only(devices=2, frames_per_device=1, overhead=overhead)

    # Execute
    ledger = estimate(inputs, "residual-inr", "edge").ledger

    # Assert: per node, (envelope + items + payloads + the ack and its ids) x 2 nodes (round
    # 1's collect acks nothing: no ack); replies confirm what they hold by a digest, no list
    assert ledger["collect"] == {"down": 2 * 1, "up": 2 * (2 + 10 + 100)}
    assert ledger["broadcast"] == {"down": 2 * (3 + 20 + 10 + 5000 + 100), "up": 2 * 4}
    assert ledger["train"] == {"down": 2 * 5, "up": 2 * 6}
    assert ledger["evaluate"] == {"down": 0, "up": 0}
    assert list(ledger) == list(PHASES) == ["collect", "broadcast", "train", "evaluate"]
    assert all(list(cell) == list(DIRECTIONS) == ["down", "up"] for cell in ledger.values())


def test_weights_records_carry_their_arrays_overhead():
    # Prepare
    overhead = WireOverhead(**{**vars(WireOverhead.none()), "weight_array": 7})
    inputs = payload_only(model_bytes=1000, model_arrays=10, overhead=overhead)

    # Execute
    fog = estimate(inputs, "residual-inr", "fog")

    # Assert: 3 devices x (1000 bytes + 10 arrays x 7)
    assert fog.ledger["evaluate"]["down"] == 3 * 1070
    assert fog.parts["weights"] == 3000 and fog.parts["overhead"] == 210


def test_spreading_frames_over_rounds_keeps_payload_bytes_and_lists_fewer_ids():
    # Prepare: F=5 over 3 rounds, 2 per round, vs all in round 1
    spread = payload_only(frames_per_device=5, frames_per_round=2, rounds=3)
    at_once = payload_only(frames_per_device=5, rounds=3)
    ids = WireOverhead(**{**vars(WireOverhead.none()), "frame_id": 1})

    # Execute
    spread_ids = estimate(replace_overhead(spread, ids), "residual-inr", "edge")
    at_once_ids = estimate(replace_overhead(at_once, ids), "residual-inr", "edge")

    # Assert: same payloads; the collect acks list a node's own frames taken so far:
    # 3 nodes x (0 + 2 + 4) ids vs 3 x (0 + 5 + 5)
    assert spread.uploads_per_round() == [2, 2, 1]
    assert payload_only(frames_per_device=4, frames_per_round=2, rounds=3).uploads_per_round() == [2, 2, 0]
    assert (estimate(spread, "residual-inr", "edge").total_bytes
            == estimate(at_once, "residual-inr", "edge").total_bytes)
    assert spread_ids.ledger["collect"]["down"] == 18
    assert at_once_ids.ledger["collect"]["down"] == 30
    assert spread_ids.total_bytes < at_once_ids.total_bytes


def replace_overhead(inputs: PlanInputs, overhead: WireOverhead) -> PlanInputs:
    return PlanInputs(**{**vars(inputs), "overhead": overhead})


def test_times_from_throughputs_and_bandwidth():
    # Prepare: N=3, F=2, 2 epochs
    inputs = payload_only(bandwidth=100, epochs=2, edge_train_fps=6, fog_train_fps=24,
                          decode_fps={"residual-inr": 2}, encode_fps={"residual-inr": 3})

    # Execute
    edge = estimate(inputs, "residual-inr", "edge")
    fog = estimate(inputs, "residual-inr", "fog")

    # Assert
    assert edge.transfer_s == pytest.approx(720 / 100)
    assert edge.edge_radio_s == pytest.approx(720 / 3 / 100)
    assert edge.encode_s == pytest.approx(3 * 2 / 3)  # the fog encodes N F frames
    assert edge.decode_s == pytest.approx(2 * 2 / 2)  # each edge decodes (N-1) F
    assert edge.train_s == pytest.approx(2 * 3 * 2 / 6)  # epochs x N F images
    assert edge.total_s == pytest.approx(7.2 + 2 + 2 + 2)
    assert (fog.encode_s, fog.decode_s) == (0, 0)  # the fog trains on the JPEGs it has
    assert fog.train_s == pytest.approx(2 * 3 * 2 / 24)
    assert estimate(payload_only(), "residual-inr", "edge").total_s is None


# --- shape of the curves -----------------------------------------------------------------------


def test_bytes_grow_with_devices_frames_and_payload_size():
    # Prepare
    inputs = PlanInputs(10, 50, default_payload_bytes(), model_size("yolov8n").bytes, 298,
                        rounds=2, aggregation="fedavg")

    # Execute
    curves = sweep(inputs, range(1, 31))

    # Assert
    for key, totals in curves.items():
        assert np.all(np.diff(totals) > 0), key
    more_frames = PlanInputs(**{**vars(inputs), "frames_per_device": 51})
    bigger = PlanInputs(**{**vars(inputs), "payload_bytes": {**inputs.payload_bytes,
                                                             "residual-inr": 9000.0}})
    for placement in ("edge", "serverless"):
        assert (estimate(more_frames, "residual-inr", placement).total_bytes
                > estimate(inputs, "residual-inr", placement).total_bytes)
    assert (estimate(bigger, "residual-inr", "edge").total_bytes
            > estimate(inputs, "residual-inr", "edge").total_bytes)
    assert (estimate(inputs, "residual-inr", "edge").total_bytes
            < estimate(inputs, "jpeg", "edge").total_bytes)


def test_crossover_matches_the_closed_form_and_its_tie():
    # Prepare: fog < edge  <=>  R M < (N-1) F S  <=>  N > 1 + R M / (F S) = 6 here
    inputs = payload_only(frames_per_device=10, payload_bytes={"jpeg": 1000.0,
                                                               "residual-inr": 100.0},
                          model_bytes=5000)

    # Execute
    n = crossover_devices(inputs, "residual-inr")

    # Assert: at N = 6 both move the same bytes (a tie is not a win)
    assert n == 7
    six = inputs.with_devices(6)
    assert (estimate(six, "residual-inr", "edge").total_bytes
            == estimate(six, "residual-inr", "fog").total_bytes)
    assert crossover_devices(payload_only(model_bytes=10**9), "residual-inr") is None
    assert crossover_devices(payload_only(aggregation="fedavg"), "residual-inr") == 1


def test_serverless_crossover_where_the_payload_ratio_drops_below_n_minus_2_over_n_minus_1():
    # Prepare: S / J = 0.1 < (N-2)/(N-1) first at N = 3
    inputs = payload_only()

    # Execute / Assert
    assert crossover_devices(inputs, "residual-inr", against="serverless") == 3
    assert crossover_devices(inputs, "jpeg", against="serverless") is None
    with pytest.raises(ConfigError, match="against"):
        crossover_devices(inputs, "jpeg", against="cloud")


def test_reductions_vs_jpeg_and_vs_serverless():
    # Prepare: N = 10, S / J = 0.1
    inputs = payload_only(devices=10)

    # Execute
    relay = reduction_vs_jpeg(inputs)
    serverless = reduction_vs_serverless(inputs)

    # Assert: N / (1 + (N-1) s) at the edges; the codec never travels with fog training
    assert relay["edge"] == pytest.approx(10 / 1.9)
    assert relay["fog"] == 1.0
    assert serverless["edge"] == pytest.approx(9 / 1.9)


# --- recommendation ----------------------------------------------------------------------------


def test_recommendation_follows_the_crossover_and_says_why():
    # Prepare
    inputs = payload_only(frames_per_device=10, payload_bytes={"jpeg": 1000.0,
                                                               "residual-inr": 100.0},
                          model_bytes=5000)

    # Execute
    few = recommend(inputs.with_devices(3))
    many = recommend(inputs.with_devices(20))

    # Assert
    assert (few.placement, many.placement) == ("edge", "fog")
    assert few.crossover == many.crossover == 7
    assert "from 7 devices on" in many.reason and many.reason.startswith("fog:")
    assert few.edge.total_bytes < few.fog.total_bytes


def test_time_criterion_needs_throughputs_and_picks_the_faster():
    # Prepare: a fog 100x faster at training than an edge
    timed = payload_only(edge_train_fps=1, fog_train_fps=100, decode_fps={"residual-inr": 10},
                         encode_fps={"residual-inr": 10}, bandwidth=10**6)

    # Execute / Assert
    assert recommend(timed, criterion="time").placement == "fog"
    assert recommend(timed, criterion="bytes").placement == "edge"
    with pytest.raises(ConfigError, match="throughputs"):
        recommend(payload_only(), criterion="time")
    with pytest.raises(ConfigError, match="criterion"):
        recommend(payload_only(), criterion="energy")


# --- inputs and defaults -----------------------------------------------------------------------


@pytest.mark.parametrize("changes, name", [
    ({"devices": 0}, "devices"), ({"rounds": 0}, "rounds"), ({"bandwidth": 0}, "bandwidth"),
    ({"aggregation": "mean"}, "aggregation"), ({"payload_bytes": {"qre": 1.0}}, "payload_bytes"),
    ({"decode_fps": {"residual-inr": 0}}, "decode_fps"),
])
def test_invalid_inputs_are_refused_by_name(changes, name):
    with pytest.raises(ConfigError, match=name):
        payload_only(**changes)


def test_a_codec_without_a_size_and_an_unknown_placement_are_refused():
    with pytest.raises(ConfigError, match="no payload size for codec 'rapid-inr'"):
        estimate(payload_only(), "rapid-inr", "edge")
    with pytest.raises(ConfigError, match="unknown placement"):
        estimate(payload_only(), "jpeg", "cloud")


def test_model_sizes_from_the_published_parameter_counts():
    assert model_size("yolov8n").bytes == 4 * 3_200_000
    assert model_size("yolov8m.yaml").bytes == 4 * 25_900_000
    assert model_size("YOLOv8s.pt").params == 11_200_000
    with pytest.raises(ConfigError, match="model_bytes"):
        model_size("yolov9c")


def test_default_payload_sizes_come_from_the_container_layout():
    # Execute
    sizes = default_payload_bytes()

    # Assert: header 20 + per INR 15 + 9 per tensor + packed codes + crc 4 (fast preset:
    # background 4x28 = 2607 weights at 8 bit, its first layer's 84 at 16, 10 tensors; object
    # tier 5x17 = 1329 weights at 16 bit, 12 tensors; BS 4x32 = 3363 weights at 16 bit)
    assert sizes["jpeg"] == DEFAULT_JPEG_BYTES
    assert sizes["residual-inr"] == 20 + (15 + 90 + 2607 + 84) + (15 + 108 + 2 * 1329) + 4 == 5601
    assert sizes["rapid-inr"] == 20 + (15 + 90 + 2 * 3363) + 4 == 6855
    assert inr_payload_bytes("residual-inr", 500) < inr_payload_bytes("residual-inr", DEFAULT_BOX_AREA)
    with pytest.raises(ConfigError, match="JPEG"):
        inr_payload_bytes("jpeg", 100)


@pytest.mark.parametrize("codec, mode", [("residual-inr", "qre"), ("rapid-inr", "bs")])
def test_computed_payload_size_equals_a_real_encode(codec, mode):
    # Prepare
    frame = generate_sequence(1, width=48, height=32, seed=3)[0]
    x, y, w, h = frame.box

    # Execute
    real = encode_frame(frame, CodecSettings(mode=mode, steps=2, device="cpu")).payload

    # Assert
    assert inr_payload_bytes(codec, w * h) == len(real)


@pytest.mark.parametrize("codec", ["res-nerv", "nerv"])
def test_sequence_payload_estimate_is_close_to_a_real_encode(codec):
    # Prepare: the default NeRV preset, 4 frames, one epoch
    from rinr_core.sequence import SequenceSettings, encode_sequence

    frames = generate_sequence(4, width=48, height=32, seed=3)
    settings = SequenceSettings(codec=codec, epochs=1, qat_epochs=1, object_steps=4, device="cpu")

    # Execute
    real = len(encode_sequence(frames, settings).payload) / len(frames)
    areas = [f.box[2] * f.box[3] for f in frames]
    bound = float(np.mean([sequence_payload_bytes(codec, 4, 48, 32, a) for a in areas]))

    # Assert: near-random weights (one epoch) entropy-code to about their raw size
    assert 0.9 * real <= bound <= 1.15 * real


def test_sequence_payload_estimate_follows_a_stream_sized_nerv():
    # Execute: `compact` scales its NeRV to the frames; `fast` has one size
    compact = [sequence_payload_bytes("nerv", n, 160, 96, 600, nerv_preset="compact")
               for n in (10, 40)]
    fast = [sequence_payload_bytes("nerv", n, 160, 96, 600) for n in (10, 40)]

    # Assert: about 0.3 bits per pixel per frame / (5 - 1.2) coded bits x 5 stored bits
    assert all(abs(b - 0.3 * 160 * 96 / 8 * 5 / 3.8) < 0.25 * b for b in compact)
    assert fast[0] == pytest.approx(4 * fast[1], rel=0.01)


def test_sequence_payload_bound_refuses_image_codecs_and_empty_streams():
    # Execute / Assert
    with pytest.raises(ConfigError, match="not a sequence codec"):
        sequence_payload_bytes("residual-inr", 4, 48, 32, 100)
    with pytest.raises(ConfigError, match="must be >= 1"):
        sequence_payload_bytes("res-nerv", 0, 48, 32, 100)


# --- rinr plan ---------------------------------------------------------------------------------


def test_plan_json_has_the_recommendation_and_the_reductions(capsys):
    # Execute
    code, out = run_plan(["--devices", "10", "--json"], capsys)

    # Assert
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 1
    result = json.loads(lines[0])
    assert result["recommended"] in ("edge", "fog")
    assert set(result["reduction_vs_jpeg"]) == {"edge", "fog"}
    assert result["reduction_vs_jpeg"]["fog"] == 1.0
    assert result["reduction_vs_jpeg"]["edge"] > 1.0
    assert result["inputs"]["devices"] == 10 and result["inputs"]["bandwidth_mbps"] == 2.0
    assert {(e["codec"], e["placement"]) for e in result["estimates"]} == {
        *((c, p) for c in CODECS for p in ("edge", "fog")), ("jpeg", "serverless")}


def test_plan_options_reach_the_model(capsys):
    # Execute: payload-only, explicit sizes, 4 MB/s
    code, out = run_plan(["--devices", "4", "--frames-per-device", "10", "--jpeg-bytes", "1000",
                          "--residual-inr-bytes", "100", "--model-bytes", "5000",
                          "--bandwidth-mbps", "4", "--payload-only", "--json"], capsys)

    # Assert
    result = json.loads(out)
    edge = next(e for e in result["estimates"]
                if (e["codec"], e["placement"]) == ("residual-inr", "edge"))
    assert edge["total_bytes"] == 4 * 10 * 1000 + 4 * 3 * 10 * 100
    assert edge["transfer_s"] == pytest.approx(edge["total_bytes"] / 4e6)
    assert result["crossover_devices"]["residual-inr"] == 7
    assert result["recommended"] == "edge"


def test_plan_text_and_plot(tmp_path, capsys):
    # Execute
    path = tmp_path / "plots" / "devices.png"
    code, out = run_plan(["--devices", "10", "--max-devices", "20", "--plot", str(path)], capsys)

    # Assert
    assert code == 0
    assert "recommended for residual-inr:" in out and str(path) in out
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000


def test_plan_bandwidth_help_says_megabytes():
    parser = argparse.ArgumentParser(prog="rinr")
    text = " ".join(add_parser(parser.add_subparsers(dest="command")).format_help().split())
    assert "megabytes per second (MB/s, not Mbit/s; default 2 MB/s = 16 Mbit/s)" in text


def test_plan_rejects_a_non_positive_device_count(capsys):
    with pytest.raises(SystemExit):
        run_plan(["--devices", "0"], capsys)
    assert "must be an integer >= 1" in capsys.readouterr().err


def test_every_estimate_is_consistent_with_its_ledger():
    inputs = PlanInputs(5, 20, default_payload_bytes(), 1_000_000, 100, rounds=2)
    for e in estimate_all(inputs):
        assert e.total_bytes == pytest.approx(sum(e.parts.values()))
        assert e.edge_sent * inputs.devices <= e.total_bytes + 1e-6
