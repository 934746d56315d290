"""The corpus manifest: the pinned PyPI sdists behind the bundled model, and `fetch-corpus`.

`grucomplete fetch-corpus DEST` downloads each pinned source distribution, checks its sha256,
and copies only its `.py` files into `DEST/<name>-<version>/`, next to the running
interpreter's standard library in `DEST/cpython-stdlib-<major>.<minor>/`. Training on `DEST`
then reproduces the default model's data.

Parsing checks every entry strictly (exact versions, permissive licenses, safe `exclude`
paths) so a bad manifest fails before anything is downloaded. Downloading and extraction live
in `sdist.py`; this module decides what goes where and records it.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the same parser, published for older Pythons
    import tomli as tomllib

from grucomplete.model.checkpoint import file_sha256

from .sdist import (
    MAX_FILE_BYTES,
    PYPI_SIMPLE,
    FetchError,
    canonical_name,
    download_sdist,
    extract_python_files,
    safe_member_path,
    text_chars,
    write_capped,
)

PROG = "grucomplete fetch-corpus"
DEFAULT_MANIFEST = Path(__file__).resolve().with_name("default_corpus.toml")
HELDOUT_MANIFEST = Path(__file__).resolve().with_name("heldout_packages.toml")

# SPDX identifiers we may train on and ship weights from. Every identifier in a license
# expression must be here, so no choice of terms can bring copyleft code in.
PERMISSIVE_LICENSES = frozenset(
    {
        "0BSD",
        "Apache-2.0",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "CC0-1.0",
        "HPND",
        "ISC",
        "MIT",
        "MIT-0",
        "PSF-2.0",
        "Python-2.0",
        "Unlicense",
        "Zlib",
    }
)
# Relative to the standard library's root: its own regression suite, generated data, installed
# packages, and lib2to3, whose fork (blib2to3) is part of the held-out package black.
STDLIB_SKIPPED = frozenset({"test", "site-packages", "dist-packages", "pydoc_data", "lib2to3"})
MARKER = ".complete"  # written last: an entry without it is redone

_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_VERSION = re.compile(r"[0-9][A-Za-z0-9.+!_]*")
_PACKAGE_KEYS = {"name", "version", "license", "sha256", "max_chars", "exclude"}
_MANIFEST_KEYS = {"stdlib", "stdlib_max_chars", "max_chars_per_package", "package"}


class ManifestError(ValueError):
    """The manifest is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class PackageSpec:
    name: str  # the PyPI project name
    version: str  # an exact release, as its sdist's file name spells it
    license: str  # SPDX expression; every identifier must be in PERMISSIVE_LICENSES
    sha256: str | None = None  # the sdist's digest; None trusts the index's digest
    max_chars: int | None = None  # overrides the manifest's per-package cap
    exclude: tuple[str, ...] = ()  # sdist paths left out: vendored code under another name

    @property
    def entry(self) -> str:
        """The directory this package is extracted to."""
        return f"{self.name}-{self.version}"


@dataclass
class CorpusManifest:
    stdlib: bool = False  # include the running interpreter's standard library (PSF-2.0)
    packages: list[PackageSpec] = field(default_factory=list)
    max_chars_per_package: int | None = 12_000_000  # so one huge package cannot dominate
    stdlib_max_chars: int | None = None  # the stdlib's own cap; None: max_chars_per_package

    def cap(self, spec: PackageSpec | None = None) -> int | None:
        """The character budget of a package, or of the stdlib when `spec` is None."""
        own = self.stdlib_max_chars if spec is None else spec.max_chars
        return self.max_chars_per_package if own is None else own

    def entries(self) -> list[str]:
        """Directory names under DEST, in manifest order."""
        return ([stdlib_entry()] if self.stdlib else []) + [p.entry for p in self.packages]


def stdlib_entry() -> str:
    return f"cpython-stdlib-{sys.version_info.major}.{sys.version_info.minor}"


def check_license(expression: str) -> None:
    """Raise ValueError unless every identifier of the SPDX expression is permissive."""
    ids = [t for t in re.split(r"[\s()]+", expression) if t and t not in ("AND", "OR")]
    bad = [i for i in ids if i not in PERMISSIVE_LICENSES]
    if not ids or bad:
        allowed = ", ".join(sorted(PERMISSIVE_LICENSES))
        raise ValueError(f"license {expression!r} is not permissive (allowed: {allowed})")


def _positive_int(value: object, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ManifestError(f"{where}: expected a positive integer, got {value!r}")
    return value


def _package(table: object, where: str) -> PackageSpec:
    if not isinstance(table, dict):
        raise ManifestError(f"{where}: expected a [[package]] table")
    unknown = set(table) - _PACKAGE_KEYS
    if unknown:
        raise ManifestError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("name", "version", "license"):
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise ManifestError(f"{where}: missing or empty {key!r}")
    name, version = table["name"], table["version"]
    where = f"{where} ({name})"
    if not _NAME.fullmatch(name):
        raise ManifestError(f"{where}: {name!r} is not a valid project name")
    if not _VERSION.fullmatch(version):
        raise ManifestError(f"{where}: version {version!r} is not an exact release")
    try:
        check_license(table["license"])
    except ValueError as e:
        raise ManifestError(f"{where}: {e}") from None
    sha256 = table.get("sha256")
    if sha256 is not None and not (
        isinstance(sha256, str) and re.fullmatch(r"[0-9a-f]{64}", sha256)
    ):
        raise ManifestError(f"{where}: sha256 must be 64 lowercase hex digits")
    max_chars = _positive_int(table.get("max_chars"), f"{where}: max_chars")
    exclude = table.get("exclude", [])
    paths = [safe_member_path(e) if isinstance(e, str) else None for e in exclude or ()]
    if not isinstance(exclude, list) or None in paths:
        raise ManifestError(f"{where}: exclude must be a list of relative paths")
    excluded = tuple(path.as_posix() for path in paths if path is not None)
    return PackageSpec(name, version, table["license"], sha256, max_chars, excluded)


def parse_manifest(data: dict, source: str = "<manifest>") -> CorpusManifest:
    """Validate a parsed TOML document; errors name `source` and the offending entry."""
    unknown = set(data) - _MANIFEST_KEYS
    if unknown:
        raise ManifestError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}")
    stdlib = data.get("stdlib", False)
    if not isinstance(stdlib, bool):
        raise ManifestError(f"{source}: stdlib must be true or false")
    cap = _positive_int(data.get("max_chars_per_package"), f"{source}: max_chars_per_package")
    stdlib_cap = _positive_int(data.get("stdlib_max_chars"), f"{source}: stdlib_max_chars")
    tables = data.get("package", [])
    if not isinstance(tables, list):
        raise ManifestError(f"{source}: packages are [[package]] tables")
    packages = [_package(t, f"{source}: package {i + 1}") for i, t in enumerate(tables)]
    seen: set[str] = set()
    for spec in packages:
        if canonical_name(spec.name) in seen:
            raise ManifestError(f"{source}: {spec.name} is listed twice")
        seen.add(canonical_name(spec.name))
    return CorpusManifest(stdlib, packages, cap, stdlib_cap)


def load_manifest(path: Path = DEFAULT_MANIFEST) -> CorpusManifest:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ManifestError(f"{path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ManifestError(f"{path}: {e}") from None
    return parse_manifest(data, str(path))


# --- the corpus directory ---------------------------------------------------------------------


def _stdlib_files() -> dict[PurePosixPath, bytes]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files: dict[PurePosixPath, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = PurePosixPath(Path(dirpath).relative_to(root).as_posix())  # "." is empty
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d != "__pycache__"
            and not d.startswith(".")
            and (rel_dir / d).as_posix() not in STDLIB_SKIPPED
        )
        for name in filenames:
            path = Path(dirpath, name)
            if (
                name.endswith(".py")
                and not path.is_symlink()
                and path.stat().st_size <= MAX_FILE_BYTES
            ):
                files[rel_dir / name] = path.read_bytes()
    return files


def _read_marker(entry_dir: Path) -> dict | None:
    try:
        return json.loads((entry_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _build_entry(dest: Path, entry: str, marker: dict, fill: Callable[[Path], dict]) -> None:
    """Fill a staging directory, mark it complete, then move it into place in one rename."""
    staging = dest / f".{entry}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    marker = {**marker, **fill(staging)}
    (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(dest / entry, ignore_errors=True)
    staging.rename(dest / entry)


def _is_current(entry_dir: Path, wanted: dict) -> bool:
    marker = _read_marker(entry_dir)
    return marker is not None and all(marker.get(k) == v for k, v in wanted.items())


def fetch(
    manifest: CorpusManifest,
    dest: Path,
    cache: Path | None = None,
    index_url: str = PYPI_SIMPLE,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Download and extract every source of `manifest` into `dest`; returns `dest`.

    Entries already complete with the same pin and cap are left alone, so an interrupted
    fetch resumes. Sdists are kept in `cache` (default `dest/.sdists`, which the corpus walk
    skips as a hidden directory).
    """
    dest = Path(dest)
    cache = dest / ".sdists" if cache is None else Path(cache)
    dest.mkdir(parents=True, exist_ok=True)
    log = log or (lambda message: None)
    if manifest.stdlib:
        version = sys.version.split()[0]
        marker: dict[str, Any] = {
            "name": "cpython-stdlib",
            "version": version,
            "license": "PSF-2.0",
            "max_chars": manifest.cap(),
        }
        if not _is_current(dest / stdlib_entry(), marker):
            log(f"copying the Python {version} standard library")
            _build_entry(
                dest,
                stdlib_entry(),
                marker,
                lambda out: write_capped(_stdlib_files(), out, manifest.cap()),
            )
    for spec in manifest.packages:
        marker = {
            "name": spec.name,
            "version": spec.version,
            "license": spec.license,
            "max_chars": manifest.cap(spec),
            "exclude": list(spec.exclude),
        }
        if _is_current(dest / spec.entry, marker):
            continue
        log(f"fetching {spec.name} {spec.version}")
        sdist = download_sdist(spec.name, spec.version, cache, spec.sha256, index_url)
        marker |= {"sdist": sdist.name, "sha256": file_sha256(sdist)}
        extract = functools.partial(
            extract_python_files, sdist, max_chars=manifest.cap(spec), exclude=spec.exclude
        )
        _build_entry(dest, spec.entry, marker, extract)
    return dest


def data_card(dest: Path, manifest: CorpusManifest) -> dict:
    """Per-source name, version, license, files and characters of a fetched corpus.

    Counts are of the files on disk, before the corpus reader drops duplicates and empty
    files; `chars` counts UTF-8 text only.
    """
    sources = []
    for entry in manifest.entries():
        entry_dir = Path(dest) / entry
        if entry == stdlib_entry() and not entry_dir.is_dir():
            # Read where another Python fetched it (a GPU machine's): that version's stdlib.
            fetched = sorted(Path(dest).glob("cpython-stdlib-*"))
            entry_dir = fetched[0] if len(fetched) == 1 else entry_dir
        marker = _read_marker(entry_dir)
        if marker is None:
            raise FetchError(f"{entry_dir} is not fetched; run '{PROG} {dest}'")
        paths = sorted(p for p in entry_dir.rglob("*.py") if p.is_file())
        contents = [p.read_bytes() for p in paths]
        source = {k: marker[k] for k in ("name", "version", "license")}
        source |= {
            "files": len(paths),
            "chars": sum(map(text_chars, contents)),
            "bytes": sum(map(len, contents)),
        }
        source |= {k: marker[k] for k in ("sha256", "declared_license") if k in marker}
        sources.append(source)
    return {
        "sources": sources,
        "max_chars_per_package": manifest.max_chars_per_package,
        "files": sum(s["files"] for s in sources),
        "chars": sum(s["chars"] for s in sources),
        "bytes": sum(s["bytes"] for s in sources),
    }


def format_card(card: dict) -> str:
    """The data card as a table: one row per source, then the totals."""
    width = max([len("license")] + [len(s["license"]) for s in card["sources"]])
    rows = [f"{'source':<22} {'version':<12} {'license':<{width}} {'files':>7} {'MB':>7}"]
    for s in card["sources"]:
        rows.append(
            f"{s['name']:<22} {s['version']:<12} {s['license']:<{width}} "
            f"{s['files']:>7,} {s['bytes'] / 1e6:>7.1f}"
        )
    rows.append(f"{'total':<{36 + width}} {card['files']:>7,} {card['bytes'] / 1e6:>7.1f}")
    rows.append(f"{card['chars']:,} characters of Python in {len(card['sources'])} sources")
    return "\n".join(rows)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Download the pinned packages of a corpus manifest and extract their Python "
        "sources (nothing is built or run), then print a table of what was fetched.",
    )
    p.add_argument("dest", type=Path, help="corpus directory to fill (train on it afterwards)")
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--manifest",
        type=Path,
        default=DEFAULT_MANIFEST,
        help="corpus manifest (default: the bundled model's)",
    )
    group.add_argument(
        "--heldout",
        action="store_true",
        help="fetch the bundled held-out evaluation packages instead",
    )
    p.add_argument("--cache", type=Path, help="where sdists are kept (default: DEST/.sdists)")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        manifest = load_manifest(HELDOUT_MANIFEST if args.heldout else args.manifest)
        fetch(manifest, args.dest, args.cache, log=lambda m: print(m, file=sys.stderr))
        card = data_card(args.dest, manifest)
    except (ManifestError, FetchError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    print(format_card(card))
    known = set(manifest.entries())
    for stray in sorted(args.dest.iterdir()):
        if stray.is_dir() and not stray.name.startswith(".") and stray.name not in known:
            print(
                f"warning: {stray} is not in the manifest; training on {args.dest} reads it",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
