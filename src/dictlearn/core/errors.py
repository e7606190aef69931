"""The two failures a user can fix, each one line naming the key or file and the remedy."""

from pathlib import Path


class ParamsError(ValueError):
    """params.yaml (or a profile) is not what the pipeline expects; the message names the key."""


class InputError(ValueError):
    """A missing or corrupt input file; the message names the file and what restores it."""


# the stage that writes data/<kind>/<name> (dvc.yaml), to name the command that restores it
_WRITER = {"corpus": "fetch_corpus", "params": "check_params", "prepared": "prepare@{}",
           "models": "train_lm@{}", "acts": "cache_acts@{}", "saes": "train_sae@{}",
           "evals": "eval_sae@{}", "universality": "universality", "culture_loop": "culture_loop",
           "toy": "toy@{}", "report": "report"}


def restore_hint(path: object) -> str:
    """How to get a damaged or missing pipeline output back: from DVC's cache, or rebuilt."""
    parts = Path(str(path)).parts
    if "data" in parts and len(parts) > parts.index("data") + 1:
        i = parts.index("data")
        kind = parts[i + 1]
        name = parts[i + 2] if len(parts) > i + 2 else ""
        if kind in _WRITER:
            out = Path(*parts[:i + 2], *([name] if "{}" in _WRITER[kind] else []))
            stage = _WRITER[kind].format(name)
            return f"restore it with `dvc checkout {out}`, or rebuild it with `dvc repro -f {stage}`"
    return "restore it with `dvc checkout`, or re-run the stage that writes it"


def damaged(path: object, err: BaseException, what: str, hint: str | None = None) -> InputError:
    """One line for a file that exists but cannot be read, and how to restore it (`hint`,
    where its path does not say, e.g. a store at a URL)."""
    first = (str(err).strip().splitlines() or [""])[0][:200]
    return InputError(f"{path}: {what} is damaged ({type(err).__name__}: {first}); "
                      + (hint or restore_hint(path)))
