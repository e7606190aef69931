"""A batched sweep equals its members trained one at a time; one member follows the authors'
recipe (nn.Linear model, autograd, torch_optimizer's LAMB, CosineAnnealingLR, bias decay);
a hand-built monosemantic model counts as fully monosemantic."""

import pytest
import torch

from conftest import section
from dictlearn.toy.config import ToyRun, ToySweep
from dictlearn.toy.model import Params, cosine_factor
from dictlearn.toy.train import Problem, measure, run_sweep, train_group


def toy_run(**overrides):
    """The ci profile's shared toy settings (float32, seed 0), some overridden."""
    shared = {k: v for k, v in section("toy").items() if k in ToyRun.model_fields}
    return ToyRun.model_validate(shared | {"dtype": "float32", "seed": 0} | overrides)


def sweep_of(**kw):
    """A sweep: the ci profile's toy.defaults with `kw` overridden."""
    return ToySweep.model_validate(section("toy", "defaults") | kw)


TOY = toy_run(N=48, m=12, batch_size=64, steps=40, eval_batch=512)


def small(**kw):
    return sweep_of(**({"k": 24, "decay": 0.03, "bias": -0.2} | kw))


@pytest.mark.parametrize("sweep", [
    small(vary="lr", values=[0.001, 0.01, 0.03]),
    small(vary="eps", values=[0.05, 0.1, 0.2]),  # each member its own data stream
    small(vary="l1", activation="gelu", values=[0.0, 0.01]),
    small(vary="decay", task="abs", values=[0.0, 0.1]),
    small(vary="bias", task="reprojector", sampling="power_law", values=[0.0, -0.5]),
])
def test_batched_sweep_equals_sequential_training(sweep):
    problem = Problem(TOY.N, TOY.m, TOY.seed)
    members, groups = run_sweep(sweep, TOY, problem)
    (group,) = groups
    for s, member in enumerate(members):
        alone = train_group([member], problem, TOY, TOY.steps, TOY.batch_size)
        for a, b in zip(alone.params.tensors(), group.params.tensors()):
            torch.testing.assert_close(a[0], b[s], atol=2e-5, rtol=1e-4)
        assert alone.curve[-1]["mono_neurons"][0] == group.curve[-1]["mono_neurons"][s]


def test_k_sweep_trains_one_group_per_k():
    members, groups = run_sweep(small(vary="k", values=[8, 16]), TOY, Problem(12 * 4, 12, 0))
    assert [g.params.W_in.shape[1] for g in groups] == [8, 16]


def test_one_member_follows_the_authors_recipe():
    optim = pytest.importorskip("torch_optimizer")
    sweep = small(vary="lr", l1=0.01, values=[0.01])
    member, steps = sweep.member(0), 12
    problem = Problem(TOY.N, TOY.m, TOY.seed)
    ours = train_group([member], problem, TOY, steps, TOY.batch_size)

    init = train_group([member], problem, TOY, 0, TOY.batch_size).params
    model = torch.nn.Sequential(torch.nn.Linear(TOY.m, member.k), torch.nn.ReLU(),
                                torch.nn.Linear(member.k, TOY.N, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(init.W_in[0]), model[0].bias.copy_(init.b_in[0])
        model[2].weight.copy_(init.W_out[0])
    opt = optim.Lamb(model.parameters(), lr=member.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2**9, eta_min=0)
    gen, E = torch.Generator().manual_seed(TOY.seed + 1), problem.Et.T
    for step in range(steps):
        v = problem.sample(member, TOY.batch_size, gen).dense(TOY.N)
        opt.zero_grad()
        h = model[:2](v @ E.T)
        loss = ((model[2](h) - v) ** 2).sum() / TOY.batch_size
        (loss + member.l1 * h.abs().sum() / TOY.batch_size).backward()
        opt.step()
        sched.step()
        assert abs(opt.param_groups[0]["lr"] - member.lr * cosine_factor(step + 1)) < 1e-9
        if step < steps / 2:
            with torch.no_grad():
                model[0].bias.mul_(1 - member.decay * member.lr)
    for theirs, mine in zip((model[0].weight, model[0].bias, model[2].weight),
                            ours.params.tensors()):
        torch.testing.assert_close(theirs.detach(), mine[0], atol=2e-5, rtol=1e-4)


def test_hand_built_monosemantic_model_counts_as_fully_monosemantic():
    N = m = 16  # N = m: the embedding is orthonormal, so neuron i reads feature i alone
    toy = toy_run(N=N, m=m, eval_batch=256)
    problem = Problem(N, m, 0)
    sweep = sweep_of(k=N, vary="lr", values=[0.01, 0.02])
    E = problem.Et.T  # [m, N]
    W_in = torch.stack([E.T, E.T])
    W_in[1, 0] = (E[:, 0] + E[:, 1]) / 2  # member 1: neuron 0 reads two features
    params = Params(W_in, torch.zeros(2, N), torch.eye(N).expand(2, N, N).clone())
    mono, poly = measure(sweep.members(), params, problem, toy)
    assert mono["mono_neurons"] == N and mono["mono_fraction"] == 1.0
    assert mono["features_with_mono_neuron"] == N and mono["features_decoded"] == N
    assert mono["loss"] < 1e-8
    assert poly["mono_neurons"] == N - 1 and poly["features_with_mono_neuron"] == N - 1
    assert poly["loss"] > 1e-4


def test_auto_dtype_is_bf16_only_where_the_hardware_multiplies_it(monkeypatch):
    """toy.dtype auto: bf16 on a CPU with native bf16 (or a GPU), float32 on one that would
    emulate it (6.5× slower than fp32 on an AVX2-only CPU); explicit values are kept."""
    import dictlearn.core.runtime as runtime
    from dictlearn.toy.train import matmul_dtype

    cpu = torch.device("cpu")
    for native, want in ((True, torch.bfloat16), (False, torch.float32)):
        monkeypatch.setattr(runtime, "cpu_has_bf16", lambda native=native: native)
        assert matmul_dtype("auto", cpu) == want
        assert matmul_dtype("float32", cpu) == torch.float32
        assert matmul_dtype("bfloat16", cpu) == torch.bfloat16
    assert matmul_dtype("auto", torch.device("cuda")) == torch.bfloat16
