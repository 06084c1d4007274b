"""Errors meant for the user: each carries the exit code the CLI returns (DESIGN.md, Exit codes).

Messages are one line: what is wrong, which file, what to do. Texts that tests match are constants here.
"""

from __future__ import annotations


class GanevalError(Exception):
    """Base class: an error the CLI reports as one line, exiting with `exit_code`."""

    exit_code = 1


class BadInputError(GanevalError):
    """Bad usage or bad input (a missing path, a corrupt image, an incompatible stats file): exit 2."""

    exit_code = 2


class MissingWeightsError(GanevalError):
    """Weights that are missing or fail verification: exit 3."""

    exit_code = 3


# Message templates (tests match these; keep them one line).
MSG_MISSING_PATH = "no such file or folder: {path}"
MSG_EMPTY_SOURCE = "no images found in {path} (looked for {exts})"
MSG_UNREADABLE_IMAGE = "cannot read image {path}: {reason}"
MSG_MIXED_SIZES = (
    "mixed image sizes in {source}: {first} is {first_size} but {other} is {other_size}; "
    "make them one size or pass --allow-mixed-sizes"
)
MSG_WEIGHTS_HASH = "{path} is not the expected {name} weights: sha256 {actual} does not start with {expected}"
