"""The whole pipeline as a user runs it: `dvc repro` on profiles/ci.yaml in a fresh git repo,
then a sweep knob that must re-run only the SAE stages."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from dictlearn.params.smoke import seed_repo

pytestmark = pytest.mark.e2e


def sh(cmd, cwd, timeout=900):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    proc = subprocess.run(cmd, cwd=cwd, shell=True, capture_output=True, text=True, env=env,
                          timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def out_hashes(repo: Path) -> dict[str, str]:
    import yaml

    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {o["path"]: o["md5"] for st in lock["stages"].values() for o in st.get("outs", [])}


def ran(log: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", log))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = seed_repo(ROOT, tmp_path_factory.mktemp("repo"),
                     (ROOT / "profiles" / "ci.yaml").read_text(), "init")
    yield repo
    # the queued sweep's workers, should a test stop before it ends
    subprocess.run("dvc queue stop --kill", cwd=repo, shell=True, capture_output=True,
                   env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                        f"{os.environ['PATH']}"})


def test_repro_from_nothing_then_sweep_only_reruns_sae(repo):
    import yaml

    log = sh("dvc repro", repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    saes = {f"{stage}@{name}" for stage in ("train_sae", "eval_sae")
            for name in params["saes"]} | {"frontier", "universality", "families"}
    toys = {f"toy@{sweep}" for sweep in params["toy"]["sweeps"]}
    assert ran(log) == {"check_params", "fetch_corpus", "culture_loop", "report"} | saes | toys | {
        f"{stage}@{name}" for stage, name in tuple(("prepare", d) for d in params["prepare"])
        + tuple((s, m) for s in ("train_lm", "cache_acts") for m in params["models"])}
    assert "up to date" in sh("dvc status", repo)

    # formats a user can open with the ecosystem's own tools
    assert (repo / "data/models/text/model.safetensors").is_file()
    assert (repo / "data/acts/text/blocks.1.mlp.hook_post.zarr/zarr.json").is_file()
    cfg = json.loads((repo / "data/saes/text/cfg.json").read_text())
    assert cfg["architecture"] == "standard" and cfg["metadata"]["hook_name"]
    assert json.loads((repo / "data/saes/text-topk-16/cfg.json").read_text())["k"] == 16
    # each model caches exactly the hooks its SAEs read: the strokes SAE reads attn.hook_z
    assert [p.name for p in (repo / "data/acts/strokes").glob("*.zarr")] == [
        "blocks.1.attn.hook_z.zarr"]
    assert [p.name for p in (repo / "data/acts/text").glob("*.zarr")] == [
        "blocks.1.mlp.hook_post.zarr"]
    strokes = json.loads((repo / "data/saes/strokes/cfg.json").read_text())
    assert strokes["metadata"]["hook_name"] == "blocks.1.attn.hook_z"
    assert strokes["reshape_activations"] == "hook_z" and cfg["reshape_activations"] == "none"
    assert json.loads((repo / "metrics/saes/strokes/eval/metrics.json").read_text())[
        "explained_variance"] > 0
    metrics = json.loads((repo / "metrics/saes/text/eval/metrics.json").read_text())
    for key in ("explained_variance", "mse", "l0", "dead_fraction", "dense_fraction",
                "ce_loss_clean", "ce_loss_spliced", "ce_loss_zero", "ce_loss_recovered",
                "shrinkage"):
        assert key in metrics
    assert metrics["explained_variance"] > 0.3
    topk = json.loads((repo / "metrics/saes/text-topk-16/eval/metrics.json").read_text())
    assert topk["l0"] <= 16 + 1e-6
    frontier = (repo / "metrics/frontier/explained_variance.tsv").read_text().splitlines()
    assert frontier[0].startswith("model\tsite\tlayer\tarchitecture\tsae")
    assert len(frontier) == 1 + len(params["saes"])
    universality = json.loads((repo / "metrics/universality/metrics.json").read_text())
    assert universality["models"] == 2
    assert 0 <= universality["features"]["universal_share"] <= 1
    assert json.loads((repo / "metrics/culture_loop/metrics.json").read_text()) == {
        "enabled": False}  # off on the ci profile
    culture = json.loads((repo / "metrics/culture-0/train_lm/metrics.json").read_text())
    for key in ("accuracy_greedy", "accuracy_t1", "accuracy_translate_greedy",
                "accuracy_order3_t1", "val_loss"):
        assert 0 <= culture[key] <= (1 if "accuracy" in key else 10), key
    # per-task learning curves against training tokens, for `dvc plots show`
    curve = (repo / "metrics/culture-0/train_lm/plots/metrics/quiz/translate.tsv").read_text()
    header, *points = curve.splitlines()
    assert header == "step\ttranslate" and len(points) >= 2
    assert int(points[-1].split("\t")[0]) == culture["train_tokens"]
    site = repo / "data/report"
    html = (site / "index.html").read_text()
    assert 'href="saes/text-topk-16/index.html"' in html and "data:image/png;base64," in html
    assert "Universality across models" in html
    # the dictionary family: each larger member's features matched to parents in the smaller
    members = [n for n, e in params["saes"].items() if e.get("family") == "text-topk"]
    record = json.loads((repo / "data/families/text-topk.json").read_text())
    assert [m["name"] for m in record["members"]] == members and len(members) >= 2
    pair = json.loads((repo / "metrics/families/metrics.json").read_text())["text-topk"][
        members[1]]
    assert pair["live_features"] > 0 and -1 <= pair["mean_best_cosine"] <= 1
    assert len(record["pairs"][0]["parent"]) == record["members"][1]["d_sae"]
    assert 'href="families/text-topk.html"' in html
    assert "Splitting trees" in (site / "families/text-topk.html").read_text()
    assert 'class="feature-row"' in (site / "saes/text/index.html").read_text()
    culture_page = next((site / "saes/culture-0/f").glob("*.html")).read_text()
    assert 'class="grid-ctx"' in culture_page  # culture contexts drawn as grids
    strokes_page = next((site / "saes/strokes/f").glob("*.html")).read_text()
    assert 'class="strokes-ctx"' in strokes_page and "<svg" in strokes_page  # handwriting
    assert 'class="stroke-sample"' in html  # the strokes model's samples, drawn
    strokes = json.loads((repo / "metrics/strokes/train_lm/metrics.json").read_text())
    assert 0 <= strokes["stroke_accuracy"] <= 1 and 0 <= strokes["stroke_accuracy_heldout"] <= 1
    samples = (repo / "metrics/text/train_lm/samples.md").read_text()
    assert "'def '" in samples

    # big outputs are linked from the DVC cache, not copied
    st = os.lstat(repo / "data/models/text/model.safetensors")
    assert st.st_nlink > 1 or os.path.islink(repo / "data/models/text/model.safetensors")

    sh("git add -A && git commit -qm baseline", repo)

    # determinism: forcing stages to run again reproduces their outputs bit for bit
    before = out_hashes(repo)
    sh("dvc repro -f -s prepare@text train_lm@text train_sae@text eval_sae@text", repo)
    after = out_hashes(repo)
    for path in ("data/prepared/text", "data/models/text", "data/saes/text", "data/evals/text"):
        assert before[path] == after[path], f"{path} differs between two runs"
    # timings are not metrics: re-running with the same params changes no metric
    assert json.loads(sh("dvc metrics diff --json", repo)) == {}
    sh("git checkout -q HEAD -- dvc.lock metrics", repo)  # autostage staged the new lock

    # a sweep of two values of the knob users type, queued now and run side by side in the
    # background while the next tests use the workspace (each queued experiment runs in its
    # own temporary copy); the last test waits for it and checks it. The first runs the whole
    # pipeline; the second only what the text SAE's evaluation needs (a target, as a user
    # looking at one SAE runs it), which keeps the suite's CPU time in bounds
    sh("dvc exp run --queue -S sae.l1_coeff=0.5 -n l1-0_5", repo)
    sh("dvc exp run --queue -S sae.l1_coeff=2.0 -n l1-2_0 eval_sae@text", repo)
    sh("dvc queue start -j 2 >/dev/null 2>&1", repo)  # workers outlive it: not on our pipes


def check_params(repo: Path, monkeypatch) -> None:
    """stages/check_params.py, as `dvc repro check_params` runs it, in this process (its
    interpreter start and imports paid once, not once per edit)."""
    import runpy

    with monkeypatch.context() as m:
        m.chdir(repo)
        m.setattr(sys, "argv", ["check_params.py", "--out", "data/params"])
        runpy.run_path(str(repo / "stages/check_params.py"), run_name="__main__")


def changed_by(repo: Path, edit: str, monkeypatch) -> set[str]:
    """The stages `dvc status` reports (DVC's own Repo.status, which the command prints) after
    one params edit (applied with sed) once check_params has resolved it; the edit is then
    undone."""
    from dvc.repo import Repo

    sh(f"sed -i -E '{edit}' params.yaml && ! git diff --quiet params.yaml", repo)
    try:
        check_params(repo, monkeypatch)
        with monkeypatch.context() as m, Repo(str(repo)) as dvc:
            m.chdir(repo)  # status names stages relative to the working directory
            return set(dvc.status()) - {"check_params"}
    finally:
        sh("git checkout -q params.yaml", repo)
        check_params(repo, monkeypatch)


def test_each_knob_reruns_only_what_reads_it(repo, monkeypatch):
    edits = {  # one knob each; what must re-run directly (their consumers follow)
        r"s/^  l1_coeff: 3.0/  l1_coeff: 1.0/": {  # the ReLU entries without an override
            "train_sae@text", "train_sae@culture-0", "train_sae@culture-1", "train_sae@strokes",
            "frontier"},
        r"s/^  k: 32/  k: 24/": {  # the family's members; text-topk-16 overrides k
            "train_sae@text-topk-x1", "train_sae@text-topk-x2", "frontier"},
        r"s/(text-topk: \{min_cosine: )0.7/\10.5/": {"families"},
        r"s/(text-topk-16: .*k: )16/\18/": {"train_sae@text-topk-16", "frontier"},
        r"s/^    jitter: 0.2/    jitter: 0.3/": {"prepare@strokes"},
        r"/^  culture:/,/^  strokes:/s/^    lr: 0.003/    lr: 0.002/": {
            "train_lm@culture-0", "train_lm@culture-1"},
        r"s/(LR1: \{k: )64/\148/": {"toy@LR1"},
    }
    for edit, expected in edits.items():
        assert changed_by(repo, edit, monkeypatch) == expected, edit
    assert "up to date" in sh("dvc status", repo)  # the command agrees, every edit undone


def test_bad_params_delete_nothing(repo):
    before = {p: p.read_bytes() for p in (repo / "metrics").rglob("*") if p.is_file()}
    (repo / "metrics/saes/text/eval/notes.json").write_text('{"not committed": 1}')
    for edit, key in ((r"s/^  l1_coeff: 3.0/  l1_coef: 3.0/", "sae.l1_coef: unknown key"),
                      (r"s/^  l1_coeff: 3.0/  l1_coeff: -1/", "sae.l1_coeff: Input should be"),
                      (r"s/^  d_sae: 512/  d_sae: lots/", "sae.d_sae: Input should be"),
                      (r"s/(text-topk-x2: .*size: )2/\10.5/", "saes.text-topk-x2.size: 0.5 is "
                                                            "below 1")):
        sh(f"sed -i -E '{edit}' params.yaml", repo)
        proc = subprocess.run("dvc repro", cwd=repo, shell=True, capture_output=True, text=True,
                              env={**os.environ, "PATH": f"{Path(sys.executable).parent}"
                                   f"{os.pathsep}{os.environ['PATH']}"})
        sh("git checkout -q params.yaml", repo)
        assert proc.returncode != 0 and key in proc.stdout + proc.stderr, edit
        assert "Running stage 'check_params'" in proc.stdout
        assert ran(proc.stdout) == {"check_params"}, edit
        for path, data in before.items():
            assert path.read_bytes() == data, f"{path} changed after a refused run"
        assert (repo / "metrics/saes/text/eval/notes.json").is_file()
    (repo / "metrics/saes/text/eval/notes.json").unlink()
    assert "up to date" in sh("dvc status", repo)


def test_python_api_reads_the_run_and_its_example_runs(repo):
    """examples/explore_features.py, as a user runs it on their run, then the API's refusals."""
    from dictlearn import open_run

    out = sh(f"python {ROOT / 'examples' / 'explore_features.py'} .", repo)
    assert "tokens × 512 features" in out
    for seen in ("top contexts", "zero-ablated on", "mean-ablated on", "steered ×4:",
                 "culture-0: features most active over the answer grid"):
        assert seen in out, seen
    run = open_run(repo)
    assert run.saes["culture-0"] == "culture-0" and run.models["strokes"] == "strokes"
    acts = run.sae("text").activations("def f")
    assert acts.shape[1] == 512 and list(acts.index.names) == ["position", "token"]
    with pytest.raises(KeyError, match="sae 'nope': no such SAE"):
        run.sae("nope")
    with pytest.raises(IndexError, match="feature 512 of text: out of range"):
        run.feature("text", 512)
    with pytest.raises(ValueError, match="prompt: empty"):
        run.sae("text").activations("")
    with pytest.raises(TypeError, match="culture-0 is a culture model"):
        run.sae("culture-0").activations("def f")


def test_a_pushed_run_is_pulled_by_a_fresh_clone_with_nothing_to_rerun(repo, tmp_path, s3):
    """The committed run shared as DVC shares it: `dvc push` to an S3 remote (dvc-s3, against
    moto's local S3 API), then fresh clones either pull every output or let `dvc repro --pull
    --allow-missing` fetch what it needs, and find nothing to re-run."""
    import s3fs

    remote = "s3://dictlearn/dvcstore"
    add = f"dvc remote add -d store {remote} && dvc remote modify store endpointurl {s3}"
    sh(add.replace("dvc remote add", "dvc remote add --local").replace(
        "dvc remote modify", "dvc remote modify --local"), repo)  # HEAD stays the baseline
    sh("dvc push", repo)
    assert s3fs.S3FileSystem(endpoint_url=s3).find("dictlearn/dvcstore"), "dvc push wrote nothing"
    for name, fetch in (("pulled", "dvc pull"), ("lazy", "dvc repro --pull --allow-missing")):
        clone = tmp_path / name
        sh(f"git clone -q {repo} {clone}", tmp_path)
        sh(add, clone)
        log = sh(fetch, clone)
        assert "Running stage" not in log, log[-2000:]  # nothing re-run, in either clone
    assert "up to date" in sh("dvc status", tmp_path / "pulled")
    assert (tmp_path / "pulled/data/models/text/model.safetensors").is_file()
    assert json.loads((tmp_path / "pulled/data/saes/text/cfg.json").read_text()) == json.loads(
        (repo / "data/saes/text/cfg.json").read_text())


def test_activation_stores_on_s3_train_the_same_sae(repo, tmp_path, s3):
    """cache_acts.url puts a model's stores in object storage (zarr over fsspec): cache_acts
    streams them there, DVC versions their manifest, and train_sae, reading them back from S3,
    trains exactly the SAE it trained from the local stores."""
    import s3fs
    import yaml

    clone = tmp_path / "clone"
    sh(f"git clone -q {repo} {clone}", tmp_path)
    sh(f"dvc cache dir --local {repo / '.dvc' / 'cache'} && dvc checkout -q", clone)
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["cache_acts"].update(url="s3://dictlearn/acts", storage_options={"endpoint_url": s3})
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    log = sh("dvc repro train_sae@strokes", clone)
    assert ran(log) == {"check_params", "cache_acts@strokes", "train_sae@strokes"}, log[-2000:]
    assert "at s3://dictlearn/acts" in log
    acts = clone / "data/acts/strokes"
    assert sorted(p.name for p in acts.iterdir()) == ["stores.json"]  # no zarr on this disk
    manifest = json.loads((acts / "stores.json").read_text())
    (hook, entry), = manifest["stores"].items()
    assert entry["url"].startswith("s3://dictlearn/acts/strokes/") and hook in entry["url"]
    assert s3fs.S3FileSystem(endpoint_url=s3).exists(entry["url"] + "/acts/zarr.json")
    metrics = "metrics/saes/strokes/train/metrics.json"
    assert json.loads((clone / metrics).read_text()) == json.loads((repo / metrics).read_text())
    assert "strokes" not in sh("dvc status cache_acts@strokes train_sae@strokes", clone)


def test_sweep_reruns_only_the_saes_that_read_it_and_queues_run_in_parallel(repo):
    # the sweep queued by the first test
    deadline = time.time() + 600
    while time.time() < deadline:
        status = sh("dvc queue status", repo)
        if not re.search(r"\b(Queued|Running)\b", status):
            break
        time.sleep(3)
    assert status.count("Success") >= 2, status
    relu = {"text", "culture-0", "culture-1", "strokes"}  # the entries that read sae.l1_coeff
    assert ran(sh("dvc queue logs l1-0_5", repo)) == {
        "check_params", "frontier", "universality", "families", "report"} | {
        f"{s}@{n}" for s in ("train_sae", "eval_sae") for n in relu}
    assert ran(sh("dvc queue logs l1-2_0", repo)) == {
        "check_params", "train_sae@text", "eval_sae@text"}

    rows = json.loads(sh("dvc exp show --json", repo))
    found = {}
    for rev in rows:
        for exp in rev.get("experiments") or []:
            for run in exp.get("revs", []):
                data = run.get("data", {})
                params = data.get("params", {}).get("params.yaml", {}).get("data", {})
                metrics = data.get("metrics", {}).get(
                    "metrics/saes/text/eval/metrics.json", {}).get("data", {})
                if metrics:
                    found[params["sae"]["l1_coeff"]] = metrics["l0"]
    assert {0.5, 2.0} <= set(found), found
    assert found[0.5] > found[2.0]  # a weaker penalty leaves more features on
    table = sh("dvc exp show --csv", repo)  # one row per experiment: params and metrics
    for column in ("sae.l1_coeff", "explained_variance", "ce_loss_recovered"):
        assert column in table

    # one experiment brought into the workspace, reviewed as in a pull request
    sh("dvc exp apply l1-0_5", repo)
    changed = json.loads(sh("dvc metrics diff --json", repo))
    assert "l0" in changed.get("metrics/saes/text/eval/metrics.json", {})
    assert "metrics/saes/text-topk-16/eval/metrics.json" not in changed
    assert "sae.l1_coeff" in sh("dvc params diff", repo)
    plots = sh("dvc plots show --json", repo)
    assert "train/l0" in plots and "metrics/frontier/explained_variance.tsv" in plots
    assert "metrics/frontier/frontier.png" in plots
