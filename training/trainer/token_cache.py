"""The token cache: a run directory's tokenized corpus, so reruns and `--resume` skip tokenizing.

`prepare_tokens` walks the sources, and then either reads OUT/data/ or (re)builds it: trains a
tokenizer unless given one, encodes both splits, and writes

    tokens-train.npy, tokens-val.npy   int32 streams, read back with allow_pickle=False
    tokenizer.json                     the tokenizer that produced them
    manifest.json                      every file's path, split and content hash, the tokenizer
                                       fingerprint, the corpus settings and the data card

The manifest is deleted before a rebuild and written last, so it exists only beside complete
arrays: an interrupted write leaves no manifest and the next run rebuilds. A cache is reused
only while its manifest matches the sources on disk, the settings and the tokenizer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grucomplete.model.tokenizer import CodeTokenizer, train_tokenizer

from ..corpus.corpus import Corpus, load_corpus
from .config import TrainConfig, TrainingError
from .data import encode_documents
from .resume import remove_interrupted_writes

log = logging.getLogger("grucomplete.training")

CACHE_DIR = "data"
MANIFEST_FILE = "manifest.json"
TOKENIZER_FILE = "tokenizer.json"
SPLITS = ("train", "val")
FORMAT_VERSION = 1


@dataclass
class TokenData:
    train: torch.Tensor  # int32 stream of the training split
    val: torch.Tensor  # int32 stream of the validation split
    tokenizer: CodeTokenizer  # what encoded them
    card: dict[str, Any]  # the data card checkpoints carry in their metadata


def _stream_file(split: str) -> str:
    return f"tokens-{split}.npy"


def _content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def corpus_key(corpus: Corpus, config: TrainConfig) -> dict[str, Any]:
    """What the cached streams depend on besides the tokenizer: the files and the settings."""
    settings = {
        "val_fraction": config.val_fraction,
        "max_files": config.max_files,
        "max_file_bytes": config.max_file_bytes,
    }
    files = {
        d.path: {"split": split, "sha256": _content_hash(d.text)}
        for split in SPLITS
        for d in getattr(corpus, split)
    }
    return {"format_version": FORMAT_VERSION, "settings": settings, "files": files}


def _atomic(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_cache(directory: Path) -> tuple[dict[str, Any], TokenData] | None:
    """The manifest and data of a complete cache in `directory`, or None (absent, interrupted
    or damaged: anything short of a complete cache is treated as no cache)."""
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
        tokenizer = CodeTokenizer.load(directory / TOKENIZER_FILE)
        streams = {
            split: torch.from_numpy(np.load(directory / _stream_file(split), allow_pickle=False))
            for split in SPLITS
        }
        complete = tokenizer.fingerprint == manifest["tokenizer_fingerprint"] and all(
            streams[s].dtype == torch.int32 and streams[s].numel() == manifest["tokens"][s]
            for s in SPLITS
        )
        card = manifest["card"]
    except Exception:  # json, numpy and the tokenizers library each raise their own kinds
        return None
    if not complete:
        return None
    return manifest, TokenData(streams["train"], streams["val"], tokenizer, card)


def write_cache(
    directory: Path, data: TokenData, key: dict[str, Any], requested_vocab_size: int | None
) -> None:
    """Write the cache, manifest last; the old manifest goes first so no reader trusts a mix."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST_FILE).unlink(missing_ok=True)
    for split in SPLITS:
        array = getattr(data, split).numpy()
        # np.save appends ".npy" to a name without it: write through an open file instead.
        _atomic(directory / _stream_file(split), lambda p, a=array: _save_array(p, a))
    _atomic(directory / TOKENIZER_FILE, data.tokenizer.save)
    manifest = {
        **key,
        "tokenizer_fingerprint": data.tokenizer.fingerprint,
        # The size asked of a tokenizer trained here (None: the caller supplied it); a small
        # corpus can give fewer tokens than asked, so the actual size cannot stand in for it.
        "requested_vocab_size": requested_vocab_size,
        "tokens": {split: getattr(data, split).numel() for split in SPLITS},
        "card": data.card,
    }
    _atomic(directory / MANIFEST_FILE, lambda p: p.write_text(json.dumps(manifest, indent=1)))


def _save_array(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as f:
        np.save(f, array, allow_pickle=False)


def _load_sources(source: Path, config: TrainConfig) -> Corpus:
    log.info("reading Python sources under %s", source)
    corpus = load_corpus(
        source, config.val_fraction, config.max_file_bytes, config.max_files, config.exclude
    )
    stats = corpus.stats
    if stats.files == 0:
        raise TrainingError(f"{source}: no Python source files to train on")
    if not corpus.val:
        raise TrainingError(
            f"{source}: only one usable Python file; training needs at least two "
            "(one is held out for validation)"
        )
    log.info(
        f"{stats.files} files ({len(corpus.train)} train, {len(corpus.val)} val), "
        f"{stats.chars / 1e6:.1f}M characters; skipped {stats.duplicates} duplicate, "
        f"{stats.skipped_large} large, {stats.skipped_binary} binary, "
        f"{stats.skipped_undecodable} undecodable"
    )
    return corpus


def _data_card(source: Path, corpus: Corpus, train: torch.Tensor, val: torch.Tensor) -> dict:
    stats = corpus.stats
    return {
        "source": source.resolve().name,
        "files": {"train": len(corpus.train), "val": len(corpus.val)},
        "chars": {split: sum(len(d.text) for d in getattr(corpus, split)) for split in SPLITS},
        "tokens": {"train": train.numel(), "val": val.numel()},
        "duplicates_removed": stats.duplicates,
        "skipped": {
            "undecodable": stats.skipped_undecodable,
            "large": stats.skipped_large,
            "binary": stats.skipped_binary,
            "empty": stats.skipped_empty,
        },
    }


def prepare_tokens(
    source: Path, cache_dir: Path, config: TrainConfig, tokenizer: CodeTokenizer | None = None
) -> TokenData:
    """The token streams of the sources under `source`, from `cache_dir` when it is current.

    Without `tokenizer`, a cached one is reused, or a new one is trained on the training split.
    """
    source = Path(source)
    if not source.is_dir():
        raise TrainingError(f"{source}: not a directory")
    corpus = _load_sources(source, config)
    key = corpus_key(corpus, config)
    if removed := remove_interrupted_writes(cache_dir):
        log.info("%s: removed what an interrupted write left: %s", cache_dir, removed)
    requested = None if tokenizer is not None else config.vocab_size
    cached = read_cache(cache_dir)
    if cached is not None:
        manifest, data = cached
        if tokenizer is not None:
            same_tokenizer = tokenizer.fingerprint == data.tokenizer.fingerprint
        else:
            same_tokenizer = manifest.get("requested_vocab_size") == requested
        if same_tokenizer and all(manifest.get(k) == v for k, v in key.items()):
            log.info("reusing the token cache in %s", cache_dir)
            return data
        log.info("sources, settings or tokenizer changed since %s was written", cache_dir)
    if tokenizer is None:
        log.info("training a %d-token BPE tokenizer on the training split", config.vocab_size)
        tokenizer = train_tokenizer((d.text for d in corpus.train), config.vocab_size)
    log.info("tokenizing %d files", corpus.stats.files)
    train = encode_documents(tokenizer, (d.text for d in corpus.train))
    val = encode_documents(tokenizer, (d.text for d in corpus.val))
    data = TokenData(train, val, tokenizer, _data_card(source, corpus, train, val))
    write_cache(cache_dir, data, key, requested)
    return data
