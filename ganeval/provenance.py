"""Provenance: everything needed to know where a number came from and to reproduce it."""

from __future__ import annotations

import datetime as _dt
import platform
import sys
from dataclasses import asdict, is_dataclass
from typing import Any

import numpy as np
import torch

from ganeval import __version__


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"{_cpu_name()} ({torch.get_num_threads()} threads)"


def versions() -> dict[str, str]:
    return {
        "ganeval": __version__,
        "python": sys.version.split()[0],
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, tuples and paths as plain JSON values."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def collect_provenance(**sections: Any) -> dict[str, Any]:
    """Versions, time and device, plus the caller's sections (config, extractor, inputs, timings...)."""
    prov = {
        "versions": versions(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv[:] if sys.argv and sys.argv[0] else None,
    }
    prov.update(to_jsonable(sections))
    return prov
