"""The resumable training state (out/last.pt): everything a run needs to continue bit for bit.

A plain dict that torch.load(weights_only=True) reads (tensors, numbers, strings, lists, dicts):

    {"format": "ganeval-train-state", "format_version": 1, "trainer": "dcgan", "config": {...},
     "step": 1500,
     "generator": state_dict, "discriminator": state_dict, "ema": state_dict or None,
     "opt_g": optimizer state_dict, "opt_d": optimizer state_dict,
     "rng": {"noise": ByteTensor, "data": ByteTensor},      # torch.Generator.get_state()
     "data": {"order": int64 tensor, "cursor": int, "epoch": int},
     "run": {...}}                                           # history, best, loss sums, times, manifest facts

Nothing else draws random numbers during training (no numpy or Python RNG, no global torch RNG), so
these two generator states plus the data order are the whole random state.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from ganeval.atomic import atomic_writer
from ganeval.errors import BadInputError

STATE_FORMAT = "ganeval-train-state"
STATE_VERSION = 1
REQUIRED = ("trainer", "config", "step", "generator", "discriminator", "opt_g", "opt_d", "rng", "data", "run")


def save_state(path: str | Path, state: dict[str, Any]) -> Path:
    """Write the training state atomically (a kill mid-write leaves the previous file intact)."""
    path = Path(path)
    with atomic_writer(path) as fh:
        torch.save({"format": STATE_FORMAT, "format_version": STATE_VERSION, **state}, fh)
    return path


def read_state(path: str | Path) -> dict[str, Any]:
    """Load a training state with torch.load(weights_only=True) and check its schema; BadInputError naming
    the file when it is missing, unreadable, of another format or incomplete."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"nothing to resume: {path} does not exist (start without --resume)")
    try:
        data = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, foreign or pickled-code files are all refused alike
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInputError(f"{path} is not a readable ganeval training state: {reason[:200]}") from None
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
        raise BadInputError(f"{path} is not a ganeval training state (format is not {STATE_FORMAT!r})")
    if data.get("format_version") != STATE_VERSION:
        raise BadInputError(f"{path} has training-state version {data.get('format_version')!r}; "
                            f"this ganeval reads {STATE_VERSION}")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise BadInputError(f"{path} is an incomplete training state: it lacks {', '.join(missing)}")
    return data
