"""SpecAugment-style masking: where the masks fall, what fills them, settings and errors."""
import numpy as np
import pytest

from model.cli.train_cmd import parse_spec_augment
from model.errors import ConfigError
from model.train.metrics import mask_to_runs
from model.train.specaug import PRESET, SpecAugmentConfig, check_spec_augment, mask_batches, \
    mask_features_np
from model.train.trial_config import TrialConfig, validate_trial_config


def _batch(n=6, frames=400, bins=101):
    """Values of magnitude >= 1 and either sign: none equals a clip mean (|mean| << 1)."""
    rng = np.random.default_rng(5)
    size = (n, frames, bins)
    return (rng.choice([-1.0, 1.0], size) * (1.0 + np.abs(rng.normal(0, 1, size)))).astype(np.float16)


def test_masks_are_spans_of_whole_frames_and_bands_filled_with_the_clip_mean():
    x = _batch()
    cfg = SpecAugmentConfig(time_masks=2, time_mask_frames=30, freq_masks=2, freq_mask_bins=8)
    out = mask_features_np(x, cfg, np.random.default_rng(0))
    assert out.dtype == x.dtype and out.shape == x.shape and not np.shares_memory(out, x)
    changed = out != x
    for i in range(x.shape[0]):
        fill = x[i].astype(np.float32).mean().astype(np.float16)
        assert np.all(out[i][changed[i]] == fill)
        frames = changed[i].all(axis=1)  # a masked frame is masked in every bin
        bands = changed[i].all(axis=0)
        _, starts, ends = mask_to_runs(frames[None])
        assert len(starts) <= 2 and np.all(ends - starts <= 30 * 2)  # two spans may touch
        _, b_starts, b_ends = mask_to_runs(bands[None])
        assert len(b_starts) <= 2 and np.all(b_ends - b_starts <= 8 * 2)
        # everything changed lies in a masked frame or band
        assert not (changed[i] & ~frames[:, None] & ~bands[None, :]).any()
    assert changed.any()  # 12 clips x 4 masks: some are non-empty


def test_same_generator_state_same_masks_and_off_is_a_passthrough():
    x = _batch()
    a = mask_features_np(x, PRESET, np.random.default_rng(3))
    b = mask_features_np(x, PRESET, np.random.default_rng(3))
    assert np.array_equal(a, b)
    y = np.zeros((6, 10, 1), np.float32)
    batches = [(x, y)]
    assert list(mask_batches(iter(batches), SpecAugmentConfig(), np.random.default_rng(0)))[0][0] is x
    masked = list(mask_batches(iter(batches), PRESET, np.random.default_rng(3)))
    assert np.array_equal(masked[0][0], a) and masked[0][1] is y  # labels untouched


def test_settings_validate_and_parse():
    check_spec_augment(PRESET)
    for bad in (SpecAugmentConfig(-1, 10, 0, 0), SpecAugmentConfig(1, 6000, 0, 0),
                SpecAugmentConfig(0, 0, 1, 102), SpecAugmentConfig(1.5, 1, 0, 0)):
        with pytest.raises(ConfigError, match="SpecAugment"):
            validate_trial_config(TrialConfig(spec_augment=bad))
    assert parse_spec_augment("") == SpecAugmentConfig() == parse_spec_augment("off")
    assert parse_spec_augment("on") == PRESET and parse_spec_augment("1,50,3,4") == \
        SpecAugmentConfig(1, 50, 3, 4)
    with pytest.raises(ConfigError, match="T,FRAMES,F,BINS"):
        parse_spec_augment("1,2,3")
    cfg = TrialConfig(spec_augment=SpecAugmentConfig(1, 50, 3, 4))
    assert TrialConfig.from_dict(cfg.to_dict()) == cfg
    assert TrialConfig.from_dict({"epochs": 2}).spec_augment == SpecAugmentConfig()


def test_a_cli_trial_trains_with_masks_and_stores_them(tmp_path, capsys):
    from model.cli import main
    from model.runs.store import RunStore
    from tests.tinydata import write_tiny_dataset
    data = write_tiny_dataset(tmp_path / "data", n_train=8, n_dev=4)
    code = main(["train", "--precisions", "fp32", "--epochs", "1", "--batch-size", "4",
                 "--dataset", str(data), "--store", str(tmp_path / "lab.sqlite"),
                 "--conv-filters", "8", "--gru-units", "4", "--spec-augment", "2,100,2,10"])
    assert code == 0, capsys.readouterr().err
    store = RunStore(tmp_path / "lab.sqlite")
    (run,) = [r for c in store.comparisons() for r in store.runs(c.id)]
    assert run.status == "finished" and run.config.spec_augment == SpecAugmentConfig(2, 100, 2, 10)
    code = main(["train", "--epochs", "1", "--dataset", str(data), "--spec-augment", "lots",
                 "--store", str(tmp_path / "lab.sqlite")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "T,FRAMES,F,BINS" in err and "\n" not in err
