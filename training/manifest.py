"""The pinned corpus behind the bundled model: a TOML manifest of PyPI sdists, fetched safely.

`grucomplete fetch-corpus DEST` downloads each pinned source distribution, checks its sha256,
and copies only its `.py` files into `DEST/<name>-<version>/`, next to the running
interpreter's standard library in `DEST/cpython-stdlib-<major>.<minor>/`. Training on `DEST`
then reproduces the default model's data.

Fetched code is only ever read as bytes: nothing is imported, built or run. That is why this
does not use `pip download`: for an sdist pip prepares metadata, which runs the package's build
backend (`setup.py egg_info` or a PEP 517 hook, after installing its build requirements), even
with `--no-deps`. Instead the file is found through PyPI's JSON simple API (PEP 691, the index
pip itself reads) and downloaded directly.
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import sysconfig
import tarfile
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the same parser, published for older Pythons
    import tomli as tomllib

PROG = "grucomplete fetch-corpus"
DEFAULT_MANIFEST = Path(__file__).resolve().with_name("default_corpus.toml")
HELDOUT_MANIFEST = Path(__file__).resolve().with_name("heldout_packages.toml")
PYPI_SIMPLE = "https://pypi.org/simple/"

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
# Directories holding copies of other projects (and any whose name starts "vendored" or
# "_vendor", such as numpy's vendored-meson). Skipping them keeps one package's code from
# entering the corpus under another's name (pip vendors rich, setuptools vendors packaging),
# which would leak held-out packages into training and ignore the manifest's licenses.
# Copies under other names (typer/_click) are left out by a package's `exclude` list.
VENDORED_DIRS = frozenset(
    {
        "_vendor",
        "vendor",
        "vendored",
        "_vendored",
        "third_party",
        "third-party",
        "thirdparty",
        "extern",
        "externals",
        "subprojects",
    }
)
# Relative to the standard library's root: its own regression suite, generated data, installed
# packages, and lib2to3, whose fork (blib2to3) is part of the held-out package black.
STDLIB_SKIPPED = frozenset({"test", "site-packages", "dist-packages", "pydoc_data", "lib2to3"})
MAX_FILE_BYTES = 1_000_000  # larger .py files are generated code or data
MARKER = ".complete"  # written last: an entry without it is redone
SDIST_SUFFIXES = (".tar.gz", ".zip")  # preferred first

_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_VERSION = re.compile(r"[0-9][A-Za-z0-9.+!_]*")
_PACKAGE_KEYS = {"name", "version", "license", "sha256", "max_chars", "exclude"}
_MANIFEST_KEYS = {"stdlib", "stdlib_max_chars", "max_chars_per_package", "package"}


class ManifestError(ValueError):
    """The manifest is malformed; the message names the file and the entry."""


class FetchError(RuntimeError):
    """A source could not be downloaded, verified or extracted."""


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


def canonical_name(name: str) -> str:
    """PEP 503 normalization: `Django`, `django_x` and `django.x` name the same project."""
    return re.sub(r"[-_.]+", "-", name).lower()


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
    if not isinstance(exclude, list) or not all(
        isinstance(e, str) and safe_member_path(e) for e in exclude
    ):
        raise ManifestError(f"{where}: exclude must be a list of relative paths")
    excluded = tuple(safe_member_path(e).as_posix() for e in exclude)
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


# --- archives ---------------------------------------------------------------------------------


def safe_member_path(name: str) -> PurePosixPath | None:
    """An archive member's relative path, or None if it could land outside the target."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"[A-Za-z]:", name) or "\0" in name:
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return PurePosixPath(*parts)


def _wanted(path: PurePosixPath, exclude: tuple[str, ...] = ()) -> bool:
    """A `.py` file outside vendored, hidden, cache and `exclude`d directories."""
    dirs = path.parts[:-1]
    return (
        path.suffix == ".py"
        and not any(is_vendored(d) or d.startswith(".") or d == "__pycache__" for d in dirs)
        and not any(path.is_relative_to(e) for e in exclude)
    )


def is_vendored(directory: str) -> bool:
    name = directory.lower()
    return name in VENDORED_DIRS or name.startswith(("vendored", "_vendor"))


def _archive_files(archive: Path) -> tuple[list[PurePosixPath], dict[PurePosixPath, bytes]]:
    """The safe paths of an archive's regular files, and the contents of its `.py` files and
    PKG-INFO (the rest of an sdist, often C sources and data, is never read).

    Nothing is extracted by the archive library: only regular members are read, so symlinks,
    hard links and devices never reach the disk, and `safe_member_path` rejects traversal.
    """
    names: list[PurePosixPath] = []
    files: dict[PurePosixPath, bytes] = {}

    def keep(path: PurePosixPath, size: int) -> bool:
        names.append(path)
        wanted = path.suffix == ".py" or (path.name == "PKG-INFO" and len(path.parts) <= 2)
        return wanted and size <= MAX_FILE_BYTES

    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    # The Unix file type, when the zip records one (often it does not).
                    kind = stat.S_IFMT(info.external_attr >> 16)
                    path = safe_member_path(info.filename)
                    if path is None or info.is_dir() or kind not in (0, stat.S_IFREG):
                        continue
                    if keep(path, info.file_size):
                        with zf.open(info) as f:
                            files[path] = f.read(MAX_FILE_BYTES + 1)  # in case the size lies
            return names, files
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                path = safe_member_path(member.name)
                if path is None or not member.isreg():
                    continue
                f = tar.extractfile(member) if keep(path, member.size) else None
                if f is not None:
                    files[path] = f.read(MAX_FILE_BYTES + 1)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise FetchError(f"{archive.name}: not a readable tar or zip archive ({e})") from None
    return names, files


def _strip_top_directory(
    names: list[PurePosixPath], files: dict[PurePosixPath, bytes]
) -> dict[PurePosixPath, bytes]:
    """Drop the `name-version/` directory every sdist wraps its contents in."""
    if len({p.parts[0] for p in names}) == 1 and all(len(p.parts) > 1 for p in names):
        return {PurePosixPath(*p.parts[1:]): data for p, data in files.items()}
    return files


def _declared_license(files: dict[PurePosixPath, bytes]) -> str:
    """What the sdist's PKG-INFO says about its license, for checking the manifest by eye."""
    data = files.get(PurePosixPath("PKG-INFO"))
    if data is None:
        return "no PKG-INFO"
    meta = email.parser.BytesParser().parsebytes(data, headersonly=True)
    found = (
        [f"License-Expression: {meta['License-Expression']}"] if meta["License-Expression"] else []
    )
    if meta["License"] and meta["License"].strip() not in ("", "UNKNOWN"):
        found.append("License: " + meta["License"].strip().splitlines()[0][:60])
    found += [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return "; ".join(found) or "not declared"


def extract_python_files(
    archive: Path, out: Path, max_chars: int | None = None, exclude: tuple[str, ...] = ()
) -> dict:
    """Write the archive's wanted `.py` files under `out`; returns files, chars and license.

    Paths are relative to the sdist's top directory, as are those in `exclude`.
    """
    files = _strip_top_directory(*_archive_files(archive))
    declared = _declared_license(files)
    wanted = {
        p: data for p, data in files.items() if _wanted(p, exclude) and len(data) <= MAX_FILE_BYTES
    }
    return {**_write_capped(wanted, out, max_chars), "declared_license": declared}


def _chars(data: bytes) -> int:
    try:
        return len(data.decode("utf-8-sig"))
    except UnicodeDecodeError:  # written anyway: the corpus reader counts and skips it
        return 0


def _write_capped(files: dict[PurePosixPath, bytes], out: Path, max_chars: int | None) -> dict:
    """Write files in path-hash order until `max_chars`: a capped package is a sample spread
    over its whole tree, not its alphabetically first directories."""
    out.mkdir(parents=True, exist_ok=True)
    root = out.resolve()
    order = sorted(files, key=lambda p: hashlib.sha1(p.as_posix().encode()).digest())
    written = chars = 0
    for path in order:
        if max_chars is not None and chars >= max_chars:
            break
        target = root.joinpath(*path.parts)
        if not target.resolve().is_relative_to(root):  # unreachable after safe_member_path
            raise FetchError(f"refusing to write outside {out}: {path}")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[path])
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            continue  # a file and a directory of the same name; keep the first
        written += 1
        chars += _chars(files[path])
    return {"files": written, "chars": chars}


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


# --- downloading ------------------------------------------------------------------------------


def _sdist_version(filename: str, name: str) -> str | None:
    """The version in an sdist file name if it belongs to project `name`."""
    for suffix in SDIST_SUFFIXES:
        if filename.endswith(suffix):
            project, _, version = filename[: -len(suffix)].rpartition("-")
            if canonical_name(project) == canonical_name(name):
                return version
    return None


def _find_sdist(spec: PackageSpec, index_url: str) -> tuple[str, str, str]:
    """(file name, URL, sha256) of the pinned sdist, from the PEP 691 JSON simple API."""
    url = urllib.parse.urljoin(index_url, canonical_name(spec.name) + "/")
    request = urllib.request.Request(
        url, headers={"Accept": "application/vnd.pypi.simple.v1+json", "User-Agent": PROG}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            listing = json.load(response)
    except (OSError, ValueError) as e:
        raise FetchError(f"{spec.name}: cannot read the index at {url}: {e}") from None
    matches = [
        f
        for f in listing.get("files", [])
        if _sdist_version(f["filename"], spec.name) == spec.version and "sha256" in f["hashes"]
    ]
    if not matches:
        raise FetchError(f"{spec.name}=={spec.version}: no source distribution on {url}")
    best = min(
        matches, key=lambda f: [f["filename"].endswith(s) for s in SDIST_SUFFIXES].index(True)
    )
    return best["filename"], urllib.parse.urljoin(url, best["url"]), best["hashes"]["sha256"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_sdist(spec: PackageSpec, cache: Path, index_url: str = PYPI_SIMPLE) -> Path:
    """The pinned sdist in `cache`, downloaded unless a copy with the pinned digest is there."""
    cache.mkdir(parents=True, exist_ok=True)
    if spec.sha256 is not None:  # offline when the digest is pinned and the file is cached
        for path in sorted(cache.iterdir()):
            if (
                _sdist_version(path.name, spec.name) == spec.version
                and _sha256(path) == spec.sha256
            ):
                return path
    filename, url, index_sha256 = _find_sdist(spec, index_url)
    expected = spec.sha256 or index_sha256
    if expected != index_sha256:
        raise FetchError(f"{filename}: the index's sha256 {index_sha256} is not the pinned one")
    path = cache / filename
    if path.is_file() and _sha256(path) == expected:
        return path
    partial = path.with_name(path.name + ".part")
    try:
        request = urllib.request.Request(url, headers={"User-Agent": PROG})
        with urllib.request.urlopen(request, timeout=120) as response, open(partial, "wb") as f:
            shutil.copyfileobj(response, f, 1 << 20)
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise FetchError(f"{filename}: download failed: {e}") from None
    actual = _sha256(partial)
    if actual != expected:
        partial.unlink()
        raise FetchError(f"{filename}: sha256 is {actual}, expected {expected}")
    partial.replace(path)
    return path


# --- the corpus directory ---------------------------------------------------------------------


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
        marker = {
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
                lambda out: _write_capped(_stdlib_files(), out, manifest.cap()),
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
        sdist = download_sdist(spec, cache, index_url)
        marker |= {"sdist": sdist.name, "sha256": _sha256(sdist)}
        _build_entry(
            dest,
            spec.entry,
            marker,
            lambda out, sdist=sdist, spec=spec: extract_python_files(
                sdist, out, manifest.cap(spec), spec.exclude
            ),
        )
    return dest


def _is_current(entry_dir: Path, wanted: dict) -> bool:
    marker = _read_marker(entry_dir)
    return marker is not None and all(marker.get(k) == v for k, v in wanted.items())


def data_card(dest: Path, manifest: CorpusManifest) -> dict:
    """Per-source name, version, license, files and characters of a fetched corpus.

    Counts are of the files on disk, before the corpus reader drops duplicates and empty
    files; `chars` counts UTF-8 text only.
    """
    sources = []
    for entry in manifest.entries():
        entry_dir = Path(dest) / entry
        marker = _read_marker(entry_dir)
        if marker is None:
            raise FetchError(f"{entry_dir} is not fetched; run '{PROG} {dest}'")
        paths = sorted(p for p in entry_dir.rglob("*.py") if p.is_file())
        contents = [p.read_bytes() for p in paths]
        source = {k: marker[k] for k in ("name", "version", "license")}
        source |= {
            "files": len(paths),
            "chars": sum(map(_chars, contents)),
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
