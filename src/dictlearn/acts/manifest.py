"""Activation stores at a URL (cache_acts.url): where cache_acts writes them, and the manifest
it leaves in the DVC output data/acts/<model> so that DVC versions the stores it cannot hash.

A run's stores go under <url>/<model>/<run>/<hook>.zarr, `run` a digest of what they are made
of (the model's weights, the token ids, the cache settings): a re-run on the same inputs
rewrites the same bytes in place, while other inputs get a new prefix, so the manifest of an
older commit still points at its own stores. The manifest names each store's URL and the
sha256 of its rows; a change of content changes the manifest, and DVC re-runs what reads it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dictlearn.acts.store import ActivationStore, store_path
from dictlearn.core.errors import InputError, restore_hint
from dictlearn.core.outputs import write_json

MANIFEST = "stores.json"


def run_prefix(url: str, model: str, *parts: bytes | str) -> str:
    """<url>/<model>/<digest of parts>: where one run of cache_acts@<model> writes."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return f"{url.rstrip('/')}/{model}/{h.hexdigest()[:16]}"


def write_manifest(out: Path, stores: dict[str, dict], storage_options: dict) -> None:
    """out/stores.json: {hook: {url, sha256, n_tokens, d}} and the fsspec options to open them
    (never credentials: the schema refuses them; they come from the environment)."""
    write_json(out / MANIFEST, {"stores": stores, "storage_options": storage_options})


def open_store(acts: Path, hook: str) -> ActivationStore:
    """The store of `hook` in a model's activation folder: the zarr folder inside it, or the
    remote store its manifest names."""
    manifest = Path(acts) / MANIFEST
    if not manifest.is_file():
        return ActivationStore(store_path(acts, hook))
    try:
        spec = json.loads(manifest.read_text(encoding="utf-8"))
        entry, options = spec["stores"].get(hook), spec["storage_options"]
    except (OSError, ValueError, KeyError, AttributeError) as err:
        raise InputError(f"{manifest}: not a store manifest ({type(err).__name__}: {err}); "
                         + restore_hint(manifest)) from None
    if entry is None:
        raise InputError(f"{manifest}: no store of {hook} (it has {', '.join(spec['stores'])}); "
                         + restore_hint(manifest))
    return ActivationStore(entry["url"], options, restore="rebuild it with `dvc repro -f "
                           f"cache_acts@{Path(acts).name}`")
