"""dcgan.study.plan: parsing the study's flags, its runs, the refusal of another study, mean and std over seeds."""

from __future__ import annotations

import math
import statistics

import pytest

from dcgan.augment import DEFAULT_POLICY
from dcgan.errors import ConfigError
from dcgan.study.plan import (
    AUGMENT_MODES,
    Budget,
    Run,
    Settings,
    check_limits,
    check_same_study,
    mean_std,
    metric_values,
    parse_augments,
    parse_limits,
    parse_sets,
    summarise,
)


def test_limits_are_sorted_deduplicated_with_all_last() -> None:
    assert parse_limits("5000,100,all,1000,100") == (100, 1000, 5000, "all")
    assert parse_limits(" ALL ") == ("all",)
    assert parse_limits("7") == (7,)


@pytest.mark.parametrize("text", ["0", "-3", "abc", "1.5", "", "100,,all", "100, x"])
def test_bad_limits_name_the_flag(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^--limits "):
        parse_limits(text)


def test_augment_modes_keep_their_order_and_map_to_config_values() -> None:
    assert parse_augments("fixed,none,fixed") == ("fixed", "none")
    assert AUGMENT_MODES == {"none": "", "fixed": DEFAULT_POLICY, "ada": "ada"}
    for text in ("sideways", "", "none,", "color"):
        with pytest.raises(ConfigError, match=r"^--augment "):
            parse_augments(text)


def test_sets_are_typed_by_the_config_fields() -> None:
    sets = parse_sets(["g-channels=8", "lr_g=1e-3", "spectral_norm=yes", "loss=hinge", "channels=none"])
    assert sets == {"g_channels": 8, "lr_g": 0.001, "spectral_norm": True, "loss": "hinge", "channels": None}
    for bad, words in [
        ("nope=1", "KEY=VALUE"),
        ("g_channels", "KEY=VALUE"),
        ("g_channels=x", "takes a whole number"),
        ("spectral_norm=maybe", "takes true or false"),
        ("seed=3", "use --seeds"),
        ("epochs=3", "use --epochs"),
        ("extra=x", "KEY=VALUE"),
    ]:
        with pytest.raises(ConfigError, match=r"^--set ") as e:
            parse_sets([bad])
        assert words in str(e.value), (bad, str(e.value))


def test_one_budget_at_most() -> None:
    assert Budget(steps=3).as_dict() == {"steps": 3} and Budget().as_dict() == {}
    with pytest.raises(ConfigError, match="^--seconds and --epochs: give one training budget"):
        Budget(seconds=5, epochs=2)
    for kw in ({"seconds": 0.0}, {"seconds": math.inf}, {"epochs": 0}, {"steps": -1}):
        with pytest.raises(ConfigError, match=f"^--{next(iter(kw))} "):
            Budget(**kw)


def test_runs_and_their_folders_and_config_fields() -> None:
    s = Settings(data="synthetic", limits=(16, "all"), augments=("none", "fixed"), seeds=2)
    names = [r.name for r in s.runs()]
    assert names[:3] == ["16-none-seed0", "16-none-seed1", "16-fixed-seed0"] and names[-1] == "all-fixed-seed1"
    assert len(names) == 8
    assert Run("all", "fixed", 1).overrides("d") == {"data": "d", "limit": None, "augment": DEFAULT_POLICY, "seed": 1}
    assert Run(16, "none", 0).overrides("d")["limit"] == 16


def test_limits_beyond_the_data_are_refused() -> None:
    check_limits((10, 60, "all"), 60, "--data x")
    with pytest.raises(ConfigError, match=r"^--limits 10,100,all: --data x has only 60 training images"):
        check_limits((10, 100, "all"), 60, "--data x")


def test_another_study_is_refused_naming_what_differs() -> None:
    s = Settings(data="synthetic", limits=(16, 32), seeds=2, budget=Budget(steps=3))
    check_same_study(s.identity(), s, "out")
    other = Settings(data="synthetic", limits=(16, 64), seeds=2, budget=Budget(seconds=9))
    with pytest.raises(ConfigError) as e:
        check_same_study(s.identity(), other, "out")
    message = str(e.value)
    assert message.startswith("--out out holds another study (--limits: 16,32 there, 16,64 now; the budget")
    assert "--seeds" not in message and "another --out" in message and "\n" not in message


def test_mean_and_sample_std() -> None:
    stats = mean_std([1.0, 2.0, 4.0])
    assert stats["mean"] == pytest.approx(7 / 3) and stats["n"] == 3
    assert stats["std"] == pytest.approx(statistics.stdev([1.0, 2.0, 4.0]))
    assert mean_std([5.0]) == {"mean": 5.0, "std": None, "n": 1, "values": [5.0]}
    with pytest.raises(ValueError):
        mean_std([])


def test_summary_groups_finished_runs_by_limit_and_mode() -> None:
    s = Settings(data="synthetic", limits=(16, "all"), augments=("none", "fixed"), seeds=2)

    def rec(limit, mode, seed, fid, status="done"):
        return {"limit": limit, "augment": mode, "seed": seed, "status": status, "images": 16 if limit == 16 else 99}

    records = [
        dict(rec(16, "none", 0, 1), metrics={"fid": 10.0, "kid": 0.1, "kid_std": 0.01}),
        dict(rec(16, "none", 1, 1), metrics={"fid": 14.0, "kid": 0.3, "kid_std": 0.02}),
        dict(rec("all", "fixed", 0, 1), metrics={"fid": 3.0, "kid": 0.0, "kid_std": 0.0}),
        dict(rec("all", "fixed", 1, 1, status="trained")),
    ]
    rows = summarise(records, s)
    assert [(r["limit"], r["augment"], r["images"], r["seeds"]) for r in rows] == [
        (16, "none", 16, [0, 1]),
        ("all", "fixed", 99, [0]),
    ]
    assert rows[0]["metrics"]["fid"]["mean"] == 12.0 and rows[0]["metrics"]["kid"]["mean"] == pytest.approx(0.2)
    assert rows[0]["metrics"]["fid"]["std"] == pytest.approx(math.sqrt(8)) and "kid_std" not in rows[0]["metrics"]
    assert rows[1]["metrics"]["fid"] == {"mean": 3.0, "std": None, "n": 1, "values": [3.0]}


def test_metric_values_keep_the_metrics_numbers_only() -> None:
    result = {"metrics": ["fid", "kid"], "fid": 12.5, "kid": 0.25, "kid_std": 0.01, "kid_subsets": 100, "step": 3}
    assert metric_values(result) == {"fid": 12.5, "kid": 0.25, "kid_std": 0.01}
