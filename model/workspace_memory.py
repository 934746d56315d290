"""A workspace memory: a kNN-LM (Khandelwal et al., 2020) over the files of the project.

The neural cache (`neural_cache`) remembers the open document's window; this remembers every
other Python file of the workspace. Its entries are the same pairs: the model's top-layer
output after a position (the key) and the token that followed it (the value). At every decoding
step the next-token distribution becomes

    p(w) = (1 - l) * p(w | window cache) + l * sum_j [v_j = w] softmax_j(-THETA * d_j)

over the retrieved entries j, d_j the squared distance of their key to the step's output, with a
bonus for entries from the same package (Xu et al., 2022: code is most like code near it). The
share l is not fixed (Khandelwal's lambda) but gated on how near the nearest entry is:
l = weight * sigmoid((GATE_AT - min_j d_j) / GATE_WIDTH), so a context the project has seen
almost verbatim trusts the memory up to `weight`, and one it has not falls back to the model.
On held-out files of toolz and cattrs (first 400 tokens of 6 files each, memory of the other
files), next-token loss with the neural cache 2.858 / 2.549 nats: fixed l 0.2 (theta 1) 2.586 /
1.937, gated (weight 0.7) 2.534 / 1.843; the gate tuned on either project is best on the other.

Compressed so a 100,000-line project (about a million entries) fits in 100 MB: keys are
projected on their principal components (`DIMS`) and stored as int8 with one scale per
dimension, about 86 bytes an entry with the index. Searching a million keys at every beam step
would cost more than the step, so a request searches for the prompt's nearest entries (an
inverted file over k-means lists, or exactly when small) and again at its first FRESH_STEPS
step (where words are decided; a retrieval one step stale costs 0.06-0.08 nats), and decoding
then scores those and the entries that followed them in their files (RetoMaton, Alon et al.,
2022): what came after a similar context is where a continuation looks next.

The memory is a set of per-file shards (path + content hash), so an edited, created or deleted
file replaces only its own. Open documents are masked out: their text comes from the editor
(the window's cache), never from the copy on disk, which may hold what is about to be typed.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass

import torch

from .memory_keys import DIMS, LISTS, Projection
from .neural_cache import log_probabilities, mix_attention

PROBES = 8  # lists searched per request: about 3% of the entries
# Rows one search reads at most, the nearest lists first: its time grows with them, and
# k-means lists are uneven (cattrs' 8 nearest held 10% of its entries, not 3%).
MAX_ROWS = 4096
EXACT_BELOW = MAX_ROWS  # up to this many entries, search them all
NEIGHBOURS = 32  # nearest entries kept per request
SUCCESSORS = 12  # entries after each neighbour in its file that decoding may reach
# Sharpness of the kernel on squared distances between projected outputs (norms ~6): of 0.1,
# 0.3 and 1, 1 gives the lowest held-out loss on both toolz and cattrs.
THETA = 1.0
# The memory's share: weight * sigmoid((GATE_AT - nearest squared distance) / GATE_WIDTH).
# Nearest distances on held-out files: median 4.4 (toolz), 2.6 (cattrs).
GATE_AT = 3.0
GATE_WIDTH = 2.0
FRESH_STEPS = 1  # decoding steps after the prompt that search the memory again
FRESH_PROBES = 2  # lists each hypothesis searches then (a beam has up to 10)
FRESH_NEIGHBOURS = 8  # nearest entries kept per hypothesis then
# Lists searched then in all: those nearest to any hypothesis (hypotheses of one prompt are
# near each other, and a search's cost grows with the rows it reads).
FRESH_LISTS = 8
SAME_PACKAGE = math.log(2.0)  # score bonus of an entry from the cursor's own folder
MAX_KEYS = 1_000_000  # entries kept per workspace: ~86 MB in memory, ~70 MB on disk
BYTES_PER_KEY = DIMS + 4 + 4 + 4 + 4 + 4 + 2  # codes, norm, value, file, order, position, list


@dataclass
class Shard:
    """The entries of one file: where it is, what its content was, and its keys and values."""

    path: str  # resolved absolute path
    digest: str  # sha256 of the file's bytes the entries were computed from
    codes: torch.Tensor  # (N, D) int8
    values: torch.Tensor  # (N,) int32: the token after each position
    lists: torch.Tensor  # (N,) int16: the inverted-file list of each key

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class _Index:
    """All shards side by side. Values are in file order (an entry's successor is the next
    row); the keys are in list order, so that a search reads each list as one slice."""

    paths: list[str]
    starts: list[int]  # first row of each file
    values: torch.Tensor  # (N,) int32
    file_of: torch.Tensor  # (N,) int32
    lists: torch.Tensor  # (N,) int16: the list of each row
    order: torch.Tensor  # (N,) int32: the row of each key, keys sorted by list
    position: torch.Tensor  # (N,) int32: the key of each row (the inverse of `order`)
    offsets: torch.Tensor  # (C + 1,) where each list's keys start
    codes: torch.Tensor  # (N, D) int8 keys, in list order
    norms: torch.Tensor  # (N,) float32 squared norm of each key, in list order
    folders: dict[str, int]  # each file's folder (its package) -> a number
    folder_of: torch.Tensor  # (files,) the number of each file's folder

    def row_codes(self, rows: torch.Tensor) -> torch.Tensor:
        """int8 codes (R, D) of file rows."""
        return self.codes[self.position[rows].long()]


class Retrieval:
    """The entries one request found, mixed into each decoding step (a `neural_cache.Mixer`).

    Its first FRESH_STEPS steps search the memory again with the step's outputs and add what
    they find: the continuation's own neighbours, not only the prompt's and their successors.
    """

    def __init__(
        self,
        index: _Index,
        allowed: torch.Tensor,
        projection: Projection,
        rows: torch.Tensor,
        folder: int,
        weight: float,
        query: torch.Tensor,
    ) -> None:
        self.index, self.allowed = index, allowed
        self.projection, self.folder = projection, folder
        self.weight = weight
        self.query = query  # (1, H)
        self.fresh = FRESH_STEPS
        self._calls = 0
        self._use(rows)

    def _use(self, rows: torch.Tensor) -> None:
        index, projection = self.index, self.projection
        self.rows = rows
        self.keys = index.row_codes(rows).float() * projection.scale  # (M, D) projected units
        self.key_norms = (self.keys * self.keys).sum(1)  # (M,)
        files = index.file_of[rows].long()
        self.bias = (index.folder_of[files] == self.folder).float() * SAME_PACKAGE  # (M,)
        self.tokens, self.slot = torch.unique(index.values[rows].long(), return_inverse=True)

    @torch.inference_mode()
    def mix(
        self,
        logits: torch.Tensor,
        queries: torch.Tensor,
        in_place: bool = False,
        lse: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The mixture's log-probabilities (B, V) for `queries` (B, H) (a `Mixer`)."""
        if self.weight <= 0 or len(self.slot) == 0:
            return log_probabilities(logits, lse)
        z = self.projection.project(queries)  # (B, D)
        self._calls += 1
        if 1 < self._calls <= 1 + self.fresh:  # the first call is the prompt's own query
            found = _search(
                self.index,
                self.allowed,
                self.projection,
                z,
                FRESH_PROBES,
                FRESH_NEIGHBOURS,
                FRESH_LISTS,
            )
            if len(found):
                self._use(torch.unique(torch.cat([self.rows, found])))
        # -|z - k|^2 up to the per-row constant |z|^2, which the softmax ignores.
        near = 2 * z @ self.keys.T - self.key_norms  # (B, M)
        nearest = (z * z).sum(1, keepdim=True) - near.max(1, keepdim=True).values  # (B, 1)
        share = self.weight * torch.sigmoid((GATE_AT - nearest) / GATE_WIDTH)
        attention = torch.softmax(near.mul_(THETA).add_(self.bias), dim=-1)
        return mix_attention(logits, attention, self, in_place, weight=share, lse=lse)


class WorkspaceMemory:
    """The shards of one workspace and the index searched for each request. Thread-safe: the
    builder adds and removes shards while the model worker retrieves from a snapshot."""

    def __init__(self, projection: Projection | None = None) -> None:
        self.projection = projection
        self._lock = threading.Lock()
        self._pending: dict[str, Shard | None] = {}  # path -> new shard, or None: removed
        self._index: _Index | None = None
        self._masked: frozenset[str] = frozenset()  # open documents' paths
        self._allowed: torch.Tensor | None = None  # (files,) bool, for the current index

    # --- changes (the builder, the editor's open and close) --------------------------------

    def put(self, shard: Shard) -> None:
        with self._lock:
            self._pending[shard.path] = shard

    def remove(self, path: str) -> None:
        with self._lock:
            self._pending[path] = None

    def mask(self, path: str, masked: bool = True) -> None:
        """Hide a file's entries (an open document's) or show them again; takes effect at once."""
        with self._lock:
            self._masked = self._masked | {path} if masked else self._masked - {path}
            self._allowed = self._allowed_for(self._index)

    def _allowed_for(self, index: _Index | None) -> torch.Tensor | None:
        if index is None:
            return None
        return torch.tensor([p not in self._masked for p in index.paths], dtype=torch.bool)

    def for_path(self, path: str | None) -> DocumentMemory:
        """The memory as a request in the document at `path` sees it (a `session.Workspace`)."""
        return DocumentMemory(self, path)

    @property
    def masked(self) -> frozenset[str]:
        return self._masked

    @property
    def dirty(self) -> bool:
        return bool(self._pending)

    def paths(self) -> set[str]:
        """The files the memory holds or is about to hold."""
        with self._lock:
            held = set(self._index.paths) if self._index is not None else set()
            for path, shard in self._pending.items():
                if shard is None:
                    held.discard(path)
                else:
                    held.add(path)
            return held

    def rebuild(self) -> None:
        """Apply the pending changes: a new index, swapped in whole (retrievals in flight keep
        the old one). Costs a copy of the entries, so the builder calls it every few files."""
        with self._lock:
            pending, self._pending = self._pending, {}
            old = self._index
        # Each file's keys: a new shard's, or the old index's rows, gathered only when copied
        # into place (so the rebuild holds the old index, the new one and one file's keys).
        codes: list[tuple[_Index | None, torch.Tensor]] = []
        values, lists, paths, lengths = [], [], [], []
        if old is not None:
            ends = [*old.starts[1:], len(old.values)]
            for path, start, end in zip(old.paths, old.starts, ends, strict=True):
                if path not in pending:
                    paths.append(path)
                    lengths.append(end - start)
                    codes.append((old, torch.arange(start, end)))
                    values.append(old.values[start:end])
                    lists.append(old.lists[start:end])
        for shard in pending.values():
            if shard is not None and len(shard):
                paths.append(shard.path)
                lengths.append(len(shard))
                codes.append((None, shard.codes))
                values.append(shard.values)
                lists.append(shard.lists)
        index = None
        if paths:
            if self.projection is None:
                raise RuntimeError("the memory holds keys but no projection to read them with")
            folders: dict[str, int] = {}
            folder_of = [folders.setdefault(os.path.dirname(p), len(folders)) for p in paths]
            starts = [0]
            for n in lengths[:-1]:
                starts.append(starts[-1] + n)
            all_lists = torch.cat(lists)
            counts = torch.bincount(all_lists.long(), minlength=LISTS)
            offsets = torch.zeros(len(counts) + 1, dtype=torch.long)
            offsets[1:] = counts.cumsum(0)
            order = torch.argsort(all_lists.long(), stable=True)
            position = torch.empty_like(order)
            position[order] = torch.arange(len(order))
            keys = torch.empty(len(order), len(self.projection.scale), dtype=torch.int8)
            for start, length, (source, held) in zip(starts, lengths, codes, strict=True):
                rows = position[start : start + length]
                keys[rows] = held if source is None else source.row_codes(held)
            index = _Index(
                paths=paths,
                starts=starts,
                values=torch.cat(values),
                file_of=torch.repeat_interleave(
                    torch.arange(len(paths), dtype=torch.int32), torch.tensor(lengths)
                ),
                lists=all_lists,
                order=order.to(torch.int32),
                position=position.to(torch.int32),
                offsets=offsets,
                codes=keys,
                norms=_squared_norms(keys, self.projection.scale),
                folders=folders,
                folder_of=torch.tensor(folder_of),
            )
        with self._lock:
            self._index = index
            self._allowed = self._allowed_for(index)

    # --- what the user sees ----------------------------------------------------------------

    def size(self) -> dict[str, int]:
        index = self._index
        keys = 0 if index is None else len(index.values)
        files = 0 if index is None else len(index.paths)
        return {"files": files, "entries": keys, "bytes": keys * BYTES_PER_KEY}

    # --- a request (the model worker) ------------------------------------------------------

    @torch.inference_mode()
    def retrieve(self, query: torch.Tensor, path: str | None, weight: float) -> Retrieval | None:
        """The entries near `query` (the top-layer output after the prompt, any shape of H
        values) and those that followed them, for a document at `path` (its package gets the
        locality bonus)."""
        index, allowed, projection = self._index, self._allowed, self.projection
        if index is None or allowed is None or projection is None or weight <= 0:
            return None
        query = query.reshape(1, -1).float()
        found = _search(index, allowed, projection, projection.project(query))
        if len(found) == 0:
            return None
        folder = index.folders.get(os.path.dirname(path), -1) if path else -1
        return Retrieval(index, allowed, projection, found, folder, weight, query)


class DocumentMemory:
    """The workspace memory as one document's requests see it (a `session.Workspace`)."""

    def __init__(self, memory: WorkspaceMemory, path: str | None) -> None:
        self.memory, self.path = memory, path

    def retrieve(self, query: torch.Tensor, weight: float) -> Retrieval | None:
        return self.memory.retrieve(query, self.path, weight)


def _search(
    index: _Index,
    allowed: torch.Tensor,
    projection: Projection,
    z: torch.Tensor,
    probes: int = PROBES,
    neighbours: int = NEIGHBOURS,
    most_lists: int | None = None,
) -> torch.Tensor:
    """Rows of the `neighbours` entries nearest each of the projected queries `z` (B, D), in
    files not masked, and the SUCCESSORS after each in its file; distinct, sorted. Searched:
    each query's `probes` nearest lists, at most `most_lists` in all, nearest first while
    they hold at most MAX_ROWS rows together."""
    if len(index.values) <= EXACT_BELOW:
        spans = [(0, len(index.values))]
    else:
        near = _nearest_lists(z, projection.centroids, probes, most_lists)
        sizes = index.offsets[near + 1] - index.offsets[near]
        near = near[: max(1, int((sizes.cumsum(0) <= MAX_ROWS).sum()))]
        spans = [(int(index.offsets[c]), int(index.offsets[c + 1])) for c in near]
    scaled = (z * projection.scale).T  # (D, B): keys @ scaled == dequantized keys @ z.T
    # One list at a time: a slice of int8 keys read in place, its float copy small enough
    # to stay in cache (a gather of scattered rows cost more than the arithmetic).
    distances = torch.cat(
        [index.norms[a:b, None] - 2 * index.codes[a:b].float() @ scaled for a, b in spans]
    )  # (R, B), each query's own norm left out (it ranks nothing)
    rows = torch.cat([index.order[a:b] for a, b in spans]).long()
    distances[~allowed[index.file_of[rows].long()]] = float("inf")
    best = torch.topk(distances, min(neighbours, len(rows)), dim=0, largest=False)
    found = rows[best.indices[torch.isfinite(best.values)]]
    if len(found) == 0:
        return found
    return torch.unique(_same_file(index, torch.unique(found)))


def _squared_norms(codes: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """(N,) squared norms of the dequantized keys, a block at a time."""
    parts = [(block.float() * scale).pow_(2).sum(1) for block in codes.split(4096)]
    return torch.cat(parts) if parts else torch.empty(0)


def _same_file(index: _Index, found: torch.Tensor) -> torch.Tensor:
    """Rows found..found+SUCCESSORS that lie in the same file as their neighbour."""
    follow = found.unsqueeze(1) + torch.arange(SUCCESSORS + 1)  # (K, S + 1)
    follow = follow.clamp_max(len(index.values) - 1)
    same = index.file_of[follow] == index.file_of[found].unsqueeze(1)
    return follow[same]


def _nearest_lists(
    z: torch.Tensor, centroids: torch.Tensor, probes: int, most: int | None = None
) -> torch.Tensor:
    """The lists among each query's `probes` nearest (queries `z`: B, D), nearest to any
    query first, at most `most`."""
    distances = (centroids * centroids).sum(1) - 2 * z @ centroids.T  # (B, C)
    nearest = torch.topk(distances, min(probes, len(centroids)), dim=1, largest=False).indices
    lists = torch.unique(nearest)
    closest = distances[:, lists].min(0).values
    return lists[torch.argsort(closest)[:most]]
