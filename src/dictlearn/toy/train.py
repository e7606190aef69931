"""Train every member of a sweep at once and measure them as the paper does.

Members that share k form one batched model (the K sweeps form one per k: padding to the
largest k would triple the work on a CPU). Members see the same data stream as when trained
alone: data comes from its own generator (seed + 1), model init from another (seed), and
members whose ε differs each get their own data generator, seeded alike.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from dictlearn.core.runtime import use_bf16
from dictlearn.toy.config import ToyMember as Member, ToyRun as Toy, ToySweep as Sweep
from dictlearn.toy.data import (SparseBatch, feature_probabilities, random_embedder,
                                sample_sparse)
from dictlearn.toy.resume import ToyCheckpoints
from dictlearn.toy.model import (Lamb, Params, Target, Workspace, cosine_factor,
                                 forward_backward, init_member, monosemantic,
                                 single_feature_activations, stack)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def matmul_dtype(setting: str, device: torch.device) -> torch.dtype:
    """toy.dtype resolved on this machine: auto is bf16 where it is native (use_bf16)."""
    if setting == "auto":
        return torch.bfloat16 if use_bf16("auto", device) else torch.float32
    return DTYPES[setting]


@contextlib.contextmanager
def one_thread():
    """Sampling and the optimiser are many small ops (a sort of ~65k indices, scatters,
    parameter-sized updates): on one thread they take milliseconds; on two, when other
    processes share the cores, OpenMP's barriers make a sort 300x slower (measured here)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


class Problem:
    """The fixed embeddings and one data stream per distinct sampling setting."""

    def __init__(self, N: int, m: int, seed: int, device: str | torch.device = "cpu"):
        self.N, self.m, self.device = N, m, torch.device(device)
        self.Et = random_embedder(N, m, seed).T.contiguous().to(device)  # [N, m]
        self.Et_out = random_embedder(N, m, seed + 10_007).T.contiguous().to(device)
        self._p: dict[tuple, torch.Tensor] = {}

    def probabilities(self, eps: float, sampling: str) -> torch.Tensor:
        if (eps, sampling) not in self._p:
            self._p[eps, sampling] = feature_probabilities(self.N, eps, sampling).to(self.device)
        return self._p[eps, sampling]

    def sample(self, member: Member, batch: int, gen: torch.Generator) -> SparseBatch:
        if member.task == "abs":  # E(v1 - v2), each at ε/2, so the density stays ≈ ε
            p = self.probabilities(member.eps / 2, member.sampling)
            b1, b2 = sample_sparse(p, batch, gen), sample_sparse(p, batch, gen)
            return b1 + SparseBatch(b2.sample, b2.feature, -b2.value, batch)
        return sample_sparse(self.probabilities(member.eps, member.sampling), batch, gen)

    def inputs_and_target(self, task: str, batches: list[SparseBatch], S: int
                          ) -> tuple[torch.Tensor, Target]:
        """x [S, B, m] and the target; `batches` has one entry (shared) or S."""
        B = batches[0].batch
        x = torch.stack([b.embed(self.Et) for b in batches])
        if len(batches) == 1:
            x = x.expand(S, -1, -1)
        if task == "reprojector":
            y = torch.stack([b.embed(self.Et_out) for b in batches])
            return x, Target(dense=y)
        if task == "abs":
            y = torch.stack([b.dense(self.N) for b in batches]).abs_()
            return x, Target(dense=y)
        idx, val = [], []
        for s in range(S):
            b = batches[s if len(batches) > 1 else 0]
            idx.append((s * B + b.sample) * self.N + b.feature)
            val.append(b.value)
        return x, Target(index=torch.cat(idx), value=torch.cat(val))


@dataclass
class GroupResult:
    members: list[int]  # indices into the sweep's values
    params: Params
    curve: list[dict] = field(default_factory=list)  # snapshots at steps 2^i - 1 and the end
    seconds: float = 0.0


def train_group(members: list[Member], problem: Problem, toy: Toy, steps: int, batch: int,
                desc: str = "toy", seed: int | None = None,
                checkpoints: ToyCheckpoints | None = None) -> GroupResult:
    """Train members of one k as one batched model; with `checkpoints`, save every
    checkpoint_every steps and start from the saved state of this group if there is one."""
    seed = toy.seed if seed is None else seed
    S, first = len(members), members[0]
    assert len({m.k for m in members}) == 1 and len({m.task for m in members}) == 1
    dev = problem.device
    params = stack([init_member(mb, problem.N, problem.m, torch.Generator().manual_seed(seed))
                    for mb in members])
    params = Params(*(t.to(dev) for t in params.tensors()))
    shared = len({(m.eps, m.sampling) for m in members}) == 1
    gens = [torch.Generator(dev).manual_seed(seed + 1) for _ in range(1 if shared else S)]
    lr = torch.tensor([m.lr for m in members], device=dev)
    keep = 1 - torch.tensor([m.decay * m.lr for m in members], device=dev)[:, None]
    l1 = torch.tensor([m.l1 for m in members], device=dev)
    opt, dtype, ws = Lamb(params.tensors()), matmul_dtype(toy.dtype, dev), Workspace()
    result = GroupResult([], params)
    start, before = 0, 0.0
    cur = checkpoints.current if checkpoints is not None else None
    if cur is not None and cur["k"] == first.k:  # this group, killed after cur["step"] steps
        for t, saved_t in zip(params.tensors() + opt.m + opt.v, cur["params"] + cur["m"]
                              + cur["v"]):
            t.copy_(saved_t)
        for g, state in zip(gens, cur["gens"]):
            g.set_state(state)
        start, before, result.curve = cur["step"], cur["seconds"], list(cur["curve"])
    t0 = time.perf_counter()
    for step in tqdm(range(start, steps), desc=desc, unit="step", leave=False, mininterval=2,
                     initial=start, total=steps):
        with one_thread():
            batches = [problem.sample(mb if not shared else first, batch, g)
                       for mb, g in zip(members, gens)]
            x, target = problem.inputs_and_target(first.task, batches, S)
        snapshot = step & (step + 1) == 0 or step == steps - 1
        grads, loss = forward_backward(params, x, target, first.activation, l1, dtype,
                                       want_loss=snapshot, ws=ws)
        with one_thread():  # parameter-sized ops: too small to share between threads
            opt.step(grads, lr * cosine_factor(step))
            if step < steps / 2:
                params.b_in.mul_(keep)
        if snapshot:
            mono = monosemantic(single_feature_activations(params, problem.Et, first.activation))
            result.curve.append({"step": step, "loss": loss.tolist(),
                                 "mono_neurons": mono.sum(1).tolist(),
                                 "mean_bias": params.b_in.mean(1).tolist()})
        if checkpoints is not None and checkpoints.due(step + 1, steps):
            checkpoints.save_group(first.k, step + 1, params.tensors(), opt.m, opt.v, gens,
                             result.curve, before + time.perf_counter() - t0)
    result.seconds = before + time.perf_counter() - t0
    return result


@torch.no_grad()
def measure(members: list[Member], params: Params, problem: Problem, toy: Toy) -> list[dict]:
    """Per member: held-out loss, monosemantic neurons (count, share of k, per feature),
    features with a monosemantic neuron, features decoded alone, mean hidden bias."""
    first, S = members[0], len(members)
    gens = [torch.Generator(problem.device).manual_seed(toy.seed + 2) for _ in range(S)]
    sfa = single_feature_activations(params, problem.Et, first.activation)  # [S, k, N]
    mono = monosemantic(sfa)
    rows = []
    for s, mb in enumerate(members):
        b = problem.sample(mb, toy.eval_batch, gens[s])
        p1 = Params(*(t[s:s + 1] for t in params.tensors()))
        x, target = problem.inputs_and_target(mb.task, [b], 1)
        h = single_feature_activations(p1, x[0], mb.activation).transpose(1, 2)
        out = target.subtract_from(torch.bmm(h, p1.W_out.transpose(1, 2)))
        alone = torch.bmm(sfa[s:s + 1].transpose(1, 2), p1.W_out.transpose(1, 2))[0]  # [N, out]
        want = problem.Et_out if mb.task == "reprojector" else torch.eye(problem.N,
                                                                          device=problem.device)
        err = (alone - want).pow(2).sum(1) / want.pow(2).sum(1)
        owners = sfa[s].argmax(1)[mono[s]]
        rows.append({
            "loss": float(out.pow(2).sum() / toy.eval_batch),
            "mono_neurons": int(mono[s].sum()),
            "mono_fraction": float(mono[s].float().mean()),
            "mono_per_feature": float(mono[s].sum() / problem.N),
            "features_with_mono_neuron": int(owners.unique().numel()),
            "features_decoded": int((err < 0.5).sum()),
            "mean_bias": float(params.b_in[s].mean()),
        })
    return rows


def run_sweep(sweep: Sweep, toy: Toy, problem: Problem, desc: str = "toy",
              checkpoints: ToyCheckpoints | None = None
              ) -> tuple[list[Member], list[GroupResult]]:
    """Train a sweep's members, one batched model per distinct k (with `checkpoints`: the
    groups a killed run finished are taken as saved, and the one it was training resumes)."""
    members = sweep.members()
    groups: dict[int, list[int]] = {}
    for i, mb in enumerate(members):
        groups.setdefault(mb.k, []).append(i)
    results = []
    for k, idx in groups.items():
        if checkpoints is not None and k in checkpoints.done:
            saved = checkpoints.done[k]
            res = GroupResult([], Params(*(t.to(problem.device) for t in saved["params"])),
                              list(saved["curve"]), saved["seconds"])
        else:
            res = train_group([members[i] for i in idx], problem, toy, toy.steps,
                              toy.batch_size, desc=f"{desc} k={k}" if len(groups) > 1 else desc,
                              checkpoints=checkpoints)
            if checkpoints is not None:
                checkpoints.finished(k, res.params.tensors(), res.curve, res.seconds)
        res.members = idx
        results.append(res)
    return members, results
