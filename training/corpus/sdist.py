"""Downloading pinned PyPI sdists and safely extracting only their `.py` files.

Fetched code is only ever read as bytes: nothing is imported, built or run. That is why this
does not use `pip download`: for an sdist pip prepares metadata, which runs the package's build
backend (`setup.py egg_info` or a PEP 517 hook, after installing its build requirements), even
with `--no-deps`. Instead the file is found through PyPI's JSON simple API (PEP 691, the index
pip itself reads), downloaded directly and checked against its sha256.

Archives are read member by member, never extracted by the archive library: only regular
files with relative paths inside the archive are written, so path traversal, symlinks and hard
links cannot reach the disk, and vendored copies of other projects are left out.
"""

from __future__ import annotations

import email.parser
import hashlib
import json
import re
import shutil
import stat
import tarfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from grucomplete.model.checkpoint import file_sha256

PYPI_SIMPLE = "https://pypi.org/simple/"
USER_AGENT = "grucomplete fetch-corpus"
SDIST_SUFFIXES = (".tar.gz", ".zip")  # preferred first
MAX_FILE_BYTES = 1_000_000  # larger .py files are generated code or data
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


class FetchError(RuntimeError):
    """A source could not be downloaded, verified or extracted."""


def canonical_name(name: str) -> str:
    """PEP 503 normalization: `Django`, `django_x` and `django.x` name the same project."""
    return re.sub(r"[-_.]+", "-", name).lower()


# --- downloading ------------------------------------------------------------------------------


def _sdist_version(filename: str, name: str) -> str | None:
    """The version in an sdist file name if it belongs to project `name`."""
    for suffix in SDIST_SUFFIXES:
        if filename.endswith(suffix):
            project, _, version = filename[: -len(suffix)].rpartition("-")
            if canonical_name(project) == canonical_name(name):
                return version
    return None


def _find_sdist(name: str, version: str, index_url: str) -> tuple[str, str, str]:
    """(file name, URL, sha256) of the pinned sdist, from the PEP 691 JSON simple API."""
    url = urllib.parse.urljoin(index_url, canonical_name(name) + "/")
    request = urllib.request.Request(
        url, headers={"Accept": "application/vnd.pypi.simple.v1+json", "User-Agent": USER_AGENT}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            listing = json.load(response)
    except (OSError, ValueError) as e:
        raise FetchError(f"{name}: cannot read the index at {url}: {e}") from None
    matches = [
        f
        for f in listing.get("files", [])
        if _sdist_version(f["filename"], name) == version and "sha256" in f["hashes"]
    ]
    best = next(
        (f for suffix in SDIST_SUFFIXES for f in matches if f["filename"].endswith(suffix)), None
    )
    if best is None:
        raise FetchError(f"{name}=={version}: no source distribution on {url}")
    return best["filename"], urllib.parse.urljoin(url, best["url"]), best["hashes"]["sha256"]


def download_sdist(
    name: str,
    version: str,
    cache: Path,
    sha256: str | None = None,
    index_url: str = PYPI_SIMPLE,
) -> Path:
    """The sdist of `name==version` in `cache`, downloaded unless a copy with the pinned
    `sha256` is there; without a pin, the index's digest is trusted."""
    cache.mkdir(parents=True, exist_ok=True)
    if sha256 is not None:  # offline when the digest is pinned and the file is cached
        for path in sorted(cache.iterdir()):
            if _sdist_version(path.name, name) == version and file_sha256(path) == sha256:
                return path
    filename, url, index_sha256 = _find_sdist(name, version, index_url)
    expected = sha256 or index_sha256
    if expected != index_sha256:
        raise FetchError(f"{filename}: the index's sha256 {index_sha256} is not the pinned one")
    path = cache / filename
    if path.is_file() and file_sha256(path) == expected:
        return path
    partial = path.with_name(path.name + ".part")
    try:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=120) as response, open(partial, "wb") as f:
            shutil.copyfileobj(response, f, 1 << 20)
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise FetchError(f"{filename}: download failed: {e}") from None
    actual = file_sha256(partial)
    if actual != expected:
        partial.unlink()
        raise FetchError(f"{filename}: sha256 is {actual}, expected {expected}")
    partial.replace(path)
    return path


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


def is_vendored(directory: str) -> bool:
    name = directory.lower()
    return name in VENDORED_DIRS or name.startswith(("vendored", "_vendor"))


def _wanted(path: PurePosixPath, exclude: tuple[str, ...] = ()) -> bool:
    """A `.py` file outside vendored, hidden, cache and `exclude`d directories."""
    dirs = path.parts[:-1]
    return (
        path.suffix == ".py"
        and not any(is_vendored(d) or d.startswith(".") or d == "__pycache__" for d in dirs)
        and not any(path.is_relative_to(e) for e in exclude)
    )


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
                member_file = tar.extractfile(member) if keep(path, member.size) else None
                if member_file is not None:
                    files[path] = member_file.read(MAX_FILE_BYTES + 1)
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
    found = []
    if meta["License-Expression"]:
        found.append(f"License-Expression: {meta['License-Expression']}")
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
    return {**write_capped(wanted, out, max_chars), "declared_license": declared}


# --- writing ----------------------------------------------------------------------------------


def text_chars(data: bytes) -> int:
    """Characters of a UTF-8 file; 0 for any other encoding."""
    try:
        return len(data.decode("utf-8-sig"))
    except UnicodeDecodeError:  # written anyway: the corpus reader counts and skips it
        return 0


def write_capped(files: dict[PurePosixPath, bytes], out: Path, max_chars: int | None) -> dict:
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
        chars += text_chars(files[path])
    return {"files": written, "chars": chars}
