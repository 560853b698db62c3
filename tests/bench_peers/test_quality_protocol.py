"""bench/quality.py's protocol: one test read per run after training, a record per run, their
aggregation, the fair tables, and the README table regenerated from quality.json."""

import json
from pathlib import Path

import pytest

import quality
import readme_results
from _quality_report import report_md
from _quality_runs import Run, load_runs, mixed_configs, save_run, summarize
from tests.training.synthetic import markov_dataset


def _run(table_dataset: str, variant: str, seed: int, ndcg: float, **extra: object) -> Run:
    metrics = {"hr@10": 2 * ndcg, "ndcg@10": ndcg}
    return Run(table_dataset, "attune", seed, metrics, 1.0, 0.5, variant=variant, **extra)  # type: ignore[arg-type]


def test_a_baseline_run_reads_the_test_targets_once_after_fitting() -> None:
    run = quality.run_baseline("popular", markov_dataset(n_users=40), seed=0)
    assert run.selection_reads_test == 0 and run.test_reads == 1
    assert run.config == {"model": "popular"} and run.commit and run.date
    assert 0.0 <= run.metrics["ndcg@10"] <= run.metrics["hr@10"] <= 1.0


def test_an_attune_variant_trains_without_attributes_and_peeks_nowhere(tmp_path: Path) -> None:
    dataset = markov_dataset(n_users=40, attributes=True)
    run = quality.run_attune(dataset, "attune1", "noattr", 0, "cpu", True, tmp_path)
    assert run.selection_reads_test == 0 and run.test_reads == 1
    assert not run.item_attributes and run.config["model"]["item_attributes"] is False
    assert run.config["model"]["members"] == 1 and run.table == "markov-noattr"
    assert len(run.curve) == quality.QUICK_EPOCHS


def test_combinations_run_variants_for_attune_only() -> None:
    combos = quality.combinations(["beauty", "beauty-noattr"], ["attune", "popular"], [0, 1])
    assert combos == [
        ("beauty", "attune", 0),
        ("beauty", "attune", 1),
        ("beauty", "popular", 0),
        ("beauty-noattr", "attune", 0),
        ("beauty-noattr", "attune", 1),
    ]


def test_records_aggregate_per_table_with_reads_summed(tmp_path: Path) -> None:
    config = {"model": {"dim": 64}, "train": {"seed": 0}}
    runs = [
        _run("beauty", "default", 0, 0.05, item_attributes=True, config=config),
        _run("beauty", "default", 1, 0.07, item_attributes=True, config=config),
        _run("beauty", "noattr", 0, 0.04, selection_reads_test=2),
    ]
    for run in runs:
        save_run(run, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir())[0] == "beauty__default__attune__seed0.json"
    metrics = summarize(load_runs(tmp_path))
    assert metrics["beauty/attune/ndcg@10"] == pytest.approx(0.06)
    assert metrics["beauty/attune/ndcg@10_std"] == pytest.approx(0.01)
    assert metrics["beauty/attune/seeds"] == 2 and metrics["beauty-noattr/attune/seeds"] == 1
    assert metrics["beauty/attune/item_attributes"] == 1.0
    assert metrics["beauty-noattr/attune/item_attributes"] == 0.0
    assert metrics["selection_reads_test"] == 2
    assert mixed_configs(load_runs(tmp_path)) == []
    other = _run("beauty", "default", 2, 0.06, config={"model": {"dim": 32}, "train": {}})
    assert mixed_configs([*runs, other]) == ["beauty/attune"]


def test_the_fair_table_shows_both_variants_beside_the_published_rows() -> None:
    seeds = [_run("beauty", "default", s, 0.06 + s / 100, item_attributes=True) for s in (0, 2)]
    metrics = summarize(seeds)
    md = report_md(metrics, ["beauty"], ["attune"])
    fair = md.split("### beauty")[1].split("###")[0]
    assert (
        "| Attune (default config), `beauty` | yes | 0.1400 ± 0.0200 | 0.0700 ± 0.0100 | 2 |"
        in fair
    )
    assert "| Attune (default config), `beauty-noattr` | no | not run yet |" in fair
    assert "| *BSARec* (BSARec log, one seed) | no | 0.1008 | 0.0611 |" in fair
    assert "popularity" not in fair


def test_the_readme_table_comes_from_quality_json(tmp_path: Path) -> None:
    metrics = {
        "beauty/attune/hr@10": 0.1,
        "beauty/attune/ndcg@10": 0.06,
        "beauty/attune/item_attributes": 1.0,
        "beauty-noattr/attune/hr@10": 0.09,
        "beauty-noattr/attune/ndcg@10": 0.055,
        "beauty/ials/hr@10": 0.06,
        "beauty/ials/ndcg@10": 0.03,
        "beauty/itemknn/hr@10": 0.07,
        "beauty/itemknn/ndcg@10": 0.02,
    }
    results = tmp_path / "quality.json"
    results.write_text(json.dumps({"metrics": metrics}))
    table = readme_results.results_table(json.loads(results.read_text())["metrics"])
    lines = table.splitlines()
    assert lines[0].startswith("| dataset | item attributes | Attune HR@10 / NDCG@10 |")
    assert lines[2] == (
        "| Beauty | yes | 0.1000 / 0.0600 | not run yet | iALS 0.0600 / 0.0300 "
        "| BSARec 0.1008 / 0.0611 |"
    )
    assert lines[3].startswith("| Beauty | no | 0.0900 / 0.0550 | not run yet | iALS")
    assert "| Sports | yes | not run yet | not run yet | not run yet | eSASRec" in table
    assert lines[-1].startswith("| Scientific (never tuned on) | yes | not run yet |")
    readme = f"intro\n{readme_results.BEGIN}\nold table\n{readme_results.END}\nrest\n"
    assert readme_results.rewrite(readme, table) == (
        f"intro\n{readme_results.BEGIN}\n{table}\n{readme_results.END}\nrest\n"
    )
