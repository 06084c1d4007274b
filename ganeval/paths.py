"""Where ganeval keeps its files: the user cache dir (stats cache, installed weights)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$GANEVAL_CACHE_DIR, else $XDG_CACHE_HOME/ganeval, else ~/.cache/ganeval (never site-packages or /tmp)."""
    if os.environ.get("GANEVAL_CACHE_DIR"):
        return Path(os.environ["GANEVAL_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "ganeval"


def torch_hub_checkpoints_dir() -> Path:
    """$TORCH_HOME/hub/checkpoints, where pytorch-fid and torch-fidelity keep downloaded weights."""
    torch_home = os.environ.get("TORCH_HOME")
    if not torch_home:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        torch_home = str(Path(base) / "torch")
    return Path(torch_home).expanduser() / "hub" / "checkpoints"
