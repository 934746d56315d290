"""The corpus manifests parse strictly, stay disjoint, and fetching extracts only safe .py files.

No test touches the network: sdists are built in tmp_path and placed in the cache with their
pinned digest, and the index URL points at a closed port so any download attempt fails.
"""

from __future__ import annotations

import hashlib
import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from grucomplete.training.corpus.manifest import (
    DEFAULT_MANIFEST,
    HELDOUT_MANIFEST,
    MARKER,
    CorpusManifest,
    FetchError,
    ManifestError,
    PackageSpec,
    canonical_name,
    data_card,
    extract_python_files,
    fetch,
    load_manifest,
    main,
    parse_manifest,
    stdlib_entry,
)

NO_INDEX = "http://127.0.0.1:9/simple/"  # nothing listens on the discard port
CODE = b"def add(a, b):\n    return a + b\n"
GOOD = {"name": "demo", "version": "1.0", "license": "MIT"}


def manifest_with(**package: object) -> dict:
    return {"package": [{**GOOD, **package}]}


# --- parsing ----------------------------------------------------------------------------------


def test_a_valid_manifest_parses_into_specs() -> None:
    data = {
        "stdlib": True,
        "max_chars_per_package": 1000,
        "package": [{**GOOD, "license": "Apache-2.0 OR BSD-3-Clause", "max_chars": 10}],
    }
    manifest = parse_manifest(data)
    assert manifest.stdlib
    assert manifest.packages == [PackageSpec("demo", "1.0", "Apache-2.0 OR BSD-3-Clause", None, 10)]
    assert manifest.cap(manifest.packages[0]) == 10
    assert manifest.cap() == 1000  # the stdlib falls back to the per-package cap
    assert manifest.entries() == [stdlib_entry(), "demo-1.0"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"license": "GPL-3.0-only"}, "not permissive"),
        ({"license": "MIT AND LGPL-2.1-or-later"}, "not permissive"),  # one copyleft part
        ({"license": "MIT OR MPL-2.0"}, "not permissive"),
        ({"version": ""}, "missing or empty 'version'"),
        ({"version": ">=1.0"}, "not an exact release"),
        ({"name": "../escape"}, "not a valid project name"),
        ({"licence": "MIT"}, "unknown key(s) licence"),
        ({"sha256": "abc"}, "sha256 must be 64"),
        ({"max_chars": 0}, "positive integer"),
        ({"exclude": ["../outside"]}, "exclude must be"),
    ],
)
def test_a_bad_package_entry_is_a_clear_error(change: dict, message: str) -> None:
    with pytest.raises(ManifestError, match="package 1") as info:
        parse_manifest(manifest_with(**change), "corpus.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("corpus.toml: ")


def test_a_missing_version_is_named() -> None:
    table = {k: v for k, v in GOOD.items() if k != "version"}
    with pytest.raises(ManifestError, match=r"package 1: missing or empty 'version'"):
        parse_manifest({"package": [table]})


def test_a_package_listed_twice_under_two_spellings_is_an_error() -> None:
    data = {"package": [GOOD, {**GOOD, "name": "Demo", "version": "2.0"}]}
    with pytest.raises(ManifestError, match="listed twice"):
        parse_manifest(data)


def test_an_unreadable_manifest_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "corpus.toml"
    bad.write_text('[[package]]\nname = "demo\n', encoding="utf-8")
    with pytest.raises(ManifestError, match="corpus.toml"):
        load_manifest(bad)
    with pytest.raises(ManifestError, match="missing.toml"):
        load_manifest(tmp_path / "missing.toml")


# --- the bundled manifests --------------------------------------------------------------------


def test_the_bundled_manifests_are_pinned_and_permissive() -> None:
    training, heldout = load_manifest(DEFAULT_MANIFEST), load_manifest(HELDOUT_MANIFEST)
    assert training.stdlib and not heldout.stdlib
    assert len(training.packages) >= 50 and len(heldout.packages) >= 5
    for spec in training.packages + heldout.packages:
        assert spec.sha256 is not None, f"{spec.name} is not pinned to a digest"


def test_no_heldout_package_is_in_the_training_manifest() -> None:
    training = {canonical_name(p.name) for p in load_manifest(DEFAULT_MANIFEST).packages}
    heldout = {canonical_name(p.name) for p in load_manifest(HELDOUT_MANIFEST).packages}
    assert not training & heldout, f"held-out packages in training: {training & heldout}"


# --- safe extraction --------------------------------------------------------------------------

SAFE = {"demo/__init__.py": CODE, "demo/core.py": CODE + b"# core\n"}
UNSAFE_FILES = {
    "../evil.py": CODE,  # escapes the target
    "/tmp/absolute_evil.py": CODE,
    "demo-1.0/demo/_vendor/six.py": CODE,  # another project's code
    "demo-1.0/third_party/lib.py": CODE,
    "demo-1.0/.hidden/x.py": CODE,
    "demo-1.0/README.md": b"# not Python\n",
    "demo-1.0/demo/huge.py": b"x = 1\n" * 200_000,  # over 1 MB: generated or data
}


def build_tar(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("demo-1.0/PKG-INFO", b"Metadata-Version: 2.4\nName: demo\nLicense-Expression: MIT\n")
        for name, data in SAFE.items():
            add(f"demo-1.0/{name}", data)
        for name, data in UNSAFE_FILES.items():
            add(name, data)
        link = tarfile.TarInfo("demo-1.0/demo/link.py")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
        hard = tarfile.TarInfo("demo-1.0/demo/hard.py")
        hard.type, hard.linkname = tarfile.LNKTYPE, "/etc/passwd"
        tar.addfile(hard)
    return path


def build_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("demo-1.0/PKG-INFO", "Metadata-Version: 2.1\nName: demo\nLicense: MIT\n")
        for name, data in SAFE.items():
            zf.writestr(f"demo-1.0/{name}", data)
        for name, data in UNSAFE_FILES.items():
            zf.writestr(zipfile.ZipInfo(name), data)
        zf.writestr("..\\windows_evil.py", CODE)
        link = zipfile.ZipInfo("demo-1.0/demo/link.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    return path


def written(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("build", [build_tar, build_zip], ids=["tar.gz", "zip"])
def test_only_safe_python_files_are_extracted(tmp_path: Path, build) -> None:
    (tmp_path / "archives").mkdir()
    archive = build(tmp_path / "archives" / "demo-1.0.sdist")
    out = tmp_path / "deep" / "out"
    result = extract_python_files(archive, out)
    assert written(out) == set(SAFE)
    assert (out / "demo" / "core.py").read_bytes() == SAFE["demo/core.py"]
    assert result["files"] == 2 and "MIT" in result["declared_license"]
    # Nothing landed beside the target either.
    assert written(tmp_path) == {"archives/demo-1.0.sdist"} | {f"deep/out/{n}" for n in SAFE}


def test_exclude_and_the_character_cap_limit_what_is_written(tmp_path: Path) -> None:
    archive = tmp_path / "demo.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for i in range(20):
            data = f"VALUE_{i} = {i}\n".encode() * 10
            info = tarfile.TarInfo(f"demo-1.0/demo/m{i:02}.py")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    first = extract_python_files(archive, tmp_path / "a", max_chars=500, exclude=("demo/m00.py",))
    extract_python_files(archive, tmp_path / "b", max_chars=500, exclude=("demo/m00.py",))
    assert 500 <= first["chars"] < 700 and first["files"] < 20
    assert written(tmp_path / "a") == written(tmp_path / "b")  # the sample is deterministic
    assert "demo/m00.py" not in written(tmp_path / "a")


# --- fetching into a corpus directory ---------------------------------------------------------


def cached_sdist(cache: Path) -> PackageSpec:
    cache.mkdir(parents=True)
    sdist = build_tar(cache / "demo-1.0.tar.gz")
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    return PackageSpec("demo", "1.0", "MIT", sha256=digest)


def test_fetch_extracts_marks_and_skips_what_is_done(tmp_path: Path) -> None:
    spec = cached_sdist(tmp_path / "cache")
    manifest = CorpusManifest(packages=[spec])
    dest, logged = tmp_path / "corpus", []
    fetch(manifest, dest, tmp_path / "cache", NO_INDEX, log=logged.append)
    assert written(dest / "demo-1.0") == set(SAFE) | {MARKER}
    card = data_card(dest, manifest)
    assert card["sources"][0] | {"sha256": None} == {
        "name": "demo",
        "version": "1.0",
        "license": "MIT",
        "files": 2,
        "chars": sum(len(d) for d in SAFE.values()),
        "bytes": sum(len(d) for d in SAFE.values()),
        "sha256": None,
        "declared_license": "License-Expression: MIT",
    }
    assert card["chars"] == card["sources"][0]["chars"]

    logged.clear()
    fetch(manifest, dest, tmp_path / "cache", NO_INDEX, log=logged.append)
    assert logged == []  # already complete: nothing redone

    (dest / "demo-1.0" / MARKER).unlink()  # as if the fetch had been interrupted
    fetch(manifest, dest, tmp_path / "cache", NO_INDEX, log=logged.append)
    assert logged == ["fetching demo 1.0"] and (dest / "demo-1.0" / MARKER).is_file()


def test_a_cached_sdist_with_the_wrong_digest_is_never_used(tmp_path: Path) -> None:
    spec = cached_sdist(tmp_path / "cache")
    tampered = PackageSpec("demo", "1.0", "MIT", sha256="0" * 64)
    with pytest.raises(FetchError, match="cannot read the index"):
        fetch(
            CorpusManifest(packages=[tampered]), tmp_path / "corpus", tmp_path / "cache", NO_INDEX
        )
    assert not (tmp_path / "corpus" / spec.entry).exists()


def test_the_stdlib_entry_leaves_out_tests_and_installed_packages(tmp_path: Path) -> None:
    manifest = CorpusManifest(stdlib=True, stdlib_max_chars=200_000)
    fetch(manifest, tmp_path)
    files = written(tmp_path / stdlib_entry()) - {MARKER}
    assert files and all(f.endswith(".py") for f in files)
    assert not any(f.startswith(("test/", "site-packages/", "lib2to3/")) for f in files)
    source = data_card(tmp_path, manifest)["sources"][0]
    assert source["license"] == "PSF-2.0" and 200_000 <= source["chars"] < 1_300_000


def test_the_card_reads_a_stdlib_another_python_fetched(tmp_path: Path) -> None:
    # The corpus is fetched on one machine and trained on another (a GPU's, its own Python).
    manifest = CorpusManifest(stdlib=True, stdlib_max_chars=50_000)
    fetch(manifest, tmp_path)
    (tmp_path / stdlib_entry()).rename(tmp_path / "cpython-stdlib-3.99")
    source = data_card(tmp_path, manifest)["sources"][0]
    assert source["license"] == "PSF-2.0" and source["chars"] >= 50_000
    (tmp_path / "cpython-stdlib-3.98").mkdir()  # two candidates: which is meant is unknown
    with pytest.raises(FetchError, match="not fetched"):
        data_card(tmp_path, manifest)


def test_the_command_reports_a_bad_manifest_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "corpus.toml"
    bad.write_text('[[package]]\nname = "demo"\nversion = "1.0"\nlicense = "GPL-2.0-only"\n')
    assert main([str(tmp_path / "corpus"), "--manifest", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("grucomplete fetch-corpus: error: ") and err.count("\n") == 1
    assert "not permissive" in err
