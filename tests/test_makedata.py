"""make_dataset end to end on tiny settings: layout, labels, determinism, voice split, bad input."""
import csv
import hashlib

import numpy as np
import pytest

from model.data import makedata
from model.audio.files import read_audio, write_wav_atomic
from model.data.bank import WordBank
from model.data.dataset import load_dataset
from model.errors import ConfigError, DatasetError, SpeechError
from model.audio.features import (CLIP_SAMPLES, FEATURE_KIND_EMBEDDING, FEATURE_KIND_PCEN, N_STEPS,
                                  audio_to_features)
from model.data.makedata import make_dataset
from model.data.samples import read_samples, write_samples
from model.data.synth import SynthConfig

TINY = dict(n_train=6, n_dev=3, seed=5, bank_trigger_clips=4, bank_other_clips=4, background_pool=4)


def _digest(folder):
    h = hashlib.sha256()
    for name in ("X.npy", "Y.npy", "X_dev.npy", "Y_dev.npy"):
        h.update((folder / name).read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("banks")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, cache):
    out = tmp_path_factory.mktemp("ds") / "XY_train"
    report = make_dataset(SynthConfig(**TINY), out, workers=1, cache_dir=cache)
    return out, report


def test_layout_shapes_and_meta(tiny):
    out, report = tiny
    ds = load_dataset(out)
    assert ds.x_train.shape == (6, 5511, 101) and ds.y_train.shape == (6, 1375, 1)
    assert ds.x_dev.shape == (3, 5511, 101) and ds.x_train.dtype == np.float16
    assert ds.meta.word == "activate" and ds.meta.seed == 5 and ds.meta.generator_version
    assert ds.meta.config["augment"]["speed_prob"] >= 0  # augmentation settings recorded
    assert report.mix_seconds > 0 and not list(out.parent.glob(".XY_train.*"))


def test_labels_follow_each_trigger_end(tiny):
    out, _ = tiny
    ds = load_dataset(out)
    with open(out / "examples.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 9
    for row in rows:
        y = (ds.y_train if row["split"] == "train" else ds.y_dev)[int(row["index"]), :, 0]
        ends = [float(t) for t in row["trigger_end_s"].split()]
        expected = np.zeros(N_STEPS, np.float32)
        for end_s in ends:
            step = round(end_s * 44100) * N_STEPS // CLIP_SAMPLES
            expected[step + 1: step + 51] = 1
            assert y[min(step + 1, N_STEPS - 1)] == 1 or step + 1 >= N_STEPS
        assert np.array_equal(y, expected) or abs(y.sum() - expected.sum()) <= 2 * len(ends)


def test_each_trigger_word_names_its_voice_family(tiny):
    """examples.csv: one family per trigger end, from that split's side of the family split."""
    out, _ = tiny
    ds = load_dataset(out)
    with open(out / "examples.csv") as fh:
        rows = list(csv.DictReader(fh))
    allowed = {"train": set(ds.meta.train_voices), "dev": set(ds.meta.dev_voices)}
    seen = 0
    for row in rows:
        fams = row["trigger_families"].split(";") if row["trigger_families"] else []
        assert len(fams) == int(row["n_triggers"]) == len(row["trigger_end_s"].split())
        assert set(fams) <= allowed[row["split"]], row
        seen += len(fams)
    assert seen > 0


def test_same_seed_same_bytes_whatever_the_workers(tiny, tmp_path, cache, monkeypatch):
    out, _ = tiny
    monkeypatch.setattr(makedata, "_PARALLEL_MIN", 0)
    again = make_dataset(SynthConfig(**TINY), tmp_path / "again", workers=2, cache_dir=cache).out_dir
    assert _digest(again) == _digest(out)
    other = make_dataset(SynthConfig(**{**TINY, "seed": 6}), tmp_path / "other", workers=1,
                         cache_dir=cache).out_dir
    assert _digest(other) != _digest(out)


def test_dev_voices_disjoint_from_train(tiny, cache):
    out, _ = tiny
    meta = load_dataset(out).meta
    assert meta.train_voices and meta.dev_voices
    assert not set(meta.train_voices) & set(meta.dev_voices)
    assert any(f.startswith("piper:") for f in meta.dev_voices)
    banks = [WordBank.load(p) for p in cache.glob("bank-*.npz")]
    dev_banks = [b for b in banks if set(b.families) <= set(meta.dev_voices)]
    train_banks = [b for b in banks if set(b.families) <= set(meta.train_voices)]
    assert dev_banks and train_banks and len(dev_banks) + len(train_banks) == len(banks)


def test_samples_are_the_datasets_own_examples(tiny, tmp_path, cache):
    out, _ = tiny
    clips = write_samples(SynthConfig(**TINY), tmp_path / "s", count=2, cache_dir=cache)
    assert [c.file for c in read_samples(tmp_path / "s")] == [c.file for c in clips]
    audio, sr = read_audio(tmp_path / "s" / clips[1].file)
    feats = audio_to_features(audio, sr)  # mixes are on the 16-bit grid: equal up to float16
    x1 = load_dataset(out).x_train[1].astype(np.float32)
    assert np.max(np.abs(feats - x1)) < 0.05 and np.mean(np.abs(feats - x1)) < 1e-3


def test_pcen_dataset_holds_pcen_of_the_same_mixes(tiny, tmp_path, cache):
    """--features pcen-v1: same clips, labels and CSV; X is PCEN of the sample audio."""
    out, _ = tiny
    pcen = make_dataset(SynthConfig(**TINY), tmp_path / "pcen", workers=1, cache_dir=cache,
                        feature_kind=FEATURE_KIND_PCEN).out_dir
    ds, ref = load_dataset(pcen), load_dataset(out)
    assert ds.meta.feature_kind == FEATURE_KIND_PCEN and ref.meta.feature_kind == "log-power-v1"
    assert np.array_equal(ds.y_train, ref.y_train)
    assert (pcen / "examples.csv").read_text() == (out / "examples.csv").read_text()
    clips = write_samples(SynthConfig(**TINY), tmp_path / "s", count=2, cache_dir=cache)
    audio, sr = read_audio(tmp_path / "s" / clips[1].file)
    feats = audio_to_features(audio, sr, FEATURE_KIND_PCEN)
    x1 = ds.x_train[1].astype(np.float32)
    assert np.mean(np.abs(feats - x1)) < 0.02 * feats.std()  # float16 and the 16-bit grid
    from model.cli import main
    assert main(["make-data", "--examples", "6", "--dev-examples", "3", "--seed", "5",
                 "--bank-trigger-clips", "4", "--bank-other-clips", "4", "--workers", "1",
                 "--cache-dir", str(cache), "--features", "pcen-v1", "--out", str(tmp_path / "cli")]) == 0
    assert load_dataset(tmp_path / "cli").meta.feature_kind == FEATURE_KIND_PCEN
    with pytest.raises(ConfigError, match="unknown feature kind 'seed-linear'"):
        make_dataset(SynthConfig(**TINY), tmp_path / "bad", workers=1, cache_dir=cache,
                     feature_kind="seed-linear")
    assert not (tmp_path / "bad").exists()


def _embedding_labels_from_csv(row: dict) -> tuple[np.ndarray, bool]:
    """Labels of one examples.csv row on the embedding's 116 steps, found by walking the
    windows' ends (step_end_seconds); and whether an end sits within the CSV's 1 ms rounding
    of a window's end (then the exact label may differ by a step)."""
    from model.audio.embedding import step_end_seconds

    expected, near = np.zeros(116, np.float32), False
    for end_s in (float(t) for t in row["trigger_end_s"].split()):
        first = next(i for i in range(200) if step_end_seconds(i) > end_s)
        expected[first:first + 5] = 1
        near |= min(abs(step_end_seconds(first) - end_s), abs(step_end_seconds(first - 1) - end_s)) < 1e-3
    return expected, near


def test_embedding_dataset_holds_embeddings_of_the_same_mixes(tiny, tmp_path, cache, monkeypatch):
    """--features speech-embedding-v1 (through the CLI): same clips and CSV, X (m, 116, 96) the
    embeddings of the sample audio, Y on the embedding's steps; same bytes with 2 workers."""
    out, _ = tiny
    from model.cli import main
    args = ["make-data", "--examples", "6", "--dev-examples", "3", "--seed", "5",
            "--bank-trigger-clips", "4", "--bank-other-clips", "4", "--background-pool", "4",
            "--cache-dir", str(cache), "--features", FEATURE_KIND_EMBEDDING]
    assert main(args + ["--workers", "1", "--out", str(tmp_path / "emb")]) == 0
    ds = load_dataset(tmp_path / "emb")
    assert ds.meta.feature_kind == FEATURE_KIND_EMBEDDING and ds.x_train.dtype == np.float16
    assert ds.x_train.shape == (6, 116, 96) and ds.y_train.shape == (6, 116, 1)
    assert ds.x_dev.shape == (3, 116, 96) and ds.y_dev.shape == (3, 116, 1)
    assert (tmp_path / "emb" / "examples.csv").read_text() == (out / "examples.csv").read_text()
    with open(out / "examples.csv") as fh:
        rows = list(csv.DictReader(fh))
    checked = 0
    for row in rows:
        y = (ds.y_train if row["split"] == "train" else ds.y_dev)[int(row["index"]), :, 0]
        expected, near = _embedding_labels_from_csv(row)
        if not near:
            np.testing.assert_array_equal(y.astype(np.float32), expected, err_msg=str(row))
            checked += int(row["n_triggers"])
    assert checked >= 5
    clips = write_samples(SynthConfig(**TINY), tmp_path / "s", count=2, cache_dir=cache)
    audio, sr = read_audio(tmp_path / "s" / clips[1].file)
    feats = audio_to_features(audio, sr, FEATURE_KIND_EMBEDDING)  # 16-bit WAV: the mix's grid
    assert np.max(np.abs(feats - ds.x_train[1].astype(np.float32))) < 0.05  # float16 at |x| < 64
    monkeypatch.setattr(makedata, "_PARALLEL_MIN", 0)
    assert main(args + ["--workers", "2", "--out", str(tmp_path / "emb2")]) == 0
    assert _digest(tmp_path / "emb2") == _digest(tmp_path / "emb")


@pytest.mark.parametrize("kwargs,err,msg", [
    (dict(n_train=0), ConfigError, "at least 1"),
    (dict(word="   "), SpeechError, "empty"),
    (dict(word="!!!"), SpeechError, "'!'"),
    (dict(raw_data="/no/such/raw"), DatasetError, "does not exist"),
    (dict(raw_mode="only"), ConfigError, "needs a raw-data folder"),
])
def test_bad_settings_fail_before_writing(tmp_path, cache, kwargs, err, msg):
    out = tmp_path / "XY_train"
    out.mkdir()
    (out / "keep.txt").write_text("old dataset")
    with pytest.raises(err, match=msg):
        make_dataset(SynthConfig(**{**TINY, **kwargs}), out, workers=1, cache_dir=cache)
    assert (out / "keep.txt").read_text() == "old dataset"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["XY_train"]


def _raw_folder(root, sr=16000):
    t = np.arange(int(0.5 * sr)) / sr
    word = (0.3 * np.sin(2 * np.pi * 440 * t) * np.hanning(t.size)).astype(np.float32)
    for role, audio in (("activates", word), ("negatives", word[::2].copy()),
                        ("backgrounds", np.random.default_rng(0).normal(0, 0.01, 10 * sr).astype(np.float32))):
        for i in range(2):
            write_wav_atomic(root / role / f"{i}.wav", audio, sr)
    return root


def test_raw_only_mode_uses_recordings_without_speech(tmp_path, cache):
    raw = _raw_folder(tmp_path / "raw")
    cfg = SynthConfig(**{**TINY, "raw_data": str(raw), "raw_mode": "only"})
    report = make_dataset(cfg, tmp_path / "out", workers=1, cache_dir=tmp_path / "nobank")
    assert report.meta.config["raw_files"]["activates"] == ["0.wav", "1.wav"]
    assert not (tmp_path / "nobank").exists()  # no text-to-speech at all
    with open(tmp_path / "out" / "examples.csv") as fh:
        assert {r["background"] for r in csv.DictReader(fh)} == {"recorded"}


@pytest.mark.parametrize("damage,msg", [
    (lambda r: (r / "negatives" / "x.mp3").write_bytes(b"ID3"), "not a WAV file"),
    (lambda r: (r / "activates" / "c.wav").write_bytes(b"RIFFxxxxWAVE"), "c.wav"),
    (lambda r: write_wav_atomic(r / "activates" / "long.wav", np.zeros(16000 * 11, np.float32), 16000),
     "longer than the 10 s clip"),
])
def test_bad_raw_data_is_one_line_and_writes_nothing(tmp_path, cache, damage, msg):
    raw = _raw_folder(tmp_path / "raw")
    damage(raw)
    with pytest.raises(DatasetError, match=msg):
        make_dataset(SynthConfig(**{**TINY, "raw_data": str(raw)}), tmp_path / "out", workers=1,
                     cache_dir=cache)
    assert not (tmp_path / "out").exists()


def test_cli_mixing_options_reach_the_synth_config(tmp_path, capsys):
    """--snr-db, --background-pool, --max-others and --features parse; a bad range is one line,
    nothing written."""
    import argparse

    from model.cli import data_cmd, main
    parser = argparse.ArgumentParser()
    data_cmd.add_arguments(parser)
    args = parser.parse_args(["--snr-db=-5,25", "--background-pool", "0", "--features", "pcen-v1",
                              "--max-others", "5"])
    cfg = data_cmd.config_from_args(args)
    assert cfg.snr_db == (-5.0, 25.0) and cfg.background_pool == 0 and args.features == "pcen-v1"
    assert cfg.max_others == 5
    default = data_cmd.config_from_args(parser.parse_args([]))
    assert default.snr_db == SynthConfig().snr_db and default.background_pool == SynthConfig().background_pool
    assert default.max_others == SynthConfig().max_others
    for bad, msg in (("5", "--snr-db takes two numbers LOW,HIGH"), ("20,5", "snr_db range is reversed")):
        code = main(["make-data", "--snr-db", bad, "--examples", "2", "--out", str(tmp_path / "XY")])
        err = capsys.readouterr().err
        assert code == 2 and msg in err and err.count("\n") == 1
    assert not (tmp_path / "XY").exists()


# --- --dev-engines: a whole text-to-speech engine held out of training ----------------------
@pytest.mark.parametrize("seed,share,digest", [
    (0, 0.2, "bf786cdb4b866fd2"), (5, 0.2, "7767aa3d5ed57f32"), (2026, 0.3, "db592914585d59b0")])
def test_default_family_split_is_unchanged(seed, share, digest):
    """No engine held out: the split the datasets made before --dev-engines existed (digests of it)."""
    import json

    from model.data.sources import split_families

    assert split_families(seed, share, ()) == split_families(seed, share)
    assert hashlib.sha256(json.dumps(split_families(seed, share)).encode()).hexdigest()[:16] == digest


def test_dev_engines_piper_puts_every_piper_family_in_dev_only():
    from model.data.sources import split_families
    from model.data.speech import voice_families

    train, dev = split_families(5, 0.2, ["piper"])
    assert not [f for f in train if f.startswith("piper:")]
    assert set(voice_families("piper")) <= set(dev)
    default_train, default_dev = split_families(5, 0.2)
    # espeak splits exactly as by default
    assert train == [f for f in default_train if f.startswith("espeak:")]
    assert [f for f in dev if f.startswith("espeak:")] == [f for f in default_dev if f.startswith("espeak:")]


@pytest.mark.parametrize("engines,share,msg", [
    (["festival"], 0.5, "unknown engine 'festival'"),
    (["piper", "espeak"], 0.5, "training would have no voice"),
    (["piper"], 1.0, "strictly between 0 and 1"),
    (["espeak"], 0.0, "strictly between 0 and 1"),
])
def test_bad_dev_engines_fail_in_one_line_before_writing(tmp_path, cache, engines, share, msg):
    out = tmp_path / "XY_train"
    with pytest.raises(ConfigError, match=msg) as err:
        make_dataset(SynthConfig(**{**TINY, "neural_share": share}), out, workers=1, cache_dir=cache,
                     dev_engines=engines)
    assert "\n" not in str(err.value) and not tmp_path.joinpath("XY_train").exists()


def test_default_dev_engines_keep_the_same_bytes(tiny, tmp_path, cache):
    out, report = tiny
    again = make_dataset(SynthConfig(**TINY), tmp_path / "same", workers=1, cache_dir=cache, dev_engines=())
    assert _digest(tmp_path / "same") == _digest(out)
    assert (tmp_path / "same" / "examples.csv").read_bytes() == (out / "examples.csv").read_bytes()
    assert "dev_engines" not in report.meta.config and again.meta.config == report.meta.config


def test_dev_engines_piper_dataset_trains_on_espeak_only(tmp_path, cache):
    from model.data.speech import voice_families

    out = tmp_path / "XY_train"
    report = make_dataset(SynthConfig(**TINY), out, workers=1, cache_dir=cache, dev_engines=["piper"])
    meta = load_dataset(out).meta
    assert meta.config["dev_engines"] == report.meta.config["dev_engines"] == ["piper"]
    assert not [f for f in meta.train_voices if f.startswith("piper:")]
    assert set(voice_families("piper")) <= set(meta.dev_voices)
    with open(out / "examples.csv") as fh:
        rows = list(csv.DictReader(fh))
    train_fams = {f for r in rows if r["split"] == "train" for f in r["trigger_families"].split(";") if f}
    assert train_fams and all(f.startswith("espeak:") for f in train_fams)
    # samples of such a dataset are its own training examples (drawn from its own split)
    clips = write_samples(SynthConfig(**TINY), tmp_path / "s", count=2, cache_dir=cache,
                          dev_engines=["piper"])
    audio, sr = read_audio(tmp_path / "s" / clips[1].file)
    x1 = load_dataset(out).x_train[1].astype(np.float32)
    assert np.max(np.abs(audio_to_features(audio, sr) - x1)) < 0.05


def test_cli_dev_engines_reach_make_dataset(tmp_path, capsys, monkeypatch):
    import argparse

    from model.cli import data_cmd, main
    parser = argparse.ArgumentParser()
    data_cmd.add_arguments(parser)
    assert data_cmd.dev_engines_from_args(parser.parse_args([])) == ()
    assert data_cmd.dev_engines_from_args(parser.parse_args(["--dev-engines", " piper, "])) == ("piper",)
    code = main(["make-data", "--dev-engines", "piper,nope", "--examples", "2", "--out", str(tmp_path / "XY")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown engine 'nope'" in err and err.count("\n") == 1
    assert not (tmp_path / "XY").exists()
