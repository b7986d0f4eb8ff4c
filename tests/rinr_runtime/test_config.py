"""The run_config keys: one list, the same defaults in pyproject.toml, strict parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from rinr_core.errors import ConfigError
from rinr_core.toml import tomllib
from rinr_runtime.config import (
    DEFAULTS,
    KEYS,
    RuntimeConfig,
    config_table_markdown,
    readme_with_config_table,
    resolve_path,
)

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_pyproject_lists_every_key_with_its_default() -> None:
    # Prepare
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["flwr"]["app"]["config"]

    # Assert
    assert config == DEFAULTS


def test_empty_run_config_gives_the_defaults() -> None:
    # Execute
    config = RuntimeConfig.from_run_config({})

    # Assert
    assert config.codec == "residual-inr"
    assert config.codec_mode == "qre"
    assert config.num_server_rounds == DEFAULTS["num-server-rounds"]
    assert config.class_names == ("object",)
    assert config.torch_device is None and config.yolo_device is None


def test_values_are_coerced_to_the_key_type() -> None:
    # Execute
    config = RuntimeConfig.from_run_config(
        {"node-wait-s": 3, "train": "false", "epochs": 2.0, "class-names": "car, person",
         "device": "cuda:1"})

    # Assert
    assert config.node_wait_s == 3.0 and isinstance(config.node_wait_s, float)
    assert config.train is False
    assert config.epochs == 2
    assert config.class_names == ("car", "person")
    assert config.yolo_device == "1"


def test_video_codecs_are_runtime_codecs() -> None:
    # Execute
    config = RuntimeConfig.from_run_config({"codec": "res-nerv", "nerv-preset": "paper"})

    # Assert
    assert config.sequence_codec and config.codec_mode is None
    assert not RuntimeConfig.from_run_config({"codec": "jpeg"}).sequence_codec


@pytest.mark.parametrize(
    ("run_config", "message"),
    [
        ({"no-such-key": 1}, "unknown run_config keys"),
        ({"epochs": "two"}, "must be of type int"),
        ({"codec": "webp"}, "codec='webp'"),
        ({"val-every": 1}, "val-every=1"),
        ({"aggregation": "median", "placement": "cloud"}, "placement='cloud'"),
        ({"class-names": "a,a"}, "class-names"),
        ({"codec": "res-nerv", "nerv-preset": "huge"}, "nerv-preset='huge'"),
        ({"nerv-epochs": -1}, "nerv-epochs=-1"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(run_config: dict, message: str) -> None:
    # Execute / Assert
    with pytest.raises(ConfigError, match=message):
        RuntimeConfig.from_run_config(run_config)


def test_config_table_has_a_row_per_key() -> None:
    # Execute
    table = config_table_markdown()

    # Assert
    assert len(table.strip().splitlines()) == len(KEYS) + 2
    assert all(f"| `{k.name}` |" in table for k in KEYS)


def test_readme_configuration_table_is_the_generated_one() -> None:
    # Prepare
    readme = (PYPROJECT.parent / "README.md").read_text(encoding="utf-8")

    # Assert: `python -m rinr_runtime.config` would change nothing
    assert readme_with_config_table(readme) == readme, (
        "the README's configuration table is stale: run `python -m rinr_runtime.config`")
    assert config_table_markdown() in readme


def test_relative_paths_resolve_against_the_base(tmp_path: Path) -> None:
    assert resolve_path("runs/x", tmp_path) == tmp_path / "runs" / "x"
    assert resolve_path(str(tmp_path / "abs"), Path("/elsewhere")) == tmp_path / "abs"
