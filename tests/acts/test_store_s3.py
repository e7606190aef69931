"""Activation stores on object storage: the same store written to S3 (moto's server, a real S3
API) through zarr's FsspecStore reads back byte-identical, shuffles identically to a local
store, and a manifest in the DVC output folder is what train_sae opens."""

import json

import numpy as np
import pytest
import s3fs
import torch

from dictlearn.acts.manifest import MANIFEST, open_store, run_prefix, write_manifest
from dictlearn.acts.store import ActivationStore
from dictlearn.core.errors import InputError
from test_store import write_store


def test_a_store_on_s3_reads_and_shuffles_as_the_local_one(tmp_path, s3):
    options = {"endpoint_url": s3}
    url = "s3://dictlearn/acts/t/0123/blocks.0.mlp.hook_post.zarr"
    local = write_store(tmp_path / "s.zarr", n=1024)
    assert np.array_equal(write_store(url, n=1024, storage_options=options), local)
    fs = s3fs.S3FileSystem(endpoint_url=s3)
    assert fs.exists(url + "/acts/zarr.json")  # written there, through zarr, not via a copy
    remote, here = ActivationStore(url, options), ActivationStore(tmp_path / "s.zarr")
    assert remote.fetchers > 1 and (remote.n_tokens, remote.d) == (here.n_tokens, here.d)
    assert np.array_equal(remote.read("acts"), local)
    assert np.array_equal(remote.read("label"), here.read("label"))
    got = torch.cat(list(remote.batches(128, 12, buffer_chunks=3, seed=4)))  # > one epoch
    assert torch.equal(got, torch.cat(list(here.batches(128, 12, buffer_chunks=3, seed=4))))
    assert torch.equal(remote.sample(300, seed=2), here.sample(300, seed=2))


def test_the_manifest_leads_train_sae_to_the_remote_store(tmp_path, s3):
    options = {"endpoint_url": s3}
    prefix = run_prefix("s3://dictlearn/acts/", "m", b"weights", "settings")
    assert prefix.startswith("s3://dictlearn/acts/m/") and prefix == run_prefix(
        "s3://dictlearn/acts", "m", b"weights", "settings")  # same inputs, same place
    assert prefix != run_prefix("s3://dictlearn/acts", "m", b"weights", "other settings")
    write_store(f"{prefix}/h.zarr", storage_options=options)
    acts = tmp_path / "data" / "acts" / "m"
    write_manifest(acts, {"h": {"url": f"{prefix}/h.zarr", "sha256": "0", "n_tokens": 1000,
                                "d": 8}}, options)
    assert open_store(acts, "h").n_tokens == 1000
    with pytest.raises(InputError, match=r"no store of g \(it has h\)"):
        open_store(acts, "g")
    spec = json.loads((acts / MANIFEST).read_text())
    spec["stores"]["h"]["url"] = f"{prefix}/gone.zarr"
    (acts / MANIFEST).write_text(json.dumps(spec))
    with pytest.raises(InputError, match=r"gone.zarr: no activation store there.*dvc repro -f "
                       r"cache_acts@m"):
        open_store(acts, "h")
    (acts / MANIFEST).write_text("{")
    with pytest.raises(InputError, match=r"stores.json: not a store manifest.*dvc checkout"):
        open_store(acts, "h")


def test_a_damaged_remote_shard_names_the_store_and_the_fix(tmp_path, s3):
    options = {"endpoint_url": s3}
    url = "s3://dictlearn/acts/broken/h.zarr"
    write_store(url, storage_options=options)
    fs = s3fs.S3FileSystem(endpoint_url=s3)
    shard = sorted(fs.find(url.removeprefix("s3://") + "/acts/c"))[0]
    data = bytearray(fs.cat(shard))
    data[100:140] = bytes(40)
    fs.pipe(shard, bytes(data))
    store = ActivationStore(url, options, restore="rebuild it with `dvc repro -f cache_acts@x`")
    with pytest.raises(InputError, match=r"broken/h.zarr/acts: a shard of the activation store "
                       r"is damaged .*dvc repro -f cache_acts@x"):
        list(store.batches(64, 20, buffer_chunks=2))
