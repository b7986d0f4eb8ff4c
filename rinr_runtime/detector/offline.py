"""Ultralytics without a network: config folder, fonts and settings, set before its import.

Every function of :mod:`rinr_runtime.detector` calls :func:`prepare_offline` first, so that
Ultralytics never reaches for the network (hub weights, fonts, settings sync).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from rinr_core.errors import ConfigError
from rinr_core.files import copy_atomic

log = logging.getLogger(__name__)

FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
"""Font files Ultralytics looks for in its config dir (and would otherwise download)."""

_SETTINGS_OFF = {
    "sync": False,
    "clearml": False,
    "comet": False,
    "dvc": False,
    "mlflow": False,
    "raytune": False,  # importing ray (installed with flwr[simulation]) costs seconds
    "tensorboard": False,
    "wandb": False,
    "vscode_msg": False,
    "openvino_msg": False,
}
_prepared_dir: Path | None = None


# --- offline setup --------------------------------------------------------------------------


def default_config_dir() -> Path:
    """Return the Ultralytics config folder used when none is given.

    ``$YOLO_CONFIG_DIR`` when already set (deployments may pin it), else a per-user folder
    in the system temp directory; never ``~/.config``.
    """
    if env := os.environ.get("YOLO_CONFIG_DIR"):
        return Path(env).expanduser()
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"rinr-yolo-{uid}"


def prepare_offline(config_dir: Path | None = None) -> Path:
    """Make Ultralytics work with no network, then import it; return its config folder.

    Sets ``YOLO_CONFIG_DIR`` and ``YOLO_OFFLINE=1`` (and ``YOLO_VERBOSE=False`` unless set)
    before Ultralytics is imported, puts a TTF font where Ultralytics looks for
    ``Arial.ttf`` (copied from matplotlib's bundled DejaVuSans), and turns off settings
    sync and the third-party logger integrations. Idempotent: later calls return the
    folder of the first one.

    Parameters
    ----------
    config_dir
        Folder for Ultralytics' settings and fonts (its ``YOLO_CONFIG_DIR``). Default:
        :func:`default_config_dir`.

    Returns
    -------
    Path
        The effective ``YOLO_CONFIG_DIR``.
    """
    global _prepared_dir
    if _prepared_dir is not None:
        if config_dir is not None and Path(config_dir).resolve() != _prepared_dir:
            log.warning(
                "Ultralytics is already set up with config dir %s; ignoring %s",
                _prepared_dir,
                config_dir,
            )
        return _prepared_dir
    wanted = Path(config_dir or default_config_dir()).expanduser().resolve()
    wanted.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_CONFIG_DIR"] = str(wanted)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_VERBOSE", "False")

    import ultralytics.utils as uutils  # first import: reads the variables set above

    user_dir = Path(uutils.USER_CONFIG_DIR)
    if user_dir.parent.resolve() != wanted:
        log.warning(
            "ultralytics was imported before rinr set it up; it uses %s (not %s) and may "
            "have checked the network once at import",
            user_dir,
            wanted,
        )
    _install_fonts(user_dir)
    changes = {k: v for k, v in _SETTINGS_OFF.items() if uutils.SETTINGS.get(k) != v}
    if changes:
        uutils.SETTINGS.update(changes)
    _prepared_dir = user_dir.parent.resolve()
    return _prepared_dir


def _install_fonts(user_dir: Path) -> None:
    """Copy matplotlib's DejaVuSans to every font name Ultralytics would download."""
    missing = [user_dir / name for name in FONT_NAMES if not (user_dir / name).is_file()]
    if not missing:
        return
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not source.is_file():
        raise ConfigError(
            f"no TTF font to give Ultralytics: {source} is missing; put any .ttf file at "
            f"{missing[0]} (Ultralytics would try to download Arial.ttf)"
        )
    user_dir.mkdir(parents=True, exist_ok=True)
    for target in missing:
        copy_atomic(source, target)  # parallel processes never see a half-written font

