"""Shared SAE test data: a store of truly sparse activations, a small config, and a
freshly initialised SAE of each architecture."""

import numpy as np
import torch

from dictlearn.config import SAE as SAEConfig
from dictlearn.sae import ARCHITECTURES, build_sae
from dictlearn.store import ActivationStore, ActivationWriter


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


CFG = SAEConfig(layer=0, d_sae=64, l1_coeff=1.0, lr=3e-3, warmup_steps=10, batch_size=256,
                training_tokens=256 * 300, buffer_chunks=8, resample_every=100,
                resample_until=0.5, seed=0)


NAMES = sorted(ARCHITECTURES)


KNOBS = {"relu": {}, "topk": {"k": 4}, "batchtopk": {"k": 4}, "jumprelu": {"l0_coeff": 1.0,
                                                                "jumprelu_threshold_lr_scale": 3.0}}


def cfg_for(name, **extra):
    return CFG.model_copy(update={"architecture": name, **KNOBS[name], **extra})


def random_sae(name, d_in=8, d_sae=32, seed=0):
    """A freshly initialised SAE with non-zero biases and thresholds."""
    sae = build_sae(name, d_in, d_sae, SAEConfig(architecture=name, d_sae=d_sae, k=4))
    gen = torch.Generator().manual_seed(seed)
    sae.init_weights(gen)
    with torch.no_grad():
        sae.b_enc.copy_(torch.randn(d_sae, generator=gen) * 0.1)
        if hasattr(sae, "threshold"):
            sae.threshold.copy_(torch.rand(d_sae, generator=gen) * 0.3)
    return sae
