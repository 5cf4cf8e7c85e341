# SPDX-License-Identifier: GPL-3.0-or-later
"""Where Companion keeps things: user dirs (settings, state, cache, data) and shipped resources.

``COMPANION_CONFIG_DIR`` moves all settings and state (tests use it).
"""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

import platformdirs

APP_NAME = "companion"


def config_dir() -> Path:
    """The settings and state folder (created on demand by the writer)."""
    override = os.environ.get("COMPANION_CONFIG_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def state_dir() -> Path:
    """Runtime state (sockets, logs); inside the config dir when it is overridden."""
    override = os.environ.get("COMPANION_CONFIG_DIR")
    if override:
        return Path(override) / "state"
    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """Derived data that can be rebuilt (prepared voice models)."""
    override = os.environ.get("COMPANION_CONFIG_DIR")
    if override:
        return Path(override) / "cache"
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """The user's own files: character packs (``characters/``) and voices (``voices/``).

    Inside the config dir when it is overridden (tests), like the other folders.
    """
    override = os.environ.get("COMPANION_CONFIG_DIR")
    if override:
        return Path(override) / "data"
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def resource_path(name: str) -> Path:
    """A file under ``resources/``: installed, editable, frozen or straight from the tree."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        candidate = Path(frozen_root) / "companion" / "resources" / name
        if candidate.exists():
            return candidate
    try:
        candidate = Path(str(resources.files("companion.resources").joinpath(name)))
        if candidate.exists():
            return candidate
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parent.parent / "resources" / name
