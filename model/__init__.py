"""The model layer: tokenizer, GRU language model, decoding and per-document sessions.

It imports neither `server` nor `training`: both build on it.
"""

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """The installed grucomplete version ("0+unknown" in a source tree that is not installed)."""
    try:
        return version("grucomplete")
    except PackageNotFoundError:
        return "0+unknown"
