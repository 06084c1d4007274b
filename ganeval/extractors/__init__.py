"""Registry of feature extractors. Built-ins register through the same call a plugin uses.

    register_extractor(ExtractorEntry(name="my-net", description=..., build=my_builder))
    get_extractor("inception", ExtractorOptions())
    get_extractor("torchscript:/path/net.pt", ExtractorOptions(input_size=(224, 224)))
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from ganeval.errors import BadInputError
from ganeval.extractors.base import Extractor, ExtractorInfo, ExtractorOptions

__all__ = [
    "Extractor", "ExtractorEntry", "ExtractorInfo", "ExtractorOptions",
    "available_extractors", "get_extractor", "register_extractor",
]


@dataclass(frozen=True)
class ExtractorEntry:
    """A registered extractor family.

    build(options, argument) -> Extractor; `argument` is the text after "name:" (e.g. a path for
    "torchscript:PATH"), or None. `weights` names the entry in ganeval.weights that the extractor
    needs (None when it needs no download). `offline` says whether it works without any download.
    """

    name: str
    description: str
    build: Callable[[ExtractorOptions, str | None], Extractor]
    offline: bool = True
    weights: str | None = None
    takes_argument: bool = False


_REGISTRY: dict[str, ExtractorEntry] = {}
_BUILTINS = ("ganeval.extractors.inception", "ganeval.extractors.fmnist_cnn", "ganeval.extractors.user_model")
_loaded = False


def register_extractor(entry: ExtractorEntry) -> None:
    """Add (or replace) an extractor family in the registry."""
    _REGISTRY[entry.name] = entry


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _BUILTINS:
            importlib.import_module(module)


def available_extractors() -> dict[str, ExtractorEntry]:
    _load_builtins()
    return dict(_REGISTRY)


def split_name(spec: str) -> tuple[str, str | None]:
    """"torchscript:/a/b.pt" -> ("torchscript", "/a/b.pt"); "inception" -> ("inception", None)."""
    name, sep, arg = spec.partition(":")
    return name, (arg if sep else None)


def get_extractor(spec: str, options: ExtractorOptions | None = None) -> Extractor:
    """Build the extractor named by `spec`, in eval mode on `options.device`."""
    _load_builtins()
    options = options or ExtractorOptions()
    name, arg = split_name(spec)
    entry = _REGISTRY.get(name)
    if entry is None:
        known = ", ".join(sorted(n + (":PATH" if e.takes_argument else "") for n, e in _REGISTRY.items()))
        raise BadInputError(f"unknown extractor {spec!r}; choose one of: {known}")
    if entry.takes_argument and not arg:
        raise BadInputError(f"extractor {name!r} needs a path: use {name}:PATH")
    if not entry.takes_argument and arg:
        raise BadInputError(f"extractor {name!r} takes no argument (got {spec!r})")
    extractor = entry.build(options, arg)
    return extractor.eval().to(options.device)
