"""Feature splitting across a dictionary family: SAEs trained alike on the same activations at
growing sizes (params `families`, the `saes` entries that name one).

For each adjacent pair of members (smaller, larger), every live feature of the larger is
matched to its parent, the live feature of the smaller whose decoder direction (unit-normed)
has the highest cosine with its own. A feature whose best cosine reaches `min_cosine` is that
parent's child; a parent with two or more children has split (Bricken et al. 2023, "Towards
Monosemanticity", feature splitting). Trees follow the children down the whole family from
the smallest member's most-split features."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from dictlearn.core.errors import InputError, restore_hint
from dictlearn.core.schema import Fraction, PositiveInt, Strict
from dictlearn.sae.io import SPARSITY_FILE, WEIGHTS_FILE, read_tensor

# the trainer records log10(density + 1e-10) over its last fifth of training: a feature that
# never fired there scores -10, one that fired once in up to 1e9 tokens above -9
LIVE_LOG_DENSITY = -9.0
CHUNK = 2048  # larger features per cosine block: [CHUNK, d_sae of the smaller] float64


class Family(Strict):
    """params `families.<name>`: how the families stage measures its members' splitting."""

    # a feature of a larger member is a child of its best-cosine parent in the next smaller
    # one when their decoder directions have at least this cosine
    min_cosine: Fraction
    trees: PositiveInt  # the most-split features of the smallest member drawn as trees


class FamilyMember(Strict):
    name: str
    size: float  # d_sae as a multiple of d_in
    d_sae: PositiveInt


class FamilySettings(Family):
    """One family as the families stage reads it: its section and its members, smallest
    first."""

    members: list[FamilyMember]


class FamiliesSettings(Strict):
    """What the families stage reads (resolved by check_params)."""

    families: dict[str, FamilySettings]


@dataclass
class Dictionary:
    """One member's decoder directions, unit-normed [d_sae, d_in] float64, and its live mask."""

    name: str
    directions: torch.Tensor
    live: torch.Tensor

    @classmethod
    def load(cls, member: FamilyMember, folder: Path) -> Dictionary:
        """From the member's saved SAE (sae_weights.safetensors, sparsity.safetensors)."""
        w = read_tensor(folder / WEIGHTS_FILE, "W_dec")
        log_density = read_tensor(folder / SPARSITY_FILE, "sparsity")
        if w.shape[0] != member.d_sae or log_density.shape != (member.d_sae,):
            raise InputError(f"{folder}: {w.shape[0]} features, but family member "
                             f"{member.name} has d_sae {member.d_sae}; "
                             + restore_hint(folder / WEIGHTS_FILE))
        return cls(member.name, unit_rows(w), log_density > LIVE_LOG_DENSITY)


def unit_rows(w: torch.Tensor) -> torch.Tensor:
    w = w.double()
    return w / w.norm(dim=1, keepdim=True).clamp_min(1e-30)


def best_parents(parents: torch.Tensor, children: torch.Tensor, desc: str = "cosines"
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(index into `parents`, cosine) of each child's best-cosine parent; both unit rows. Ties
    go to the lower index."""
    index = torch.empty(len(children), dtype=torch.long)
    cosine = torch.empty(len(children), dtype=torch.float64)
    for start in tqdm(range(0, len(children), CHUNK), desc=desc, unit="block", leave=False):
        block = children[start:start + CHUNK] @ parents.T
        cosine[start:start + CHUNK], index[start:start + CHUNK] = block.max(1)
    return index, cosine


@dataclass
class Split:
    """A pair of adjacent members: per feature of the larger, its parent in the smaller (-1
    where it is dead, or the smaller has no live feature) and their cosine (NaN likewise); and
    per parent its children (cosine ≥ min_cosine), closest first."""

    small: str
    large: str
    parent: torch.Tensor
    cosine: torch.Tensor
    children: dict[int, list[int]]
    live: tuple[int, int]  # live features of the smaller, of the larger

    def metrics(self) -> dict[str, float | int | None]:
        """Mean best cosine and share of children over the larger's live features; mean
        children per parent that has any; how many parents split (None: nothing to measure)."""
        cos = self.cosine[self.parent >= 0]
        counts = [len(c) for c in self.children.values()]
        return {
            "live_parents": self.live[0], "live_features": self.live[1],
            "mean_best_cosine": float(cos.mean()) if len(cos) else None,
            "close_fraction": sum(counts) / len(cos) if len(cos) else None,
            "mean_children": sum(counts) / len(counts) if counts else None,
            "split_parents": sum(c >= 2 for c in counts)}


def split(small: Dictionary, large: Dictionary, min_cosine: float) -> Split:
    """Each live feature of `large` matched to its best-cosine live feature of `small`."""
    parents, kids = small.live.nonzero().squeeze(1), large.live.nonzero().squeeze(1)
    parent = torch.full((len(large.live),), -1, dtype=torch.long)
    cosine = torch.full((len(large.live),), math.nan, dtype=torch.float64)
    children: dict[int, list[int]] = {}
    if len(parents) and len(kids):
        index, cos = best_parents(small.directions[parents], large.directions[kids],
                                  f"{large.name} → {small.name}")
        parent[kids], cosine[kids] = parents[index], cos
        close = kids[cos >= min_cosine]
        # closest first, the lower index among equals
        for j in sorted(close.tolist(), key=lambda j: (-float(cosine[j]), j)):
            children.setdefault(int(parent[j]), []).append(j)
    return Split(small.name, large.name, parent, cosine, dict(sorted(children.items())),
                 (len(parents), len(kids)))


def _tree(splits: list[Split], level: int, j: int, cosine: float | None) -> dict:
    kids = splits[level].children.get(j, []) if level < len(splits) else []
    nodes = [_tree(splits, level + 1, c, float(splits[level].cosine[c])) for c in kids]
    return {"feature": j, "cosine": None if cosine is None else round(cosine, 4),
            "descendants": sum(1 + n["descendants"] for n in nodes), "children": nodes}


def _splits_somewhere(node: dict) -> bool:
    return len(node["children"]) >= 2 or any(_splits_somewhere(c) for c in node["children"])


def split_trees(splits: list[Split], roots: torch.Tensor, n: int) -> list[dict]:
    """The `n` features of the smallest member (`roots`, its live features) with the most
    descendants down the family, among those that split somewhere: {feature, cosine to its
    parent (None at the root), descendants, children}."""
    trees = [_tree(splits, 0, j, None) for j in roots.tolist()]
    trees = [t for t in trees if _splits_somewhere(t)]
    return sorted(trees, key=lambda t: (-t["descendants"], t["feature"]))[:n]


def family_splits(settings: FamilySettings, saes: Path) -> tuple[dict, dict]:
    """(the record: members, per pair each larger feature's parent and cosine and each
    parent's children, and the trees; the metrics: per member after the first, measured
    against the one before it) for the members saved under `saes/<name>`."""
    dicts = [Dictionary.load(m, saes / m.name) for m in settings.members]
    splits = [split(a, b, settings.min_cosine) for a, b in zip(dicts, dicts[1:])]
    record = {
        "min_cosine": settings.min_cosine,
        "members": [{**m.model_dump(), "live": int(d.live.sum())}
                    for m, d in zip(settings.members, dicts)],
        "pairs": [{"small": s.small, "large": s.large, "parent": s.parent.tolist(),
                   "cosine": [None if math.isnan(c) else round(c, 4) for c in s.cosine.tolist()],
                   "children": {str(p): c for p, c in s.children.items()}} for s in splits],
        "trees": split_trees(splits, dicts[0].live.nonzero().squeeze(1), settings.trees)}
    metrics = {s.large: s.metrics() for s in splits}
    return record, metrics
