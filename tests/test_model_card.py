"""The shipped model's card agrees with the files beside it: no figure outlives its model."""
import argparse
import hashlib
import json
import shlex

import pytest

from model.cli import data_cmd
from model.card import PRETRAINED_PATH
from model.data.synth import SynthConfig

CARD = PRETRAINED_PATH.with_suffix(".json")
REPORT = PRETRAINED_PATH.with_suffix(".eval") / "report.json"


@pytest.fixture(scope="module")
def card():
    return json.loads(CARD.read_text(encoding="utf-8"))


def _parse_make_data(command: str) -> argparse.Namespace:
    words = shlex.split(command)
    assert words[:4] == ["python", "-m", "model", "make-data"]
    parser = argparse.ArgumentParser()
    data_cmd.add_arguments(parser)
    return parser.parse_args(words[4:])


def test_evaluation_report_belongs_to_the_shipped_file(card):
    report = json.loads(REPORT.read_text(encoding="utf-8"))
    assert report["model_sha256"] == hashlib.sha256(PRETRAINED_PATH.read_bytes()).hexdigest()
    scores = report["scores"]
    ev = card["evaluation"]
    assert ev["dev_clips"] == scores["n_clips"] and ev["dev_trigger_words"] == scores["n_triggers"]
    assert ev["frr_at_1_fa_per_hour"] == pytest.approx(scores["at_target"]["frr"], abs=1e-4)
    assert card["threshold"] == pytest.approx(scores["at_target"]["threshold"])
    folder = PRETRAINED_PATH.parent
    assert report["members"] == {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
                                 for name in card.get("members", [])}


def test_each_member_card_records_its_features_and_training(card):
    for name in card.get("members", []):
        own = json.loads((PRETRAINED_PATH.parent / name).with_suffix(".json").read_text())
        recipe = _parse_make_data(own["data"]["recipe_command"])
        assert recipe.features == own["feature_kind"]
        stage = own["stages"][-1]
        assert stage["trial_config"]["epochs"] == len(stage["epochs"]) == \
            stage["summary"]["epochs_done"]


def test_recipe_command_reproduces_the_recorded_synth_config(card):
    """The data line in the card, run through make-data's own parser, gives the recorded settings
    (read back as meta.json is: settings added since take their defaults, as the old data had)."""
    cfg = data_cmd.config_from_args(_parse_make_data(card["data"]["recipe_command"])).to_dict()
    recorded = card["data"]["synth_config"]
    known = {k: v for k, v in recorded.items() if k in SynthConfig.__dataclass_fields__}
    assert json.loads(json.dumps(SynthConfig.from_dict(known).to_dict())) == json.loads(json.dumps(cfg))
    assert cfg["n_train"] == card["data"]["n_train"]


def test_dev_set_command_is_the_default_mix_of_the_same_banks(card):
    """The evaluation set keeps the recipe's default mixing whatever a stage trained on."""
    dev = _parse_make_data(card["evaluation"]["dev_set_command"].replace(" --out DEV", ""))
    train = _parse_make_data(card["data"]["recipe_command"])
    for name in ("seed", "neural_share", "bank_trigger_clips", "bank_other_clips"):
        assert getattr(dev, name) == getattr(train, name)
    assert dev.snr_db == "" and dev.background_pool is None  # defaults
    assert dev.dev_examples == card["evaluation"]["dev_clips"]
    assert dev.features == card["feature_kind"]  # evaluated on the features it was trained on


def test_card_evaluation_is_what_card_stage_writes_from_the_report(card, tmp_path):
    """Refreshing the card from its own report changes nothing: no figure was typed by hand."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "scripts" / "card_stage.py"
    spec = importlib.util.spec_from_file_location("card_stage", path)
    card_stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(card_stage)
    copy = tmp_path / "card.json"
    copy.write_text(CARD.read_text(encoding="utf-8"), encoding="utf-8")
    assert card_stage.main(["--report", str(REPORT), "--threshold", str(card["threshold"]),
                            "--card", str(copy)]) == 0
    fresh = json.loads(copy.read_text(encoding="utf-8"))
    assert fresh["evaluation"] == card["evaluation"]
    assert fresh["threshold_note"] == card["threshold_note"] and fresh["goal"] == card["goal"]
    assert card["goal"]["met"] == (card["evaluation"]["frr_at_1_fa_per_hour"] <= 0.05)
