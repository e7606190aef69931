"""A tour of a finished run's features through the notebook API (dictlearn.api), reading only
what `dvc repro` wrote: no training, no network. Run it from a repository after `make repro`
(or on any profile's run):

    python examples/explore_features.py [RUN_DIR]

Each step is a cell you could paste into a notebook."""

import sys

import numpy as np
import pandas as pd

from dictlearn import open_run
from dictlearn.domains.culture.tasks import generate

pd.set_option("display.width", 120)
run = open_run(sys.argv[1] if len(sys.argv) > 1 else ".")
print("models:", run.models)
print("SAEs:", run.saes)

# 1. Which features fire on a line of Python, token by token
text_sae = next(name for name, model in run.saes.items() if run.models[model] == "text")
acts = run.sae(text_sae).activations("def foo(x):\n    return x + 1")
strongest = acts.max().sort_values(ascending=False).head(3)
print(f"\n{text_sae}: {acts.shape[0]} tokens × {acts.shape[1]} features; strongest:")
print(acts[strongest.index].round(2))

# 2. The strongest one: where it fires on held-out text, what removing it does, and steering
feature = run.feature(text_sae, int(strongest.index[0]))
print(f"\n{feature}: top contexts")
print(feature.top_contexts(5))
for mode in ("zero", "mean"):
    effect = feature.ablate(5, mode=mode)
    print(f"{mode}-ablated on {effect['contexts']} contexts: next-token loss "
          f"{effect['loss_change']:+.4f}; promoted {[t for t, _ in effect['promoted']]}, "
          f"suppressed {[t for t, _ in effect['suppressed']]}")
print("steered ×4:", feature.steer(4.0, "def ", max_new_tokens=20))

# 3. A culture quiz: one of Fleuret's replace_color quizzes, freshly generated
culture_sae = next((name for name, model in run.saes.items()
                    if run.models[model] == "culture"), None)
if culture_sae:
    quiz = generate("replace_color", 1, np.random.default_rng(0))[0]  # [4, 10, 10]
    acts = run.sae(culture_sae).activations(quiz)
    answer = acts.iloc[-100:]  # the 100 cells of f(B)
    top = answer.mean().sort_values(ascending=False).head(3)
    print(f"\n{culture_sae}: features most active over the answer grid:", top.round(3).to_dict())
