"""The LLM router: RouteLLM's metrics on hand-computed cases, the four strategies, the trained classifier."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from openai_stub import OpenAIStub

from models.base import InputError
from models.embeddings import RememberingEncoder
from models.llm.router import (
    ClassifierRouter,
    LLMRouter,
    RouteDecision,
    RulesRouter,
    SimilarityRouter,
    build_router,
    parse_tier,
)
from models.llm.router_model import RouteClassifier, best_thresholds
from models.llm.routing_metrics import (
    QualityModel,
    apgr,
    cost_share,
    cpt,
    expected_strength,
    operating_pgr,
    pgr,
    pgr_curve,
    routing_accuracy,
)
from models.settings import HybridSettings, MlflowSettings, RouterSettings, TierSettings
from training.router_data import generate_router_prompts, load_examples

THREE = QualityModel(("cheap", "small", "large"), ("code",), partial_credit=0.5)
PAIR = QualityModel(("weak", "strong"))


@pytest.fixture(scope="module")
def encoder() -> RememberingEncoder:
    return RememberingEncoder()


@pytest.fixture(scope="module")
def prompts() -> pd.DataFrame:
    return generate_router_prompts(seed=7)


@pytest.fixture(scope="module")
def slices(prompts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A small stratified train slice and disjoint held-out rows (embedding all 2,400 would be slow)."""
    shuffled = prompts.sample(frac=1.0, random_state=0)
    train = shuffled.groupby("tier", group_keys=False).head(90)
    test = shuffled.drop(train.index).groupby("tier", group_keys=False).head(30)
    return train.reset_index(drop=True), test.reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(slices, encoder) -> RouteClassifier:
    model = RouteClassifier(C=4.0, valid_size=0.2, seed=1)
    model._shared_encoder = encoder
    return model.fit(slices[0][["text", "tier"]])


# ---- metrics, by hand ------------------------------------------------------------------------
def test_quality_model_credits_strong_enough_tiers_in_full_and_one_tier_short_in_part() -> None:
    assert THREE.quality("small", "large") == 1.0
    assert THREE.quality("small", "small") == 1.0
    assert THREE.quality("large", "small") == 0.5
    assert THREE.quality("large", "cheap") == 0.0
    # code needs the code tier or the strongest; one below the strongest is partial
    assert THREE.quality("code", "code") == 1.0
    assert THREE.quality("code", "large") == 1.0
    assert THREE.quality("code", "small") == 0.5
    # a specialist on a general prompt is as good as the weakest tier
    assert THREE.quality("cheap", "code") == 1.0
    assert THREE.quality("small", "code") == 0.5
    assert QualityModel(("a", "b"), partial_credit=0.0).quality("b", "a") == 0.0
    with pytest.raises(InputError, match="unknown tier"):
        THREE.quality("huge", "large")


def test_pgr_is_the_share_of_the_gap_recovered_and_nan_without_a_gap() -> None:
    assert pgr(0.9, 0.8, 1.0) == pytest.approx(0.5)
    assert math.isnan(pgr(0.9, 0.9, 0.9))
    # labels weak, strong; routing both to weak: Q 0.75 (partial credit) = the weakest: PGR 0
    assert operating_pgr(["weak", "strong"], ["weak", "weak"], PAIR) == 0.0
    assert operating_pgr(["weak", "strong"], ["weak", "strong"], PAIR) == 1.0


def test_curve_apgr_and_cpt_match_a_hand_computed_sweep() -> None:
    labels = ["weak", "weak", "strong", "strong"]
    curve = pgr_curve(labels, [0.1, 0.2, 0.8, 0.9], ["weak", "weak", "strong", "strong"], PAIR)
    # quantile thresholds send 4, 3, 2, 1 or 0 prompts to the strong tier; Q(weakest) 0.75, Q(strongest) 1
    points = sorted(set(zip(curve["strong_share"], curve["pgr"].round(6))))
    assert points == [(0.0, 0.0), (0.25, 0.5), (0.5, 1.0), (0.75, 1.0), (1.0, 1.0)]
    # trapezoids: 0.25*(0+0.5)/2 + 0.25*(0.5+1)/2 + 0.5*1 = 0.75
    assert apgr(curve) == pytest.approx(0.75)
    # PGR 0.95 lies between (0.25, 0.5) and (0.5, 1.0): 0.25 + 0.45/0.5*0.25
    assert cpt(curve, 0.95) == pytest.approx(0.475)
    assert cpt(curve, 0.5) == pytest.approx(0.25)


def test_with_three_tiers_the_sweep_routes_between_the_weakest_and_the_strongest() -> None:
    curve = pgr_curve(["small", "large"], [0.2, 0.8], ["small", "large"], THREE)
    # Q(all cheap) = (0.5 + 0) / 2 = 0.25; with only "large" on the strongest tier, "small" goes to cheap: Q 0.75
    points = sorted(set(zip(curve["strong_share"], curve["pgr"].round(4))))
    assert points == [(0.0, 0.0), (0.5, 0.6667), (1.0, 1.0)]
    assert apgr(curve) == pytest.approx(0.5 * (0 + 2 / 3) / 2 + 0.5 * (2 / 3 + 1) / 2)


def test_a_constant_score_sweeps_like_random_routing() -> None:
    labels = ["weak", "strong", "strong", "weak", "strong"]
    curve = pgr_curve(labels, [0.3] * 5, ["weak"] * 5, PAIR)
    assert apgr(curve) == pytest.approx(0.5)


def test_specialist_choices_stay_put_during_the_sweep() -> None:
    curve = pgr_curve(["code", "cheap"], [0.9, 0.1], ["code", "cheap"], THREE)
    assert curve["pgr"].iloc[0] == pytest.approx(1.0)  # no strong calls, yet code went to code
    assert curve["strong_share"].max() == 0.5


def test_accuracy_cost_share_and_expected_strength() -> None:
    assert routing_accuracy(["a", "b", "b", "c"], ["a", "b", "c", "c"]) == 0.75
    assert cost_share(["weak", "strong"], {"weak": 1.0, "strong": 10.0}, PAIR) == pytest.approx(0.55)
    with pytest.raises(InputError, match="no price"):
        cost_share(["weak", "odd"], {"weak": 1.0, "strong": 10.0}, PAIR)
    order = ["cheap", "small", "large"]
    assert expected_strength({"cheap": 0.5, "large": 0.5}, order) == pytest.approx(0.5)
    assert expected_strength({"large": 0.8, "code": 5.0}, order) == pytest.approx(1.0)
    assert expected_strength({"code": 1.0}, order) == 0.0


def test_thresholds_maximise_validation_accuracy_exactly() -> None:
    cuts = best_thresholds(np.array([0.1, 0.2, 0.5, 0.6, 0.9]), np.array(["a", "a", "b", "b", "c"]), ["a", "b", "c"])
    assert cuts == pytest.approx([0.35, 0.75])
    # one noisy row does not move the cut past the majority
    cuts = best_thresholds(np.array([0.1, 0.2, 0.3, 0.7, 0.8]), np.array(["a", "b", "a", "b", "b"]), ["a", "b"])
    assert cuts == pytest.approx([0.5])
    # a tier no row belongs to is never chosen
    assert best_thresholds(np.array([0.2, 0.4]), np.array(["a", "b"]), ["a", "b", "c"])[1] == math.inf


# ---- the labelled prompt set -------------------------------------------------------------------
def test_prompt_set_is_deterministic_sized_and_covers_every_tier(prompts: pd.DataFrame) -> None:
    assert 1500 <= len(prompts) <= 3000
    assert set(prompts["tier"]) == {"cheap", "small", "large", "code"}
    assert list(prompts.columns) == ["text", "tier", "family"]
    assert prompts.groupby("family")["tier"].nunique().max() == 1  # a family is one tier, by construction
    assert generate_router_prompts(seed=7).equals(prompts)
    assert not generate_router_prompts(seed=8).equals(prompts)


# ---- strategies --------------------------------------------------------------------------------
def test_rules_route_obvious_prompts_and_explain_themselves() -> None:
    router = RulesRouter({}, default_tier="small")
    assert router.route("Write a SQL query that counts tickets per intent").tier == "code"
    assert router.route("Compare Premium and Business Plus, pros and cons").tier == "large"
    assert router.route("hi").tier == "cheap"
    fallback = router.route("my parcel never arrived")
    assert (fallback.tier, fallback.strategy) == ("small", "rules")
    assert "default" in fallback.reason
    assert "'compare'" in router.route("COMPARE these two").reason  # case-insensitive, names the match


def test_rules_match_whole_words_count_matches_and_break_ties_by_order() -> None:
    router = RulesRouter({"a": ["hi", "refund"], "b": ["refund", "order", "late"]}, default_tier="z")
    assert router.route("this is it").tier == "z"  # "hi" inside "this" is not a match
    assert router.route("refund").tier == "a"  # tie: the first tier listed
    decision = router.route("late refund for my order")
    assert decision.tier == "b" and decision.scores == {"a": 1.0, "b": 3.0}


def test_similarity_votes_with_the_nearest_examples(encoder: RememberingEncoder) -> None:
    examples = pd.DataFrame({
        "text": ["hello there", "thanks a lot", "good morning",
                 "write a SQL query over the orders table", "regex for order ids", "python function to parse dates",
                 "compare two subscription plans over three years", "analyse why refunds rose last month",
                 "explain the trade-offs between refunding and replacing"],
        "tier": ["cheap"] * 3 + ["code"] * 3 + ["large"] * 3,
    })
    router = SimilarityRouter(examples, encoder, k=3)
    assert router.route("hi, good evening").tier == "cheap"
    assert router.route("SQL to count orders per day").tier == "code"
    decision = router.route("compare the costs of the two plans over two years")
    assert decision.tier == "large" and decision.strategy == "similarity"
    assert sum(decision.scores.values()) == pytest.approx(1.0)
    with pytest.raises(InputError, match="text"):
        SimilarityRouter(examples.rename(columns={"text": "prompt"}), encoder)


def test_classifier_beats_the_constant_baseline_on_held_out_prompts(fitted: RouteClassifier, slices) -> None:
    test = slices[1]
    metrics = fitted.evaluate(test)
    majority = test["tier"].value_counts(normalize=True).max()
    assert metrics["accuracy"] > majority + 0.3
    assert metrics["apgr"] > 0.6 and 0.0 <= metrics["strong_share"] <= 1.0
    assert metrics["n_samples"] == len(test)
    predicted = fitted.predict(test[["text"]].set_index(test.index + 100))
    assert list(predicted.index) == list(test.index + 100)
    assert predicted["complexity"].between(0, 1).all()
    assert np.allclose(predicted.filter(like="p_").sum(axis=1), 1.0)
    # the complexity score orders the tiers: cheap prompts score lower than large ones on average
    mean = predicted.assign(tier=test["tier"].to_numpy()).groupby("tier")["complexity"].mean()
    assert mean["cheap"] < mean["small"] < mean["large"]
    assert set(fitted.figures(test)) == {"pgr_curve.png", "confusion_matrix.png"}


def test_classifier_router_and_round_trip(fitted: RouteClassifier, slices, tmp_path, encoder) -> None:
    router = ClassifierRouter(fitted)
    decision = router.route("Compare Premium and Business Plus for 12 people over two years, with annual billing")
    assert isinstance(decision, RouteDecision) and decision.strategy == "classifier"
    assert decision.tier == "large" and 0.0 <= decision.complexity <= 1.0 and "complexity" in decision.reason
    assert router.route("regex that matches order IDs like ORD-1234567").tier == "code"
    fitted.save(tmp_path / "router")
    loaded = RouteClassifier.load(tmp_path / "router")
    loaded._shared_encoder = encoder
    batch = slices[1][["text"]].head(20)
    pd.testing.assert_frame_equal(loaded.predict(batch), fitted.predict(batch))
    assert loaded.get_params() == fitted.get_params()


def test_any_label_set_works_with_its_own_order(slices, encoder) -> None:
    def two_tiers(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[frame["tier"] != "code"]
        return frame.assign(tier=frame["tier"].map({"cheap": "weak", "small": "weak", "large": "strong"}))[["text", "tier"]]

    train, test = two_tiers(slices[0]), two_tiers(slices[1])
    model = RouteClassifier(tier_order=["weak", "strong"], valid_size=0.2)
    model._shared_encoder = encoder
    model.fit(train)
    assert model.ordered_tiers_ == ["weak", "strong"] and model.specialist_tiers_ == []
    assert set(model.predict(test[["text"]])["tier"]) <= {"weak", "strong"}
    assert model.evaluate(test)["accuracy"] > 0.8
    # labels outside tier_order: ordered by frequency (most frequent weakest), with a warning saying how to fix it
    unordered = RouteClassifier(valid_size=0.2)
    unordered._shared_encoder = encoder
    with pytest.warns(UserWarning, match="tier_order"):
        unordered.fit(train)
    assert unordered.ordered_tiers_ == ["weak", "strong"]  # 180 weak rows against 90 strong


def test_bad_input_says_what_to_do(fitted: RouteClassifier) -> None:
    with pytest.raises(InputError, match="at least 2"):
        RouteClassifier().fit(pd.DataFrame({"text": ["a", "b"], "tier": ["x", "x"]}))
    with pytest.raises(InputError, match="tier"):
        RouteClassifier().fit(pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"]}))
    with pytest.raises(InputError, match="never appeared"):
        fitted.evaluate(pd.DataFrame({"text": ["hello"], "tier": ["huge"]}))
    with pytest.raises(RuntimeError, match="not fitted"):
        RouteClassifier().predict(pd.DataFrame({"text": ["hi"]}))
    with pytest.raises(InputError, match="empty"):
        RulesRouter({}, "small").route("   ")
    with pytest.raises(InputError, match="string"):
        ClassifierRouter(fitted).route(None)  # type: ignore[arg-type]
    assert fitted.predict(pd.DataFrame({"text": []})).empty


# ---- LLM-as-router, against a real OpenAI-compatible HTTP server --------------------------------
def test_parse_tier_accepts_one_named_tier_only() -> None:
    tiers = ["cheap", "small", "large", "code"]
    assert parse_tier("Large.", tiers) == "large"
    assert parse_tier("`code`", tiers) == "code"
    assert parse_tier("I would pick the small tier", tiers) == "small"
    assert parse_tier("small or large", tiers) is None
    assert parse_tier("medium", tiers) is None


def test_llm_router_asks_a_tier_and_falls_back_on_failure_or_nonsense() -> None:
    from models.llm.gateway import LLMGateway

    fallback = RulesRouter({}, default_tier="small")
    with OpenAIStub(reply="large") as stub:
        tier = TierSettings(base_url=stub.base_url, model="stub-model", max_retries=0, timeout_s=5)
        gateway = LLMGateway({"small": tier}, backoff_s=0.0)
        router = LLMRouter(gateway, "small", ["cheap", "small", "large", "code"], fallback)

        decision = router.route("Compare the two plans for my team")
        assert (decision.tier, decision.strategy) == ("large", "llm")
        system = stub.requests[-1]["messages"][0]["content"]
        assert "cheap, small, large, code" in system
        assert stub.requests[-1]["messages"][-1]["content"] == "Compare the two plans for my team"

        stub.reply = lambda messages: "maybe small, maybe large"
        unclear = router.route("write a regex for order ids")
        assert (unclear.tier, unclear.strategy) == ("code", "rules")
        assert "names no tier" in unclear.reason and "fell back to rules" in unclear.reason

        stub.fail_next(status=500, times=1)
        failed = router.route("hi")
        assert (failed.tier, failed.strategy) == ("cheap", "rules")
        assert "failed" in failed.reason


# ---- built from the settings --------------------------------------------------------------------
def _settings(tmp_path, **router) -> HybridSettings:
    return HybridSettings(mlflow=MlflowSettings(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                                                artifact_root=tmp_path / "artifacts"),
                          router=RouterSettings(**router))


def test_the_trained_router_orders_tiers_as_the_router_does(tmp_path) -> None:
    from models.catalog import build_capability

    model = build_capability("llm_router", _settings(tmp_path, tier_order=["weak", "strong"], specialist_tiers=[]))
    assert model.tier_order == ["weak", "strong"]


def test_build_router_follows_the_strategy(tmp_path, monkeypatch, encoder) -> None:
    from models.settings import get_settings
    from models.registry import connect_store

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rules = build_router(_settings(tmp_path, strategy="rules", rules={"large": ["invoice"]}, default_tier="cheap"))
    assert rules.route("my invoice is wrong").tier == "large" and rules.route("hello").tier == "cheap"

    examples = tmp_path / "examples.jsonl"
    pd.DataFrame({"text": ["hello", "sql query please"], "tier": ["cheap", "code"]}).to_json(examples, orient="records", lines=True)
    similarity_settings = _settings(tmp_path, strategy="similarity", examples=str(examples))
    similar = build_router(similarity_settings, encoder=encoder, examples=load_examples(similarity_settings))
    assert similar.strategy == "similarity" and similar.route("write me a sql query").tier == "code"
    with pytest.raises(InputError, match="examples"):
        build_router(similarity_settings, encoder=encoder)

    try:
        no_champion = build_router(_settings(tmp_path, strategy="classifier"))
        decision = no_champion.route("Write a SQL query for refunds")
        assert decision.strategy == "rules" and decision.tier == "code"
        assert "no llm_router champion: run `hybrid train llm-router`" in decision.reason
    finally:
        monkeypatch.undo()
        connect_store(get_settings())  # MLflow keeps the last store process-wide; point it back

    from models.llm.gateway import LLMGateway

    gateway = LLMGateway({"large": TierSettings(base_url="http://127.0.0.1:9/v1", model="m")})
    with pytest.raises(InputError, match="llm_tier"):
        build_router(_settings(tmp_path, strategy="llm", llm_tier="small"), gateway=gateway)


# ---- goals instead of accuracy ------------------------------------------------------------------
def _noisy_strong(frame: pd.DataFrame) -> pd.DataFrame:
    """Two in three `large` prompts relabelled `small`, at random: the strongest tier is needed on only a
    third of the prompts that look like it, so the most accurate cuts send almost none there."""
    large = frame.index[frame["tier"] == "large"]
    relabelled = np.random.default_rng(3).choice(large, size=2 * len(large) // 3, replace=False)
    return frame.assign(tier=frame["tier"].mask(frame.index.isin(relabelled), "small"))[["text", "tier"]]


def _router(encoder, train: pd.DataFrame, **params) -> RouteClassifier:
    model = RouteClassifier(valid_size=0.2, seed=1, **params)
    model._shared_encoder = encoder
    return model.fit(train)


def test_a_strong_budget_sets_the_strongest_tiers_share_where_accuracy_leaves_it_idle(slices, encoder, tmp_path) -> None:
    train, test = _noisy_strong(slices[0]), _noisy_strong(slices[1])
    accurate, budgeted = _router(encoder, train), _router(encoder, train, strong_budget=0.2)
    assert accurate.operating_point_["goal"] == "accuracy" and accurate.operating_point_["goal_value"] is None
    point = budgeted.operating_point_
    assert (point["goal"], point["goal_value"]) == ("strong_budget", 0.2)
    assert 0.12 <= point["strong_share"] <= 0.2 and point["tier_shares"]["large"] == point["strong_share"]
    assert sum(point["tier_shares"].values()) == pytest.approx(1.0)
    # only the cut in front of the strongest tier moved
    assert budgeted.thresholds_[:-1] == [min(c, budgeted.thresholds_[-1]) for c in accurate.thresholds_[:-1]]
    shares = {name: model.evaluate(test)["strong_share"] for name, model in (("accuracy", accurate), ("budget", budgeted))}
    assert abs(shares["budget"] - 0.2) <= 0.08 and shares["budget"] > shares["accuracy"] + 0.05, shares

    budgeted.save(tmp_path / "budgeted")
    loaded = RouteClassifier.load(tmp_path / "budgeted")
    assert loaded.operating_point_ == point and loaded.get_params() == budgeted.get_params()


def test_a_quality_target_takes_the_fewest_strong_calls_that_reach_it(fitted: RouteClassifier, slices, encoder) -> None:
    targeted = _router(encoder, slices[0][["text", "tier"]], quality_target=0.9)
    point = targeted.operating_point_
    assert point["goal"] == "quality_target" and point["pgr"] >= 0.9
    # the most accurate cuts recover more than 0.9 here, so the target needs no more strong calls than they make
    assert fitted.operating_point_["pgr"] >= 0.9 and point["strong_share"] <= fitted.operating_point_["strong_share"]
    with pytest.warns(UserWarning, match="out of reach"):
        unreachable = _router(encoder, slices[0][["text", "tier"]], quality_target=1.0)
    assert unreachable.operating_point_["pgr"] < 1.0 and unreachable.operating_point_["strong_share"] > point["strong_share"]


def test_goals_are_one_at_a_time_and_in_range() -> None:
    with pytest.raises(InputError, match="strong_budget.*quality_target"):
        RouteClassifier(strong_budget=0.2, quality_target=0.9)
    with pytest.raises(InputError, match=r"\(0, 1\]"):
        RouteClassifier(strong_budget=0.0)
    with pytest.raises(InputError, match="non-decreasing"):
        RouteClassifier(thresholds=[0.6, 0.3])


def test_settings_thresholds_override_the_tuned_cuts(fitted: RouteClassifier, slices, encoder) -> None:
    from models.catalog import build_capability
    from models.settings import LLMRouterSettings

    model = build_capability("llm_router", HybridSettings(llm_router=LLMRouterSettings(thresholds=[0.0, 0.0])))
    model._shared_encoder = encoder
    model.fit(slices[0][["text", "tier"]])
    assert model.thresholds_ != [0.0, 0.0] and model.operating_thresholds == [0.0, 0.0]
    texts = slices[1]["text"].head(40).tolist()
    before, after = ClassifierRouter(fitted).route_many(texts), ClassifierRouter(model).route_many(texts)
    assert {d.tier for d in after} <= {"large", "code"} and "large" in {d.tier for d in after}
    assert {d.tier for d in before} - {"large", "code"}  # the tuned cuts use the weaker tiers too
    assert all("[0.00, 1)" in d.reason for d in after if d.tier == "large")
    model.thresholds = [0.5]  # one cut for three ordered tiers
    with pytest.raises(InputError, match="need 2 cut"):
        model.predict(pd.DataFrame({"text": ["hi"]}))
