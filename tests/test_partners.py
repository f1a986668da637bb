"""Partners: finer-grid detectors joined to a model by max (model/detect/partners.py)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from model.audio.feature_kinds import StepTiming
from model.audio.features import SAMPLE_RATE_HZ, feature_kind
from model.card import DETECTOR_PATH, PRETRAINED_DIR, PRETRAINED_PATH
from model.detect.partners import (check_partner_timing, model_files, partner_notes, partner_paths,
                                   pool_to_grid)
from model.errors import LabError

COARSE = feature_kind("speech-embedding-v1").timing
FINE = feature_kind("log-power-v1").timing


def _timing(step_s: float, first_s: float) -> StepTiming:
    return StepTiming(step_s, 10, first_s, 1, 1, 1)


def test_pool_to_grid_takes_the_highest_fine_step_each_coarse_step_could_know():
    fine, coarse = _timing(0.01, 0.0), _timing(0.05, 0.05)  # coarse steps end at 0.05, 0.10, 0.15
    probs = np.zeros(20, np.float32)
    probs[3], probs[5], probs[6] = 0.4, 0.9, 0.7  # at 0.03, 0.05 (the edge belongs to step 0), 0.06
    probs[12], probs[19] = 0.2, 1.0  # at 0.12; at 0.19, after the last coarse step: dropped
    out = pool_to_grid(probs, fine, coarse, 3)
    np.testing.assert_allclose(out, [0.9, 0.7, 0.2])
    assert out.dtype == np.float32
    assert pool_to_grid(np.zeros(0), fine, coarse, 3).tolist() == [0.0, 0.0, 0.0]


def test_pool_to_grid_of_the_real_grids_keeps_every_peak_before_the_last_step():
    rng = np.random.default_rng(0)
    probs = rng.random(1375).astype(np.float32)
    out = pool_to_grid(probs, FINE, COARSE, 116)
    t_fine = FINE.first_step_end_seconds + np.arange(1375) * FINE.step_seconds
    last = COARSE.first_step_end_seconds + 115 * COARSE.step_seconds
    assert out.max() == probs[t_fine <= last].max()
    assert out[0] == probs[t_fine <= COARSE.first_step_end_seconds + 1e-9].max()


def _copy_shipped(folder, card: dict) -> None:
    """The shipped head (with ``card``), the pair and its member, in ``folder``."""
    for name in ("activate-embedding.keras", "activate.keras", "activate-pcen.keras",
                 "activate.json", "activate-pcen.json"):
        shutil.copy(PRETRAINED_DIR / name, folder / name)
    (folder / "activate-embedding.json").write_text(json.dumps(card))


@pytest.mark.parametrize("entries, message", [
    (["nope.keras"], "partner file nope.keras is missing"),
    (["../activate.keras"], "must be another .keras file name"),
    (["activate-embedding.keras"], "must be another .keras file name"),
    (["activate.json"], "must be another .keras file name"),
    ("activate.keras", "must list at most"),
    (["activate.keras"] * 3, "must list at most"),
])
def test_a_bad_partner_entry_is_one_clear_error(tmp_path, entries, message):
    _copy_shipped(tmp_path, {"feature_kind": "speech-embedding-v1", "max_of": entries})
    with pytest.raises(LabError, match=message.replace(".", r"\.")):
        partner_paths(tmp_path / "activate-embedding.keras")


def test_model_files_list_the_model_its_members_and_its_partners_members(tmp_path):
    _copy_shipped(tmp_path, {"feature_kind": "speech-embedding-v1", "max_of": ["activate.keras"]})
    head = tmp_path / "activate-embedding.keras"
    assert [p.name for p in model_files(head)] == ["activate-embedding.keras", "activate.keras",
                                                    "activate-pcen.keras"]
    assert partner_paths(tmp_path / "activate.keras") == []
    assert "activate.keras" in partner_notes(head)[0]
    assert partner_notes(tmp_path / "activate.keras") == []


def test_a_partner_on_the_same_or_a_coarser_grid_is_refused():
    check_partner_timing(COARSE, FINE, "fine.keras")
    for other in (COARSE, _timing(0.16, 0.782)):
        with pytest.raises(LabError, match="not finer"):
            check_partner_timing(COARSE, other, "other.keras")


@pytest.fixture(scope="module")
def detectors():
    from model.detect.detector import DetectConfig, Detector
    cfg = DetectConfig(threshold=0.93)
    return (Detector("pretrained", cfg), Detector(DETECTOR_PATH, cfg, partners=False),
            Detector(PRETRAINED_PATH, cfg))


def test_the_shipped_detector_is_the_head_joined_by_max_with_the_pair(detectors, tmp_path):
    both, head, pair = detectors
    assert both.partner_names == ["activate.keras"] and head.partner_names == []
    rng = np.random.default_rng(3)  # 25 s: three pieces of each grid, read in lockstep
    audio = (0.05 * rng.standard_normal(25 * SAMPLE_RATE_HZ)).astype(np.float32)
    wav = tmp_path / "noise.wav"
    sf.write(wav, audio, SAMPLE_RATE_HZ)
    joined = both.detect_file(wav)
    alone, fine = head.detect_samples(audio, SAMPLE_RATE_HZ), pair.detect_samples(audio, SAMPLE_RATE_HZ)
    pooled = pool_to_grid(fine.probabilities, FINE, COARSE, alone.probabilities.size)
    np.testing.assert_allclose(joined.probabilities, np.maximum(alone.probabilities, pooled),
                               atol=2e-4)
    assert joined.step_s == alone.step_s and joined.feature_kind == "speech-embedding-v1"
    assert both.detect_samples(audio, SAMPLE_RATE_HZ).probabilities.size == joined.probabilities.size


def test_a_partners_own_partners_are_not_loaded(tmp_path):
    from model.detect.detector import Detector
    _copy_shipped(tmp_path, {"feature_kind": "speech-embedding-v1", "max_of": ["activate.keras"]})
    pair_card = json.loads((tmp_path / "activate.json").read_text())
    # a cycle: the pair names the head back; it must not recurse
    (tmp_path / "activate.json").write_text(json.dumps({**pair_card,
                                                        "max_of": ["activate-embedding.keras"]}))
    det = Detector(tmp_path / "activate-embedding.keras")
    assert det.partner_names == ["activate.keras"] and det.partners[0].partners == []


def test_detect_command_runs_the_join_and_with_no_partners_the_head_alone(detectors, capsys):
    from model.cli import main
    both, head, _ = detectors
    clip = "assets/samples/example_000.wav"  # a synthetic clip holding the trigger word
    traces = []
    for extra in ([], ["--no-partners"]):
        assert main(["detect", "--json", "--threshold", "0.93", clip, *extra]) == 0
        traces.append(np.asarray(json.loads(capsys.readouterr().out)["probabilities"]))
    np.testing.assert_allclose(traces[0], both.detect_file(clip).probabilities, atol=1e-4)
    np.testing.assert_allclose(traces[1], head.detect_file(clip).probabilities, atol=1e-4)
    assert (traces[0] >= traces[1] - 1e-4).all() and (traces[0] > traces[1] + 0.01).any()


def test_evaluate_scores_the_model_alone_and_names_the_partners_it_skipped(tmp_path):
    from model.detect.evaluate import evaluate_model
    from tests.tinydata import write_tiny_embedding_dataset

    _copy_shipped(tmp_path, {"feature_kind": "speech-embedding-v1", "max_of": ["activate.keras"]})
    data = write_tiny_embedding_dataset(tmp_path / "data", n_train=2, n_dev=3)
    joined = evaluate_model(str(tmp_path / "activate-embedding.keras"), data, batch_size=3)
    (tmp_path / "activate-embedding.json").write_text('{"feature_kind": "speech-embedding-v1"}')
    alone = evaluate_model(str(tmp_path / "activate-embedding.keras"), data, batch_size=3)
    assert [n for n in joined.notes if "partner" in n] == partner_notes(DETECTOR_PATH)
    assert not [n for n in alone.notes if "partner" in n]
    assert joined.scores.det.miss_rate == alone.scores.det.miss_rate  # the same head's scores


def test_the_detect_page_names_the_join_and_keys_its_cache_on_every_file(tmp_path):
    import os

    from app.detect_data import list_models, model_version
    from model.runs.store import RunStore

    first = list_models(RunStore(tmp_path / "lab.sqlite"), [])[0]
    assert first.spec == "pretrained" and first.label == (
        "pretrained (shipped, speech-embedding-v1, max with activate.keras (mean of 2 networks))")
    _copy_shipped(tmp_path, {"feature_kind": "speech-embedding-v1", "max_of": ["activate.keras"]})
    head = tmp_path / "activate-embedding.keras"
    before = model_version(head)
    member = tmp_path / "activate-pcen.keras"  # the partner's own member
    os.utime(member, (before + 7, before + 7))
    assert model_version(head) == before + 7
