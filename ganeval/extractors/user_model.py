"""torchscript:PATH and export:PATH: feature networks the user brings (DINOv2, CLIP, a domain classifier).

Two file formats, neither of which runs pickled Python when loaded:

* "torchscript": a TorchScript archive (torch.jit.save); read with torch.jit.load(map_location="cpu").
* "export":      a torch.export program (.pt2, torch.export.save); read with torch.export.load after
                 checking that the archive holds no pickled payloads (torch's loader would unpickle
                 them, or fall back to an unrestricted unpickler for sample inputs, and AOTInductor
                 parts would load native code), see `_check_pt2_archive`.

The network maps a float32 (N, 3, H, W) batch to either a tensor (N, D) -- or (N, D, 1, 1), squeezed --
used as "pool", or a tuple/list (pool, logits). Its input size and normalisation are declared by a JSON
file "ganeval.json" embedded in the model (`_extra_files` / `extra_files`):

    {"input_size": [224, 224], "value_range": "unit", "mean": [0.485, 0.456, 0.406],
     "std": [0.229, 0.224, 0.225], "outputs": ["pool"]}

or, for what the file does not declare, by ExtractorOptions (the CLI's --input-size/--mean/--std).
`save_user_model` writes such a file. The feature widths are found by one probe forward at build time.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganeval.atomic import atomic_write_bytes
from ganeval.errors import BadInputError
from ganeval.extractors import ExtractorEntry, register_extractor
from ganeval.extractors.base import Extractor, ExtractorInfo, ExtractorOptions

__all__ = [
    "DECLARATION_FILE", "DECLARATION_KEYS", "FORMATS", "Declarations", "NetworkFile", "UserModelExtractor",
    "build_export", "build_torchscript", "detect_format", "load_network", "load_user_model", "read_declarations",
    "save_user_model", "split_outputs", "write_network",
]

DECLARATION_FILE = "ganeval.json"
FORMATS = ("torchscript", "export")
OUTPUT_NAMES = ("pool", "logits")
DECLARATION_KEYS = ("input_size", "value_range", "mean", "std", "outputs", "description")
_KEYS = DECLARATION_KEYS
PROBE_BATCH = 2  # torch.export specialises batch sizes 0 and 1, so probe with 2

MSG_NO_INPUT_SIZE = (
    "{path} does not declare its input size; pass --input-size N or HxW (ExtractorOptions(input_size=(H, W))), "
    "or embed it with ganeval.extractors.user_model.save_user_model(..., input_size=...)"
)
MSG_BAD_OUTPUT = (
    "{path}: the network must return a float tensor (N, D) or (N, D, 1, 1), or a tuple (pool, logits) "
    "of them; on a probe batch {probe} it returned {got}"
)
MSG_CONFLICT = (
    "{path} declares {key} {embedded} but {given} was given; drop the option (the file's declaration is used)"
)


@dataclass(frozen=True)
class Declarations:
    """How a user network wants its input and what its outputs are.

    input_size: (H, W) the preprocessing protocol resizes to.
    value_range: "unit" (x / 255 then (x - mean) / std per channel) or "signed" (the protocol's [-1, 1]).
    outputs: names of the network's outputs in order: "pool", "logits", or None for one to ignore.
    """

    input_size: tuple[int, int]
    value_range: str = "unit"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    outputs: tuple[str | None, ...] | None = None
    description: str = ""


# --------------------------------------------------------------------------------------------------
# Declarations: embedded JSON first, then options; conflicts are errors, never silently resolved.
# --------------------------------------------------------------------------------------------------


def _parse_size(value: Any, where: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        return int(value[0]), int(value[1])
    raise BadInputError(f"{where}: input_size must be a positive integer or [height, width], got {value!r}")


def _parse_triple(value: Any, key: str, where: str, positive: bool = False) -> tuple[float, float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value] * 3
    ok = (isinstance(value, (list, tuple)) and len(value) == 3
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value))
    if ok and positive:
        ok = all(v > 0 for v in value)
    if not ok:
        need = "three positive numbers" if positive else "three finite numbers"
        raise BadInputError(f"{where}: {key} must be {need} (one per RGB channel), got {value!r}")
    return (float(value[0]), float(value[1]), float(value[2]))


def _parse_outputs(value: Any, where: str) -> tuple[str | None, ...]:
    if (not isinstance(value, (list, tuple)) or not value
            or any(v is not None and v not in OUTPUT_NAMES for v in value)
            or "pool" not in value or sum(v == "pool" for v in value) > 1 or sum(v == "logits" for v in value) > 1):
        raise BadInputError(
            f"{where}: outputs must list the network's outputs in order, each \"pool\", \"logits\" or null, "
            f"with exactly one \"pool\"; got {value!r}"
        )
    return tuple(value)


def _decode_embedded(raw: str | bytes, where: str, known: Sequence[str] = DECLARATION_KEYS) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(f"{where}: the embedded {DECLARATION_FILE} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadInputError(f"{where}: the embedded {DECLARATION_FILE} must be a JSON object")
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise BadInputError(f"{where}: unknown keys {unknown} in the embedded {DECLARATION_FILE}; known: {list(known)}")
    return data


def read_declarations(embedded: dict[str, Any], options: ExtractorOptions, where: str) -> Declarations:
    """Merge the file's embedded declarations with `options` into a validated Declarations.

    A field the file declares wins; an option that contradicts it is an error (BadInputError) so that
    numbers are never computed with a normalisation the model's author did not intend.
    """
    def pick(key: str, option: Any, flag: str, parse) -> Any:
        from_file = parse(embedded[key]) if embedded.get(key) is not None else None
        from_option = parse(option) if option is not None else None
        if from_file is not None and from_option is not None and from_file != from_option:
            given = f"{flag} {from_option}"
            raise BadInputError(MSG_CONFLICT.format(path=where, key=key, embedded=from_file, given=given))
        return from_file if from_file is not None else from_option

    input_size = pick("input_size", options.input_size, "--input-size", lambda v: _parse_size(v, where))
    if input_size is None:
        raise BadInputError(MSG_NO_INPUT_SIZE.format(path=where))
    mean = pick("mean", options.mean, "--mean", lambda v: _parse_triple(v, "mean", where))
    std = pick("std", options.std, "--std", lambda v: _parse_triple(v, "std", where, positive=True))

    def parse_range(v: Any) -> str:
        if v not in ("unit", "signed"):
            raise BadInputError(f"{where}: value_range must be \"unit\" or \"signed\", got {v!r}")
        return v

    value_range = pick("value_range", options.value_range, "--value-range", parse_range) or "unit"
    if value_range == "signed" and (mean is not None or std is not None):
        raise BadInputError(
            f"{where}: mean/std apply to value_range \"unit\" only; "
            "the \"signed\" range is the protocol's own [-1, 1] map"
        )
    outputs = _parse_outputs(embedded["outputs"], where) if embedded.get("outputs") is not None else None
    description = embedded.get("description") or ""
    if not isinstance(description, str):
        raise BadInputError(f"{where}: description must be a string")
    return Declarations(
        input_size=input_size, value_range=value_range,
        mean=mean or (0.0, 0.0, 0.0), std=std or (1.0, 1.0, 1.0),
        outputs=outputs, description=description,
    )


# --------------------------------------------------------------------------------------------------
# Outputs: tensor or (pool, logits), checked once by the probe and on every batch.
# --------------------------------------------------------------------------------------------------


def _describe(out: Any) -> str:
    if isinstance(out, torch.Tensor):
        return f"a {str(out.dtype).replace('torch.', '')} tensor {tuple(out.shape)}"
    if isinstance(out, (tuple, list)):
        return f"a {type(out).__name__} of " + ", ".join(_describe(o) for o in out)
    return f"a {type(out).__name__}"


def _as_matrix(t: Any, n: int) -> torch.Tensor | None:
    """(N, D) or (N, D, 1, 1) float tensor -> (N, D) float32; anything else -> None."""
    if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.shape[:1] != (n,):
        return None
    if t.ndim == 4 and t.shape[2:] == (1, 1):
        t = t.flatten(1)
    if t.ndim != 2 or t.shape[1] < 1:
        return None
    return t.float()


def split_outputs(out: Any, n: int, names: tuple[str | None, ...] | None) -> dict[str, torch.Tensor] | None:
    """Map a network's raw output to {"pool": (N, D), "logits"?: (N, K)}; None when it has the wrong form.

    A single tensor is "pool"; a tuple/list is named by `names` (default ("pool", "logits")).
    """
    items = list(out) if isinstance(out, (tuple, list)) else [out]
    if names is None:
        names = ("pool", "logits")[:len(items)] if isinstance(out, (tuple, list)) else ("pool",)
    if len(items) != len(names):
        return None
    features: dict[str, torch.Tensor] = {}
    for name, item in zip(names, items):
        if name is None:
            continue
        matrix = _as_matrix(item, n)
        if matrix is None:
            return None
        features[name] = matrix
    return features if "pool" in features else None


class UserModelExtractor(Extractor):
    """Wraps a loaded TorchScript module or torch.export program as an extractor.

    forward(x: float32 (N, 3, H, W), already preprocessed to the declared size and range)
    -> {"pool": (N, D), "logits": (N, K) if the network returns them}.
    """

    def __init__(
        self, module: nn.Module, info: ExtractorInfo, path: str, outputs: tuple[str | None, ...] | None
    ) -> None:
        super().__init__()
        self.module = module
        self.info = info
        self.path = path
        self.outputs = outputs

    def train(self, mode: bool = True) -> UserModelExtractor:
        # The user's network stays as it was saved (eval); exported programs refuse train()/eval().
        self.training = mode
        return self

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.module(x)
        features = split_outputs(out, x.shape[0], self.outputs)
        if features is None:
            raise BadInputError(MSG_BAD_OUTPUT.format(path=self.path, probe=tuple(x.shape), got=_describe(out)))
        return features


# --------------------------------------------------------------------------------------------------
# Loading the two formats.
# --------------------------------------------------------------------------------------------------


def _read_file(path: str | Path, kind: str) -> tuple[bytes, str]:
    p = Path(path).expanduser()
    try:
        return p.read_bytes(), str(p)
    except FileNotFoundError:
        raise BadInputError(f"no such {kind} model file: {p}") from None
    except IsADirectoryError:
        raise BadInputError(f"{p} is a folder, not a {kind} model file") from None
    except OSError as exc:
        raise BadInputError(f"cannot read {kind} model file {p}: {exc.strerror or exc}") from None


def _zip_names(data: bytes) -> list[str] | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return None


def _strip_root(names: list[str]) -> list[str]:
    """Archive records live under one top folder (its name is free); drop it."""
    return [name.split("/", 1)[1] if "/" in name else name for name in names]


def _looks_like(data: bytes) -> str | None:
    """Guess a zip archive's kind from its records: "export", "torchscript", "pickle" (torch.save) or None."""
    names = _zip_names(data)
    if names is None:
        return None
    rel = set(_strip_root(names))
    if "archive_format" in rel or any(r.startswith("models/") for r in rel):
        return "export"
    if "constants.pkl" in rel or any(r.startswith("code/") for r in rel):
        return "torchscript"
    return "pickle" if "data.pkl" in rel else None


_HINTS = {
    "export": "; it is a torch.export (.pt2) file: use export:PATH",
    "torchscript": "; it is a TorchScript file: use torchscript:PATH",
    "pickle": ("; it is a torch.save checkpoint (pickled), which ganeval does not load: "
               "save the network with torch.jit.save or torch.export.save"),
}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _load_torchscript(data: bytes, where: str) -> tuple[nn.Module, str | bytes]:
    extra = {DECLARATION_FILE: ""}
    try:
        with warnings.catch_warnings():
            # torch 2.14 marks TorchScript deprecated; the user chose this format, the warning is noise here.
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(io.BytesIO(data), map_location="cpu", _extra_files=extra)
    except Exception as exc:  # torch raises RuntimeError/ValueError/... for foreign or corrupt files
        kind = _looks_like(data)
        hint = _HINTS[kind] if kind in ("export", "pickle") else ""
        raise BadInputError(f"cannot load TorchScript model {where}: {_first_line(exc)}{hint}") from None
    return module, extra[DECLARATION_FILE]


# Graph call targets a plain exported network needs. torch's deserializer resolves any dotted
# "torch.X.Y" name by getattr, so a crafted graph could otherwise call e.g. torch.load or os functions.
_TORCH_TARGETS = frozenset({
    "torch._C._set_grad_enabled", "torch.amp.autocast_mode._enter_autocast", "torch.amp.autocast_mode._exit_autocast",
})
_OPERATOR_DENY = frozenset({"call", "attrgetter", "itemgetter", "methodcaller", "setitem", "delitem"})


def _allowed_target(target: str) -> bool:
    """True for torch.ops.NS.OP[.OVERLOAD], torch.sym_*, plain operator/math functions and a few torch hooks."""
    parts = target.split(".")
    if not all(p.isidentifier() and not p.startswith("__") for p in parts):
        return False
    if parts[:2] == ["torch", "ops"]:
        return len(parts) in (4, 5) and not hasattr(type(torch.ops), parts[2])
    if len(parts) == 2 and parts[0] == "torch":
        return parts[1].startswith("sym_")
    if len(parts) == 2 and parts[0] == "_operator":
        return parts[1] not in _OPERATOR_DENY
    if len(parts) == 2 and parts[0] == "math":
        return True
    return target in _TORCH_TARGETS


def _graph_targets(tree: Any) -> Iterator[str]:
    """Every node target in a serialized program, including nested subgraphs."""
    if isinstance(tree, dict):
        if isinstance(tree.get("target"), str) and "inputs" in tree:
            yield tree["target"]
        for value in tree.values():
            yield from _graph_targets(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _graph_targets(value)


def _check_pt2_archive(data: bytes, where: str) -> None:
    """Refuse a .pt2 archive whose loading could run pickled Python or native code.

    torch.export.load unpickles payloads marked use_pickle (tensor subclasses), opaque and custom
    objects and legacy weight files with weights_only=False, retries sample inputs with
    weights_only=False when the safe loader fails, and loads AOTInductor shared libraries. Plain
    exported programs need none of these; we accept only archives made of JSON, raw tensor bytes and
    sample inputs that the weights-only unpickler reads, and graphs that call only operators.
    """
    names = _zip_names(data)
    if names is None:
        raise BadInputError(f"cannot load export model {where}: not a .pt2 archive (not a zip file)")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        records = dict(zip(_strip_root(names), names))

        def refuse(reason: str) -> BadInputError:
            return BadInputError(
                f"refusing export model {where}: {reason}; ganeval loads only plain torch.export programs"
            )

        archive_format = zf.read(records["archive_format"]) if "archive_format" in records else b""
        if archive_format.decode(errors="replace") != "pt2":
            hint = _HINTS.get(_looks_like(data) or "", "")
            raise BadInputError(f"cannot load export model {where}: not a torch.export .pt2 archive{hint}")
        allowed = ("archive_format", "archive_version", "byteorder", ".data/", "models/", "extra/",
                   "data/weights/", "data/constants/", "data/sample_inputs/")
        for rel in records:
            if rel.endswith("/"):
                continue
            if not rel.startswith(allowed) or rel.startswith("data/aotinductor/"):
                raise refuse(f"it contains {rel!r}")
            if rel.startswith(("data/weights/", "data/constants/")) and rel.endswith(".pt"):
                raise refuse(f"it holds pickled legacy payloads ({rel})")
            if rel.endswith("_config.json") and rel.startswith(("data/weights/", "data/constants/")):
                try:
                    config = json.loads(zf.read(records[rel]))["config"]
                except (ValueError, KeyError, TypeError):
                    raise refuse(f"{rel} is not a payload config") from None
                for fqn, meta in config.items():
                    path_name = str(meta.get("path_name", ""))
                    if meta.get("use_pickle"):
                        raise refuse(f"payload {fqn!r} is pickled")
                    if rel.startswith("data/constants/") and not path_name.startswith("tensor_"):
                        raise refuse(f"constant {fqn!r} is a pickled object")
            if rel.startswith("models/") and rel.endswith(".json"):
                try:
                    program = json.loads(zf.read(records[rel]))
                except ValueError:
                    raise refuse(f"{rel} is not JSON") from None
                for target in _graph_targets(program):
                    if not _allowed_target(target):
                        raise refuse(f"its graph calls {target!r}")
            if rel.startswith("data/sample_inputs/"):
                try:
                    torch.load(io.BytesIO(zf.read(records[rel])), map_location="cpu", weights_only=True)
                except Exception:
                    raise refuse(f"its sample inputs ({rel}) are not plain tensors") from None


def _load_export(data: bytes, where: str) -> tuple[nn.Module, str | bytes]:
    _check_pt2_archive(data, where)
    extra = {DECLARATION_FILE: ""}
    try:
        program = torch.export.load(io.BytesIO(data), extra_files=extra)
        module = program.module()
    except Exception as exc:
        raise BadInputError(f"cannot load export model {where}: {_first_line(exc)}") from None
    return module, extra.get(DECLARATION_FILE) or ""


@dataclass(frozen=True)
class NetworkFile:
    """A network read from a TorchScript or torch.export file, before any declaration is interpreted.

    module:   the loaded network (TorchScript modules in eval mode); kind: "torchscript" or "export".
    embedded: the decoded ganeval.json ({} when the file embeds none); where: the path as messages name it;
    sha256:   hex digest of the file's bytes.
    """

    module: nn.Module
    embedded: dict[str, Any]
    kind: str
    where: str
    sha256: str


def detect_format(data: bytes) -> str | None:
    """What a file's bytes are: "torchscript", "export", "pickle" (a torch.save checkpoint) or None."""
    return _looks_like(data)


def load_network(path: str | Path, kind: str | None = None, *, known_keys: Sequence[str] = DECLARATION_KEYS,
                 label: str | None = None) -> NetworkFile:
    """Read a TorchScript or torch.export file without running pickled Python from it (module docstring).

    kind None detects the format from the archive's records (a torch.save pickle is refused with a hint).
    known_keys: the keys its embedded ganeval.json may hold (others are refused, naming the file);
    label: how messages name the file's role (default: the format). Raises BadInputError naming the file.
    """
    if kind is not None and kind not in FORMATS:
        raise BadInputError(f"unknown user model format {kind!r}; use one of {FORMATS}")
    data, where = _read_file(path, label or kind or "model")
    if kind is None:
        kind = _looks_like(data)
        if kind not in FORMATS:
            hint = _HINTS["pickle"] if kind == "pickle" else ""
            raise BadInputError(f"cannot load {label or 'model'} {where}: not a TorchScript or torch.export "
                                f"file{hint}")
    module, raw = (_load_torchscript if kind == "torchscript" else _load_export)(data, where)
    embedded = _decode_embedded(raw, where, known_keys) if raw else {}
    if kind == "torchscript":
        module.eval()
    return NetworkFile(module=module, embedded=embedded, kind=kind, where=where,
                       sha256=hashlib.sha256(data).hexdigest())


def load_user_model(kind: str, path: str | Path, options: ExtractorOptions | None = None) -> UserModelExtractor:
    """Load a "torchscript" or "export" model file and return it as an extractor (eval mode, CPU).

    Declarations come from the embedded ganeval.json, else from `options`; the feature widths from
    one probe forward on a zero batch (2, 3, H, W). weights_sha256 is the sha256 of the file's bytes.
    Raises BadInputError naming the file for a missing/unreadable file, missing input size,
    contradictory declarations, or outputs of the wrong form.
    """
    if kind not in FORMATS:
        raise BadInputError(f"unknown user model format {kind!r}; use one of {FORMATS}")
    options = options or ExtractorOptions()
    net = load_network(path, kind)
    module, where = net.module, net.where
    decl = read_declarations(net.embedded, options, where)

    probe = torch.zeros(PROBE_BATCH, 3, *decl.input_size)
    try:
        with torch.no_grad():
            out = module(probe)
    except Exception as exc:
        raise BadInputError(
            f"{where}: the network failed on a probe batch {tuple(probe.shape)} at its declared input size: "
            f"{_first_line(exc)}"
        ) from None
    features = split_outputs(out, PROBE_BATCH, decl.outputs)
    if features is None:
        raise BadInputError(MSG_BAD_OUTPUT.format(path=where, probe=tuple(probe.shape), got=_describe(out)))

    info = ExtractorInfo(
        name=f"{kind}:{Path(where).name}",
        weights_sha256=net.sha256,
        input_size=decl.input_size,
        features={name: int(t.shape[1]) for name, t in features.items()},
        value_range=decl.value_range,
        mean=decl.mean,
        std=decl.std,
        description=decl.description or f"user-supplied {kind} network {where}",
        extra={"path": where, "format": kind},
    )
    return UserModelExtractor(module, info, where, decl.outputs)


def build_torchscript(options: ExtractorOptions, argument: str | None) -> UserModelExtractor:
    """Registry builder for "torchscript:PATH"."""
    return load_user_model("torchscript", argument or "", options)


def build_export(options: ExtractorOptions, argument: str | None) -> UserModelExtractor:
    """Registry builder for "export:PATH"."""
    return load_user_model("export", argument or "", options)


# --------------------------------------------------------------------------------------------------
# Writing: the one helper that `ganeval export` and the tests use.
# --------------------------------------------------------------------------------------------------


def save_user_model(
    module: nn.Module,
    path: str | Path,
    *,
    input_size: int | Sequence[int],
    value_range: str = "unit",
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
    outputs: Sequence[str | None] | None = None,
    description: str = "",
    format: str = "torchscript",
) -> Path:
    """Write `module` as a TorchScript or torch.export file with an embedded ganeval.json.

    The module is traced (TorchScript) or exported (dynamic batch dimension) on a zero batch
    (2, 3, H, W) in eval mode, so it must take one float32 (N, 3, H, W) tensor and return a tensor
    (N, D) / (N, D, 1, 1) or a tuple (pool, logits). The declarations are validated exactly as
    loading validates them. The file is written atomically; returns its path.
    """
    if format not in FORMATS:
        raise BadInputError(f"unknown format {format!r}; use one of {FORMATS}")
    path = Path(path)
    declared = {
        "input_size": input_size if isinstance(input_size, int) else list(input_size),
        "value_range": value_range, "mean": mean, "std": std, "outputs": outputs, "description": description or None,
    }
    declared = {key: value for key, value in declared.items() if value is not None}
    decl = read_declarations(declared, ExtractorOptions(), str(path))
    payload = {"input_size": list(decl.input_size), "value_range": decl.value_range}
    if decl.value_range == "unit":
        payload.update(mean=list(decl.mean), std=list(decl.std))
    if decl.outputs is not None:
        payload["outputs"] = list(decl.outputs)
    if decl.description:
        payload["description"] = decl.description
    return write_network(module, path, payload=payload, input_size=decl.input_size, format=format)


def write_network(module: nn.Module, path: str | Path, *, payload: dict[str, Any], input_size: tuple[int, int],
                  format: str = "torchscript") -> Path:
    """Trace (TorchScript) or export (dynamic batch dimension) `module` on a zero batch (2, 3, H, W) in eval
    mode and write it atomically with `payload` embedded as ganeval.json; returns the path.

    The payload is written as given: callers validate it (save_user_model, the attribute classifier's saver).
    """
    if format not in FORMATS:
        raise BadInputError(f"unknown format {format!r}; use one of {FORMATS}")
    path = Path(path)
    text = json.dumps(payload, sort_keys=True)
    was_training = module.training
    module.eval()
    example = torch.zeros(PROBE_BATCH, 3, *input_size)
    buffer = io.BytesIO()
    try:
        if format == "torchscript":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # TorchScript's deprecation notice
                traced = torch.jit.trace(module, example)
                torch.jit.save(traced, buffer, _extra_files={DECLARATION_FILE: text})
        else:
            program = torch.export.export(module, (example,), dynamic_shapes=({0: torch.export.Dim.DYNAMIC},))
            torch.export.save(program, buffer, extra_files={DECLARATION_FILE: text})
    except Exception as exc:  # tracing/exporting failures come in many types; report them as one line
        raise BadInputError(f"cannot write {format} model {path}: {_first_line(exc)}") from exc
    finally:
        module.train(was_training)
    atomic_write_bytes(path, buffer.getvalue())
    return path


register_extractor(ExtractorEntry(
    name="torchscript",
    description="a TorchScript feature network (torch.jit.save); input size and normalisation embedded "
                "or given with --input-size/--mean/--std",
    build=build_torchscript,
    offline=True,
    weights=None,
    takes_argument=True,
))
register_extractor(ExtractorEntry(
    name="export",
    description="a torch.export program (.pt2, torch.export.save); input size and normalisation embedded "
                "or given with --input-size/--mean/--std",
    build=build_export,
    offline=True,
    weights=None,
    takes_argument=True,
))
