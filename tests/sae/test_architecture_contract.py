"""What every registered SAE architecture (dictlearn.sae.ARCHITECTURES) promises, checked once
per architecture: its settings schema sits in its own module and reads the ci profile's `sae`
section; the SAE builds from it (carrying its sparsity coefficient), encodes, survives a
save/load round trip, and trains; an entry may not set another architecture's knob."""

import pytest
import torch
from pydantic import ValidationError

from conftest import section
from dictlearn.sae import ARCHITECTURES, build_sae, load_sae, sae_from_config, save_sae
from dictlearn.sae.base import SAEConfig, SparseAutoencoder
from dictlearn.sae.io import read_cfg
from dictlearn.sae.settings import COMMON, SAEEntry, arch_knobs, check_defaults, resolve
from dictlearn.sae.trainer import SAETrainer, TrainerConfig

NAMES = sorted(ARCHITECTURES)
D_IN, D_SAE = 8, 32


def ci_config(name, **overrides):
    """Architecture `name`'s settings from the ci profile's `sae` section."""
    cls = ARCHITECTURES[name]
    sae = section("sae") | {"architecture": name, "d_sae": D_SAE, "k": 4} | overrides
    return cls.config.model_validate({k: sae[k] for k in cls.config.model_fields})


def trainer_config(**overrides):
    sae = section("sae") | {"lr": 3e-3, "warmup_steps": 0, "device": "cpu"} | overrides
    return TrainerConfig.model_validate({k: sae[k] for k in TrainerConfig.model_fields})


@pytest.mark.parametrize("name", NAMES)
def test_config_schema_lives_beside_the_architecture(name):
    cls = ARCHITECTURES[name]
    assert issubclass(cls, SparseAutoencoder) and cls.architecture == name
    assert issubclass(cls.config, SAEConfig)
    assert cls.config.__module__ == cls.__module__ == f"dictlearn.sae.{name}"
    assert all(field.is_required() for field in cls.config.model_fields.values())
    assert COMMON <= set(cls.config.model_fields)


@pytest.mark.parametrize("name", NAMES)
def test_config_validates_from_the_ci_section(name):
    cfg = ci_config(name)
    assert cfg.architecture == name and cfg.d_sae == D_SAE
    raw = section("sae")
    for knob in arch_knobs(name):
        if knob != "k":  # set to 4 above, to fit d_sae
            assert getattr(cfg, knob) == raw[knob], knob
    assert isinstance(cfg.knob_label(), str) and cfg.knob_label()
    other = next(a for a in NAMES if a != name)
    with pytest.raises(ValidationError):  # the tag must be its own architecture
        ARCHITECTURES[name].config.model_validate(cfg.model_dump() | {"architecture": other})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ARCHITECTURES[name].config.model_validate(cfg.model_dump() | {"colour": "red"})


@pytest.mark.parametrize("name", NAMES)
def test_every_knob_is_in_the_ci_section(name):
    raw = section("sae")
    assert check_defaults(raw) == []
    for knob in arch_knobs(name):
        broken = {k: v for k, v in raw.items() if k != knob}
        assert f"sae.{knob}: missing" in " ".join(check_defaults(broken))


@pytest.mark.parametrize("name", NAMES)
def test_builds_from_its_config_and_carries_its_sparsity_coefficient(name):
    cls = ARCHITECTURES[name]
    cfg = ci_config(name)
    sae = sae_from_config(cfg, D_IN)
    assert type(sae) is cls and sae.d_in == D_IN and sae.d_sae == D_SAE
    assert sae.hparams() == build_sae(name, D_IN, D_SAE, **cls.hparams_from_config(cfg)).hparams()
    if cls.sparsity_knob:
        assert cls.sparsity_knob in arch_knobs(name)
        assert sae.sparsity_coeff == getattr(cfg, cls.sparsity_knob)
    else:
        assert sae.sparsity_coeff == 0.0


@pytest.mark.parametrize("name", NAMES)
def test_encode_decode_shapes(name):
    sae = sae_from_config(ci_config(name), D_IN)
    sae.init_weights(torch.Generator().manual_seed(0))
    x = torch.randn(16, D_IN)
    with torch.no_grad():
        f = sae.encode(x)
        assert f.shape == (16, D_SAE) and (f >= 0).all() and sae.decode(f).shape == (16, D_IN)
        assert sae(x).shape == (16, D_IN)


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip_gives_the_same_encodings(name, tmp_path):
    sae = sae_from_config(ci_config(name), D_IN)
    gen = torch.Generator().manual_seed(0)
    sae.init_weights(gen)
    with torch.no_grad():
        sae.b_enc.copy_(torch.randn(D_SAE, generator=gen) * 0.1)
    save_sae(sae, tmp_path, torch.full((D_SAE,), -2.0), {"hook_name": "blocks.0.mlp.hook_post"})
    assert read_cfg(tmp_path)["metadata"]["dictlearn_architecture"] == name
    back = load_sae(tmp_path)
    assert type(back) is type(sae) and back.hparams() == sae.hparams()
    assert back.sparsity_coeff == sae.sparsity_coeff
    x = torch.randn(32, D_IN)
    with torch.no_grad():
        assert torch.equal(back.encode(x), sae.encode(x))
        assert torch.equal(back(x), sae(x))


@pytest.mark.parametrize("name", NAMES)
def test_training_steps_run_and_lower_the_loss(name):
    torch.manual_seed(0)
    sae = sae_from_config(ci_config(name), D_IN)
    sae.init_weights(torch.Generator().manual_seed(0))
    x = torch.randn(256, D_IN) + 0.5
    with torch.no_grad():
        sae.b_dec.copy_(x.mean(0))

    def loss():  # the objective: reconstruction plus the full sparsity penalty
        with torch.no_grad():
            return sae.training_loss(x, sae.sparsity_coeff)[0].item()

    before = loss()
    trainer = SAETrainer(sae, trainer_config(batch_size=256), n_steps=40,
                         device=torch.device("cpu"))
    for _ in range(40):
        parts, counts = trainer.step(x)
        assert "mse" in parts and torch.isfinite(parts["mse"])
        assert counts.shape == (D_SAE,)
    assert all(torch.isfinite(p).all() for p in sae.parameters())
    assert loss() < before


@pytest.mark.parametrize("name", NAMES)
def test_a_knob_of_another_architecture_is_refused(name):
    theirs = set().union(*(arch_knobs(a) for a in NAMES if a != name)) - arch_knobs(name)
    defaults = section("sae")
    for knob in sorted(theirs):
        entry = SAEEntry(model="text", domain="text", architecture=name,
                         **{knob: defaults[knob]})
        with pytest.raises(ValueError, match=rf"saes\.x\.{knob}: not a knob of architecture "
                                             rf"{name}"):
            resolve("x", entry, defaults)
    entry = SAEEntry(model="text", domain="text", architecture=name,
                     **{k: defaults[k] for k in arch_knobs(name)})
    run = resolve("x", entry, defaults)  # its own knobs are fine
    assert run.sae.architecture == name and type(run.sae) is ARCHITECTURES[name].config
