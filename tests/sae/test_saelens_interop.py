"""Every architecture we save opens in SAELens 6 (`SAE.load_from_disk`) and encodes and
reconstructs exactly as ours does. SAELens pins transformer-lens < 4, so it runs in a venv of
its own (built once, cached; see dictlearn.saelens_env) in a subprocess."""

import json
import subprocess

import numpy as np
import pytest
import torch

from conftest import sae_run
from dictlearn.sae import ARCHITECTURES, sae_from_config, save_sae
from dictlearn.saelens_env import SAELENS_VERSION, SAELensUnavailable, saelens_python

D_IN, D_SAE = 12, 48

SAELENS_SIDE = """
import json, sys
import numpy as np, torch
from sae_lens import SAE

x = torch.from_numpy(np.load(sys.argv[1]))
report = {}
for path in sys.argv[3:]:
    sae = SAE.load_from_disk(path)
    with torch.no_grad():
        f = sae.encode(x)
        np.save(f"{path}/saelens_f.npy", f.numpy())
        np.save(f"{path}/saelens_x_hat.npy", sae.decode(f).numpy())
    report[path] = {"class": type(sae).__name__, "architecture": sae.cfg.architecture(),
                    "hook_name": sae.cfg.metadata.hook_name}
with open(sys.argv[2], "w") as out:
    json.dump(report, out)
"""


@pytest.fixture(scope="module")
def saelens():
    try:
        return saelens_python()
    except SAELensUnavailable as err:
        pytest.skip(f"SAELens {SAELENS_VERSION} venv could not be built (no registry?): {err}")


def trained_looking(name: str) -> torch.nn.Module:
    """An SAE with non-trivial biases and thresholds, its input scale folded in."""
    torch.manual_seed(0)
    sae = sae_from_config(sae_run(name, d_sae=D_SAE, k=6).sae, D_IN)
    sae.init_weights(torch.Generator().manual_seed(1))
    with torch.no_grad():
        sae.b_enc.normal_(0, 0.1)
        sae.b_dec.normal_(0, 0.5)
        if hasattr(sae, "threshold"):  # jumprelu: per feature; batchtopk: one value
            t = torch.rand(D_SAE) if name == "jumprelu" else torch.full((D_SAE,), 0.5)
            sae.threshold.copy_(t)
        sae.fold_input_scale(2.5)
    return sae.eval()


def test_saelens_loads_every_architecture_with_the_same_encodings(saelens, tmp_path):
    x = torch.randn(64, D_IN) * 2.5 + 0.3
    np.save(tmp_path / "x.npy", x.numpy())
    saes, paths = {}, []
    for name in sorted(ARCHITECTURES):
        saes[name] = trained_looking(name)
        path = tmp_path / name
        save_sae(saes[name], path, torch.full((D_SAE,), -2.0),
                 {"hook_name": "blocks.0.mlp.hook_post", "model_name": "test"})
        paths.append(str(path))
    done = subprocess.run([str(saelens), "-c", SAELENS_SIDE, str(tmp_path / "x.npy"),
                           str(tmp_path / "report.json"), *paths],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    expected_class = {"relu": "StandardSAE", "topk": "TopKSAE", "batchtopk": "JumpReLUSAE",
                      "jumprelu": "JumpReLUSAE"}
    for name, sae in saes.items():
        path = tmp_path / name
        assert report[str(path)]["class"] == expected_class[name], name
        assert report[str(path)]["hook_name"] == "blocks.0.mlp.hook_post", name
        with torch.no_grad():
            f = sae.encode(x)
            x_hat = sae.decode(f)
        theirs = np.load(path / "saelens_f.npy")
        assert 0 < (f > 0).float().mean() < 0.9, name  # the gates really gate
        if hasattr(sae, "threshold"):  # and the thresholds, not just the ReLU, decide some
            z = x @ sae.W_enc + sae.b_enc
            assert ((z > 0) & (z <= sae.threshold)).sum() > 10, name
        assert np.array_equal(theirs > 0, f.numpy() > 0), name
        assert np.allclose(theirs, f.numpy(), atol=1e-5), name
        assert np.allclose(np.load(path / "saelens_x_hat.npy"), x_hat.numpy(), atol=1e-4), name
