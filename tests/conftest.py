"""Shared tiny fixtures: a corpus, a prepared text dataset, a trained-for-a-moment model;
and settings built from the ci profile (schemas have no defaults: every field is explicit)."""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any, TypeVar

import pytest
import torch
import yaml
from pydantic import BaseModel

from dictlearn.corpus.fetch import MANIFEST, sha256_text
from dictlearn.domains.text.config import TextPrepare
from dictlearn.lm.config import TrainLM

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# under pytest-xdist (`make test` runs two workers) each worker gets one of the two cores, and
# so does every process it starts (stages, `dvc repro`, the sweep's queue workers): with two
# OpenMP threads each, four such processes on two cores spend their time waiting at barriers
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else
                      min(2, torch.get_num_threads()))


def pytest_collection_modifyitems(config, items):
    """The end-to-end tests first: they are the longest file, so under xdist one worker starts
    them at once while the other works through the unit tests."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)


_yielding = []


@pytest.fixture(autouse=True)
def _unit_tests_yield_to_e2e(request):
    """Under xdist the end-to-end chain is the suite's critical path: a worker that starts on
    unit tests lowers its priority (and its subprocesses'), so they fill the cores' idle time
    instead of slowing the chain down."""
    if (os.environ.get("PYTEST_XDIST_WORKER") and not _yielding
            and request.node.get_closest_marker("e2e") is None):
        os.nice(10)
        _yielding.append(True)

PY = '''def greet(name):
    """Say hello to <script>alert('x')</script> & friends."""
    if name is None:
        raise ValueError("name")
    return f"hello {name}"


class Counter:
    def __init__(self):
        self.n = 0

    def add(self, k=1):
        self.n += k
        return self.n
'''

PLAY = '''Rom.
But soft! what light through yonder window breaks?
It is the east, and Juliet is the sun!

Jul.
O Romeo, Romeo! wherefore art thou Romeo?
Deny thy father and refuse thy name.
'''


def write_corpus(root: Path, repeat: int = 40) -> Path:
    files = []
    for label, name, text in (("python", "a.py", PY), ("shakespeare", "play.txt", PLAY)):
        body = text * repeat
        rel = Path(label) / name
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(body, encoding="utf-8")
        files.append({"path": rel.as_posix(), "label": label, "sha256": sha256_text(body),
                      "source": "test"})
    (root / MANIFEST).write_text(json.dumps({"files": files}), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@functools.cache
def _profile_text(name: str) -> str:
    return (ROOT / "profiles" / f"{name}.yaml").read_text(encoding="utf-8")


def profile(name: str = "ci") -> dict[str, Any]:
    """profiles/<name>.yaml as raw params (a fresh copy: edit it freely)."""
    return yaml.safe_load(_profile_text(name))


def section(*path: str, name: str = "ci") -> dict[str, Any]:
    """One section of a profile, e.g. section("prepare", "text") (a fresh copy)."""
    out: Any = profile(name)
    for key in path:
        out = out[key]
    return copy.deepcopy(out)


S = TypeVar("S", bound=BaseModel)


def from_ci(schema: type[S], *path: str, **overrides: Any) -> S:
    """`schema` validated from the ci profile's section at `path`, some fields overridden."""
    return schema.model_validate(section(*path) | overrides)


def sae_run(architecture: str, **overrides: Any):
    """The settings an SAE of `architecture` trains with: the ci profile's `sae` section with
    `overrides` (any `sae` key: trainer knobs, d_sae, or this architecture's knobs)."""
    from dictlearn.sae.settings import SAEEntry, resolve

    defaults = section("sae") | {"architecture": architecture} | overrides
    return resolve("test", SAEEntry(model="text", domain="text"), defaults)


def identity_sae(d: int):
    """ReLU(x) - ReLU(-x) = x exactly: a perfect reconstruction with 2·d features."""
    from dictlearn.sae import build_sae

    sae = build_sae("relu", d, 2 * d)
    eye = torch.eye(d)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], dim=1))
        sae.W_dec.copy_(torch.cat([eye, -eye], dim=0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


TINY_PREPARE = from_ci(TextPrepare, "prepare", "text", vocab_size=300, seq_len=32,
                       val_fraction=0.2, max_tokens_per_label=0, seed=0)
TINY_LM = from_ci(TrainLM, "train_lm", "text", n_layer=2, n_head=2, n_embd=32, batch_size=8,
                  steps=30, lr=3e-3, warmup_steps=5, eval_every=1000, eval_batches=2)


@pytest.fixture(scope="session")
def prepared(corpus, tmp_path_factory) -> Path:
    from dictlearn.domains import get_domain

    out = tmp_path_factory.mktemp("prepared")
    get_domain("text").prepare(TINY_PREPARE, corpus, out)
    return out


@pytest.fixture(scope="session")
def checkpoint(prepared, tmp_path_factory) -> Path:
    from dictlearn.lm.checkpoint import build_gpt2, load_tokenizer
    from dictlearn.lm.train import train_lm
    from dictlearn.domains.prepared import load_split

    tok = load_tokenizer(prepared)
    train, val = load_split(prepared, "train"), load_split(prepared, "validation")
    torch.manual_seed(0)
    model = build_gpt2(TINY_LM, len(tok), train.seq_len, tok.eos_token_id)
    train_lm(model, train.ids, val.ids, val.labels, train.label_names, TINY_LM,
             torch.device("cpu"), seed=0)
    out = tmp_path_factory.mktemp("model")
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def s3():
    """A real S3 API on localhost (moto's standalone server) with one bucket, `dictlearn`:
    yields its endpoint URL; credentials are dummies in the environment, as a user's would be,
    so that the subprocesses (dvc, stages) inherit them."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                            "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1")
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="dictlearn")
    yield endpoint
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def kill_at_checkpoint(cmd: list[str], state: Path, ready, env: dict) -> dict:
    """Run `cmd` and SIGKILL it once its checkpoint `state` (a state.json) satisfies
    `ready(meta)`; returns the checkpoint it was killed at. Fails if the run ends first."""
    import signal
    import subprocess
    import time

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        try:  # (absent for a moment while a save swaps it in)
            meta = json.loads(state.read_text())
        except (OSError, ValueError):
            meta = None
        if meta is not None and ready(meta):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    assert proc.wait() == -signal.SIGKILL, "the run ended before a checkpoint could be killed"
    return json.loads(state.read_text())
