"""Shared SAE test data: a store of truly sparse activations, small settings (the ci
profile's `sae` section with a few knobs changed), and a freshly initialised SAE of each
architecture."""

import numpy as np
import torch

from conftest import sae_run
from dictlearn.acts.store import ActivationStore, ActivationWriter
from dictlearn.sae import ARCHITECTURES, sae_from_config


def sparse_store(path, n=8192, d=16, n_feat=32, seed=0):
    """Activations that really are sparse sums of `n_feat` directions."""
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((n_feat, d))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    coef = rng.exponential(1.0, (n, n_feat)) * (rng.random((n, n_feat)) < 0.06)
    acts = (coef @ dirs * 3 + 0.5).astype(np.float16)
    w = ActivationWriter(path, n, d, 256, 8, {"hook": "blocks.0.mlp.hook_post"})
    z = np.zeros(n)
    w.append(acts, token_ids=z, seq=z, pos=z, label=z)
    w.close()
    return ActivationStore(path)


SMALL = dict(layer=0, d_sae=64, l1_coeff=1.0, lr=3e-3, warmup_steps=10, decay_fraction=0.2,
             batch_size=256, training_tokens=256 * 300, buffer_chunks=8, resample_every=100,
             resample_until=0.5, grad_clip=1.0, autocast=False, seed=0, device="cpu")


NAMES = sorted(ARCHITECTURES)


KNOBS = {"relu": {}, "topk": {"k": 4}, "batchtopk": {"k": 4}, "jumprelu": {"l0_coeff": 1.0,
                                                                "jumprelu_threshold_lr_scale": 3.0}}


def run_for(name, **extra):
    """SAERunSettings (.sae: the architecture's config, .trainer) of a small SAE `name`."""
    return sae_run(name, **(SMALL | KNOBS[name] | extra))


# the small ReLU SAE's settings and its trainer's
RUN = run_for("relu")
CFG = RUN.trainer


def small_sae(name, d_in, **extra):
    """A small SAE `name` built from its settings, with the trainer settings to train it."""
    run = run_for(name, **extra)
    return sae_from_config(run.sae, d_in), run.trainer


def random_sae(name, d_in=8, d_sae=32, seed=0):
    """A freshly initialised SAE with non-zero biases and thresholds."""
    sae = sae_from_config(sae_run(name, d_sae=d_sae, k=4).sae, d_in)
    gen = torch.Generator().manual_seed(seed)
    sae.init_weights(gen)
    with torch.no_grad():
        sae.b_enc.copy_(torch.randn(d_sae, generator=gen) * 0.1)
        if hasattr(sae, "threshold"):
            sae.threshold.copy_(torch.rand(d_sae, generator=gen) * 0.3)
    return sae
