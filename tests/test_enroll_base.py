"""Which base model enrolment's "auto" picks: the shipped detector when it reads speech
embeddings, else the fallback candidate."""
from model.enroll import finetune


def test_auto_base_is_the_shipped_embedding_detector(tmp_path, monkeypatch):
    from model.card import DETECTOR_PATH, write_model_card

    head = DETECTOR_PATH  # the real shipped head (enrolment reads its layers)
    monkeypatch.setattr(finetune, "shipped_detector_path", lambda: head)
    base = finetune.resolve_base("auto")
    assert base.path == head and base.label == "auto (activate-embedding)"
    pair = tmp_path / "activate.keras"
    pair.write_bytes(b"x")
    write_model_card(pair, "log-power-v1")
    monkeypatch.setattr(finetune, "shipped_detector_path", lambda: pair)
    assert finetune.resolve_base("auto").path == finetune.CANDIDATES_DIR / \
        f"{finetune.AUTO_CANDIDATE}.keras"
