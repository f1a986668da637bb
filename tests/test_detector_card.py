"""The shipped speech-embedding detector's card agrees with the files beside it and with its
yardstick result: no figure outlives its model."""
import hashlib
import json
import shlex
from pathlib import Path

import pytest

from model.card import DETECTOR_PATH, read_model_card, recommended_threshold, shipped_detector_path
from tests.test_model_card import _parse_make_data

ROOT = Path(__file__).resolve().parent.parent
YARDSTICK = ROOT / "bench" / "results" / "yardstick_pretrained_max.json"
HEAD_ALONE = ROOT / "bench" / "results" / "yardstick_embed_head.json"


@pytest.fixture(scope="module")
def card():
    return json.loads(DETECTOR_PATH.with_suffix(".json").read_text(encoding="utf-8"))


def test_the_shipped_detector_is_the_speech_embedding_head():
    assert shipped_detector_path() == DETECTOR_PATH
    assert read_model_card(DETECTOR_PATH) == "speech-embedding-v1"


def test_evaluation_report_and_yardstick_belong_to_the_shipped_file(card):
    digest = hashlib.sha256(DETECTOR_PATH.read_bytes()).hexdigest()
    report = json.loads((DETECTOR_PATH.with_suffix(".eval") / "report.json").read_text())
    assert report["model_sha256"] == digest
    yard = json.loads(YARDSTICK.read_text())
    assert yard["model_path"] == str(DETECTOR_PATH.relative_to(ROOT))
    assert card["yardstick"] == str(YARDSTICK.relative_to(ROOT).with_suffix(".txt"))
    # the card's threshold is the yardstick's calibrated one, and the yardstick ran with it
    assert card["threshold"] == recommended_threshold(DETECTOR_PATH) == yard["calibrated"]["threshold"]
    assert yard["card_threshold"] == card["threshold"]


def test_the_yardstick_measured_the_head_with_its_partner_and_alone(card):
    joined, alone = json.loads(YARDSTICK.read_text()), json.loads(HEAD_ALONE.read_text())
    assert card["max_of"] == joined["partners"] == ["activate.keras"]
    assert alone.get("partners", []) == [] and alone["model_path"] == joined["model_path"]
    assert card["yardstick_head_alone"] == str(HEAD_ALONE.relative_to(ROOT).with_suffix(".txt"))
    # what the card claims: joining the pair lifts the calibrated mean recall over the head alone
    assert joined["calibrated"]["mean_recall"] > alone["calibrated"]["mean_recall"]


def test_recipe_commands_reproduce_the_recorded_data(card):
    make, mine = card["data"]["recipe_command"].split(" && ")
    cfg = _parse_make_data(make)
    recorded = card["data"]["synth_config"]
    assert cfg.features == card["feature_kind"] == recorded.get("feature_kind", cfg.features)
    for flag, key in (("kokoro_share", "kokoro_share"), ("neural_share", "neural_share"),
                      ("max_others", "max_others"), ("seed", "seed"), ("examples", "n_train")):
        assert getattr(cfg, flag) == recorded[key]
    words = shlex.split(mine)
    assert words[:4] == ["python", "-m", "model", "mine-negatives"]
    (mined,) = card["data"]["mined"]
    assert int(words[words.index("--pool") + 1]) == mined["pool"]
    assert int(words[words.index("--keep") + 1]) == mined["kept"]
    assert card["data"]["n_train_used"] == recorded["n_train"] + mined["kept"]
