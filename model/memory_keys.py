"""The workspace memory's keys, compressed: a model output (H floats) becomes DIMS int8 codes.

Outputs are centred and projected on their principal components, and each projected
dimension is stored as int8 with its own scale (4 standard deviations span the range); k-means
lists over the projected keys are the inverted file a search reads the nearest of
(`workspace_memory`). Fitted once per workspace on a sample of its outputs
(`memory_builder`), saved with the memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

DIMS = 64  # principal components kept per key (int8 each)
LISTS = 256  # k-means lists of the inverted file


@dataclass
class Projection:
    """How outputs (H) become stored keys: centred, projected to DIMS, scaled to int8."""

    mean: torch.Tensor  # (H,)
    components: torch.Tensor  # (H, DIMS)
    scale: torch.Tensor  # (DIMS,) one int8 step in each projected dimension
    centroids: torch.Tensor  # (C, DIMS) the inverted file's lists, in projected units

    @classmethod
    def fit(cls, sample: Sequence[torch.Tensor], seed: int = 0) -> Projection:
        """Principal components, int8 scales and k-means lists of a sample of outputs: blocks
        of (N_i, H) rows, any dtype, read one at a time so no float copy of the whole exists."""
        blocks = [b for b in sample if len(b)]
        count = sum(len(b) for b in blocks)
        # Mean and covariance summed in float64, a block at a time: (H, H) is 4.5 MB.
        hidden = blocks[0].shape[1]
        total = torch.zeros(hidden, dtype=torch.float64)
        second = torch.zeros(hidden, hidden, dtype=torch.float64)
        for part in (p for b in blocks for p in b.split(1024)):
            rows = part.double()  # 6 MB
            total += rows.sum(0)
            second += rows.T @ rows
        mean = total / count
        covariance = second / count - torch.outer(mean, mean)
        # Eigenvectors of the (H, H) covariance: a basis of DIMS directions even from a sample
        # of fewer entries, at a cost independent of the sample's size.
        _, vectors = torch.linalg.eigh(covariance)  # ascending
        components = vectors.flip(1)[:, : min(DIMS, vectors.shape[1])].float().contiguous()
        mean = mean.float()
        projected = torch.cat(
            [(p.float() - mean) @ components for b in blocks for p in b.split(1024)]
        )  # (N, D)
        # 4 standard deviations span the int8 range; the rare larger values saturate.
        scale = (projected.std(0, correction=0) * 4 / 127).clamp_min(1e-6)
        return cls(mean, components, scale, _kmeans(projected, LISTS, seed))

    def project(self, outputs: torch.Tensor) -> torch.Tensor:
        """Projected keys (N, D) in float, for queries and for encoding."""
        return (outputs.float() - self.mean) @ self.components

    def encode(self, outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """int8 codes (N, D) and list ids (N,) of outputs (N, H)."""
        return self.quantize(self.project(outputs))

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """int8 codes (N, D) and list ids (N,) of projected keys (N, D), any float dtype; in
        blocks, so that a big file's distances to the lists (N x LISTS) never exist whole."""
        codes, lists = [], []
        for block in z.split(4096):
            block = block.float()
            codes.append((block / self.scale).round_().clamp_(-127, 127).to(torch.int8))
            lists.append(_nearest(block, self.centroids).to(torch.int16))
        if not codes:
            return torch.empty(0, len(self.scale), dtype=torch.int8), torch.empty(0).short()
        return torch.cat(codes), torch.cat(lists)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {
            "mean": self.mean,
            "components": self.components,
            "scale": self.scale,
            "centroids": self.centroids,
        }


def _nearest(z: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid of each row of z (N, D)."""
    distances = (centroids * centroids).sum(1) - 2 * z @ centroids.T  # (N, C) up to |z|^2
    return distances.argmin(1)


def _kmeans(z: torch.Tensor, lists: int, seed: int, rounds: int = 8) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    k = min(lists, len(z))
    centroids = z[torch.randperm(len(z), generator=generator)[:k]].clone()
    for _ in range(rounds):
        assign = torch.cat([_nearest(block, centroids) for block in z.split(4096)])  # 4 MB each
        sums = torch.zeros_like(centroids).index_add_(0, assign, z)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1)
        centroids = torch.where(counts > 0, sums / counts.clamp_min(1), centroids)
    return centroids
