"""The README's results come from the committed metrics/ (python -m dictlearn.results)."""

import json

from conftest import ROOT
from dictlearn import results


def test_readme_matches_the_committed_metrics():
    assert results.main(["--readme", str(ROOT / "README.md"), "--metrics",
                         str(ROOT / "metrics"), "--check"]) == 0, \
        "README.md results differ from metrics/: run `python -m dictlearn.results`"


def test_a_changed_metric_makes_the_check_fail(tmp_path):
    metrics = tmp_path / "metrics" / "saes" / "x" / "eval"
    metrics.mkdir(parents=True)
    values = {"l0": 12.0, "explained_variance": 0.8, "ce_loss_recovered": 0.9,
              "dead_fraction": 0.01}
    (metrics / "metrics.json").write_text(json.dumps(values))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{results.START}\n{results.END}\nrest\n")
    assert results.main(["--readme", str(readme), "--metrics", str(tmp_path / "metrics")]) == 0
    assert "| x | 12.0 | 0.800 | 0.900 | 0.010 | – |" in readme.read_text()
    assert results.main(["--readme", str(readme), "--metrics", str(tmp_path / "metrics"),
                         "--check"]) == 0
    (metrics / "metrics.json").write_text(json.dumps({**values, "l0": 40.0}))
    assert results.main(["--readme", str(readme), "--metrics", str(tmp_path / "metrics"),
                         "--check"]) == 1
    assert readme.read_text().startswith("intro\n") and readme.read_text().endswith("rest\n")


def test_culture_models_get_a_table_of_quiz_accuracy_per_task(tmp_path):
    from dictlearn.results import quiz_table

    (tmp_path / "culture-0/train_lm").mkdir(parents=True)
    (tmp_path / "culture-0/train_lm/metrics.json").write_text(json.dumps({
        "accuracy_greedy": 0.1, "cell_accuracy_greedy": 0.9, "accuracy_frame_greedy": 0.5,
        "cell_accuracy_frame_greedy": 0.98, "accuracy_order0_greedy": 0.2,
        "accuracy_frame_t1": 0.1, "cell_accuracy_frame_t1": 0.9}))
    assert quiz_table(tmp_path) == ["| model | frame |", "|---|---|",
                                    "| culture-0 | 0.50 (0.980) |"]
    assert quiz_table(tmp_path / "nothing") == []


def test_each_tasks_curve_is_extrapolated_to_its_target_and_orders_get_a_table(tmp_path):
    import math

    from dictlearn.results import models_table, order_table, reach_table, tokens_to

    # logit(acc) = -40 + 2.5 ln(tokens): 0.44 at 8M tokens, 0.9 at exp((ln 9 + 40) / 2.5)
    law = [(t, 1 / (1 + math.exp(40 - 2.5 * math.log(t)))) for t in (2e6, 4e6, 6e6, 8e6)]
    assert math.isclose(tokens_to(law), math.exp((math.log(9) + 40) / 2.5), rel_tol=1e-9)
    assert tokens_to([(1e6, 0.3), (2e6, 0.3), (4e6, 0.3)]) is None  # flat: never
    assert tokens_to([(1e6, 0.0), (2e6, 0.0)]) is None  # nothing solved yet: no fit
    barely = [(2e6, 0.50), (4e6, 0.501)]

    run = tmp_path / "culture-0/train_lm"
    (run / "plots/metrics/quiz").mkdir(parents=True)
    for task, curve in (("frame", law), ("detect", [(t, 0.3) for t, _ in law]), ("grow", barely),
                        ("replace_color", [(t, 0.95) for t, _ in law])):
        (run / f"plots/metrics/quiz/{task}.tsv").write_text(
            f"step\t{task}\n" + "".join(f"{t:.0f}\t{a}\n" for t, a in curve))
    (run / "metrics.json").write_text(json.dumps({
        "train_tokens": 8_000_000, "accuracy_frame_greedy": law[-1][1],
        "accuracy_detect_greedy": 0.3, "accuracy_replace_color_greedy": 0.95,
        **{f"accuracy_order{i}_greedy": i / 10 for i in range(4)}}))
    # resumed at half way: the seconds time half the tokens, at the 20k tokens/s measured
    (run / "timing.json").write_text(json.dumps({"train_seconds": 200.0,
                                                 "train_tokens_per_s": 20_000.0}))
    need = tokens_to(law)
    assert reach_table(tmp_path) == [
        "| model | detect | frame | grow | replace_color |", "|---|---|---|---|---|",
        f"| culture-0 | not rising | {need / 1e6:,.0f}M tokens, {need / 2e4 / 60:,.0f} min | "
        "> 100× its tokens | reached (0.95) |"]
    assert order_table(tmp_path)[2] == "| culture-0 | 0.00 | 0.10 | 0.20 | 0.30 |"
    assert models_table(tmp_path)[2].endswith("| 8,000,000 | 6.7 |")  # all 8M tokens' minutes


def test_the_culture_loop_row_gives_each_generation(tmp_path):
    from dictlearn.report.build import _culture_loop_html
    from dictlearn.results import studies_table

    acc = {"culture-0": {"all": 0.2, "frame": 0.4}, "culture-1": {"all": 0.4, "frame": 0.6}}
    loop = {"enabled": True, "generation_0": {"accuracy": acc},
            "generation_1": {"made_quizzes": 1, "generated": 64, "trivial": 3, "kept": 5,
                             "kept_total": 5, "accuracy": acc},
            "generation_2": {"made_quizzes": 1, "generated": 32, "trivial": 0, "kept": 2,
                             "kept_total": 7, "accuracy": {m: {"all": 0.5} for m in acc},
                             "by_model": {"culture-0": {"understood": 0.25},
                                          "culture-1": {"understood": 0.5}}}}
    (tmp_path / "culture_loop").mkdir()
    (tmp_path / "culture_loop/metrics.json").write_text(json.dumps(loop))
    assert studies_table(tmp_path)[2] == (
        "| culture loop (2 generations) | quizzes kept of written, per generation: 5 of 64 "
        "(3 trivial), 2 of 32 (0 trivial); the largest share of them a model understands "
        "0.500; mean held-out accuracy 0.300 before, 0.500 after re-training |")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder/index.html").write_text("<p>quizzes</p>")
    (tmp_path / "site").mkdir()
    html = _culture_loop_html(tmp_path / "folder", tmp_path / "culture_loop/metrics.json",
                              tmp_path / "site")
    assert html.count("<tr>") == 4 and "accuracy culture-1" in html
    assert (tmp_path / "site/culture_loop.html").read_text() == "<p>quizzes</p>"


def test_bench_tables_show_the_measured_l0_each_side_and_skipped_peers(tmp_path):
    from dictlearn.results import bench_sae

    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "sae.json").write_text(json.dumps({"shapes": {"k": 32}}))  # an earlier format
    assert "not yet measured with this bench" in bench_sae(tmp_path)
    rate = {"best": 200.0, "median": 150.0, "rates": [200.0, 150.0, 100.0]}
    (bench / "sae.json").write_text(json.dumps({
        "shapes": {"d_in": 8, "d_sae": 64, "batch": 16, "k": 4, "dtype": "float32"},
        "steps_per_call": 2, "rounds": 3, "threads": 1, "torch": "2", "saelens": None,
        "allocator": "default", "skipped": {"SAELens": "build its venv"},
        "encoder_only_tokens_per_s": rate,
        "architectures": {"relu@L0=8": {"ours": {**rate, "l0": 7.5, "l0_per_call": [8, 7.5]},
                                        "fraction_of_encoder_only": 0.5}},
        "machine": {"cores": 2, "load_before": 0.1, "load_after": 0.9}}))
    table = bench_sae(tmp_path)
    assert ("| relu (b_enc shifted, aimed at L0 8) | 200 (150) | 7.5 | skipped | – | – | 0.50 |"
            in table)
    assert "Skipped SAELens: build its venv." in table


def test_frequency_table_gives_the_fit_and_the_rare_cluster_test(tmp_path):
    from dictlearn.results import frequency_table

    for name, rare in (("a", {"rare_count": 3, "rare_mean_cosine": 0.9,
                              "random_mean_cosine": 0.2}),
                       ("b", {"rare_count": 0, "rare_mean_cosine": None,
                              "random_mean_cosine": None})):
        (tmp_path / "saes" / name / "eval").mkdir(parents=True)
        (tmp_path / "saes" / name / "eval" / "metrics.json").write_text(json.dumps(
            {"rank_frequency_slope": -1.234, "rank_frequency_r2": 0.9, **rare}))
    rows = frequency_table(tmp_path)
    assert rows[2:] == ["| a | -1.23 | 0.90 | 3 | 0.900 | 0.200 |",
                        "| b | -1.23 | 0.90 | 0 | – | – |"]
    assert frequency_table(tmp_path / "nothing") == []


def test_a_dictionary_family_gets_a_row_per_family(tmp_path):
    from dictlearn.results import studies_table

    (tmp_path / "families").mkdir()
    (tmp_path / "families/metrics.json").write_text(json.dumps({"text-topk": {
        "text-topk-x2": {"live_parents": 700, "live_features": 1400, "mean_best_cosine": 0.71,
                         "close_fraction": 0.5, "mean_children": 1.4, "split_parents": 120},
        "text-topk-x4": {"live_parents": 1400, "live_features": 2900, "mean_best_cosine": None,
                         "close_fraction": None, "mean_children": None, "split_parents": 0}}}))
    assert studies_table(tmp_path)[2] == (
        "| dictionary family text-topk, each member against the one before | text-topk-x2: mean "
        "best cosine 0.710, children 0.500 of its live features, 120 parents split; "
        "text-topk-x4: mean best cosine –, children – of its live features, 0 parents split |")


def test_culture_task_probe_ranks_tasks_alone_then_mixes(tmp_path):
    (tmp_path / "bench").mkdir()
    assert "no metrics/bench/culture_tasks.json" in results.culture_tasks(tmp_path)

    def task(acc, cells, copy):
        return {"quiz_greedy": [[100, acc / 2], [200, acc]], "accuracy_greedy": acc,
                "cell_accuracy_greedy": cells, "cell_accuracy_copy": copy}

    def run(**per_task):
        return {"tasks": list(per_task), "steps": 2, "seed": 0, "train_tokens": 200,
                "minutes": 2.5, "by_order": {"0": 0.1, "1": 0.5, "2": 0.2, "3": 0.4},
                "per_task": per_task}

    (tmp_path / "bench" / "culture_tasks.json").write_text(json.dumps({
        "recipe": {"profile": "default.yaml", "batch_size": 16, "eval_per_task": 100},
        "machine": {"cores": 2},
        "runs": {"grow@2/seed0": run(grow=task(0.0, 0.9, 0.8)),
                 "fill@2/seed0": run(fill=task(0.0, 0.9, 0.6)),
                 "fill+grow@2/seed0": run(fill=task(0.5, 0.99, 0.6), grow=task(0.2, 0.95, 0.8))}}))
    table = results.culture_tasks(tmp_path).splitlines()
    assert "2 cores" in table[0] and "100 held-out" in table[0]
    # alone, most of the copy answer's errors removed first (fill 0.75, grow 0.50); then mixes
    assert table[4] == ("| alone | 200 | fill | 0.00 | 0.900 (0.600) | 0.75 | 0.00 | "
                        "0.10 / 0.50 / 0.20 / 0.40 | 2.5 |")
    assert table[5].startswith("| alone | 200 | grow | 0.00 | 0.900 (0.800) | 0.50 |")
    assert table[6].startswith("| fill + grow | 200 | fill | 0.50 |")
    assert table[7] == "|  |  | grow | 0.20 | 0.950 (0.800) | 0.75 | 0.10 |  |  |"


def test_headline_ranges_span_the_models_and_split_inverse_from_forward_orders(tmp_path):
    from dictlearn.results import headline_table

    for i, (acc, frame, inv, fwd) in enumerate(((0.4, 0.5, 0.8, 0.1), (0.6, 0.95, 0.9, 0.3))):
        run = tmp_path / f"culture-{i}/train_lm"
        run.mkdir(parents=True)
        (run / "metrics.json").write_text(json.dumps({
            "accuracy_greedy": acc, "accuracy_t1": acc / 2, "accuracy_frame_greedy": frame,
            "cell_accuracy_frame_greedy": 0.99, "train_tokens": 600_000,
            **{f"accuracy_order{o}_greedy": inv if o in (1, 3) else fwd for o in range(4)}}))
        (run / "timing.json").write_text(json.dumps({"train_tokens_per_s": 1000.0 * (i + 1)}))
    rows = headline_table(tmp_path)
    assert "| culture models (2), greedy quiz accuracy, all tasks | 0.40–0.60 |" in rows
    assert "| the same at temperature 1 | 0.20–0.30 |" in rows
    assert "| greedy, frame | 0.50–0.95 |" in rows
    # (f(A), A, f(B), B) and (f(B), B, f(A), A) ask for a grid before the rule
    assert "| greedy, inverse orders (1, 3) | 0.80–0.90 |" in rows
    assert "| greedy, forward orders (0, 2) | 0.10–0.30 |" in rows
    assert "| model and task at ≥ 0.9 greedy | culture-1 frame |" in rows
    assert "| culture train minutes per model | 5.0–10.0 |" in rows
    assert headline_table(tmp_path / "nothing") == []


def test_ci_repro_bench_gives_seconds_by_kind_beside_start_up(tmp_path):
    (tmp_path / "bench").mkdir()
    assert "no metrics/bench/ci_repro.json" in results.bench_ci_repro(tmp_path)
    (tmp_path / "bench" / "ci_repro.json").write_text(json.dumps({
        "repro_seconds": 200.4, "target_seconds": 180.0, "meets_target": False, "stages": 3,
        "seconds_by_kind": {"train_sae": 24.0, "report": 9.5},
        "startup_seconds": {"train_sae": 4.0, "report": 7.0}, "startup_floor_seconds": 15.0,
        "startup_share": 0.075, "dvc_status_seconds": {"libyaml": 2.0, "pure_python": 3.0},
        "dvc_status_speedup_libyaml": 1.5,
        "stage_seconds": {"train_sae@a": 12.0, "train_sae@b": 12.0, "report": 9.5},
        "machine": {"cores": 2, "load_before": 0.5, "load_after": 1.1}}))
    block = results.bench_ci_repro(tmp_path)
    assert "| train_sae | 2 | 24.0 | 4.0 |" in block and "| report | 1 | 9.5 | 7.0 |" in block
    assert "200 s in all (target 180 s)" in block and "15 s of it (8%)" in block
    assert "2.00 s with libyaml, 3.00 s" in block and "(1.50×;" in block
