"""Stage check_params: params.yaml validated as a whole before any other stage runs (all of
them depend on this one), then, per stage, the values it reads → data/params/.

A refusal here comes before DVC has touched any other stage's outputs; this stage's own
output is `persist`, so DVC keeps it too. A file is rewritten only when its content changes,
so only the stages whose values changed re-run."""

import argparse
import json
from pathlib import Path

from dictlearn.core.outputs import write_text
from dictlearn.core.runtime import stage_main
from dictlearn.lm.config import check_compilers
from dictlearn.params import load_params
from dictlearn.params.disk import acts_plan, check_disk, describe, gb
from dictlearn.params.memory import memory_lines
from dictlearn.params.resolve import stage_settings


@stage_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    params = load_params(args.params)
    check_compilers(params.train_lm)
    settings = stage_settings(params)  # raises before anything is written
    plan = acts_plan(params)
    url = params.cache_acts.url  # stores at a URL leave only their manifests on this disk
    need = 0 if url else check_disk(plan, Path.cwd())  # a disk too small is refused here too
    changed = []
    for rel, values in settings.items():
        path = args.out / rel
        text = json.dumps(values, indent=1, sort_keys=True) + "\n"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text(path, text)
            changed.append(rel.removesuffix(".json").replace("/", "@", 1))
    wanted = {args.out / rel for rel in settings}
    for stale in sorted(p for p in args.out.rglob("*.json") if p not in wanted):
        stale.unlink()  # a stage removed from params.yaml
    print(f"params valid; new settings for {len(changed)} of {len(settings)} stages"
          + (": " + ", ".join(changed) if changed else ""))
    print(f"activation stores (at most){f', at {url}' if url else ''}:\n  "
          + "\n  ".join(describe(plan))
          + ("" if url else f"\n  still to write, with DVC's cache copy: {gb(need)}")
          + "\nmemory, by estimate (fp32; less under bf16 autocast):\n  "
          + "\n  ".join(memory_lines(params)))


if __name__ == "__main__":
    main()
