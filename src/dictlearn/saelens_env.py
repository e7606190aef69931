"""SAELens in a virtualenv of its own, made once and cached.

SAELens 6.54.12 pins transformer-lens < 4, which cannot share our venv (we use
TransformerLens 4), so the interop tests and the SAE bench run SAELens in a subprocess with
the python of a separate venv. torch is installed first and pinned: an unpinned torch would
pull gigabytes of CUDA wheels.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SAELENS_VERSION = "6.54.12"
TORCH_VERSION = "2.13.0"
DEFAULT_DIR = Path.home() / ".cache" / "dictlearn" / f"saelens-{SAELENS_VERSION}-venv"
READY_MARKER = ".dictlearn-ready"


class SAELensUnavailable(RuntimeError):
    """The SAELens venv could not be built (no network, no registry); the message says why."""


def saelens_venv_dir() -> Path:
    return Path(os.environ.get("DICTLEARN_SAELENS_VENV", DEFAULT_DIR))


def saelens_python(build: bool = True, timeout_s: float = 1800) -> Path:
    """Path of a python that can `import sae_lens`; builds the venv on first use."""
    venv = saelens_venv_dir()
    python = venv / "bin" / "python"
    if (venv / READY_MARKER).is_file() and python.is_file():
        return python
    if not build:
        raise SAELensUnavailable(f"{venv}: no SAELens venv (build it with saelens_python())")
    # a half-built venv from a killed run is rebuilt from scratch (`--clear`)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", f"torch=={TORCH_VERSION}"],
        [str(python), "-m", "pip", "install", "--quiet", f"sae-lens=={SAELENS_VERSION}",
         f"torch=={TORCH_VERSION}"],
        [str(python), "-c", "import sae_lens"],
    ]
    for cmd in steps:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise SAELensUnavailable(f"`{' '.join(cmd)}` took over {timeout_s:.0f}s") from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise SAELensUnavailable(f"`{' '.join(cmd[:5])}` failed: " + " | ".join(tail))
    (venv / READY_MARKER).write_text(f"sae-lens=={SAELENS_VERSION} torch=={TORCH_VERSION}\n")
    return python
