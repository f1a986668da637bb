"""Reliability rows: uploads (the Detect page's decode, the Enrol page's takes and file
names): empty, not audio, truncated, NaN, over the size cap, hours long, a high rate, and
hostile names. Each ends in one line and nothing written outside the profile folder."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from bench.reliability_core import (Entry, Lab, Outcome, cli_message, lab_error, one_line,
                                    peak_rss_mb, registrar, streamlit_option, subprocess_peak,
                                    write_wav)

ROWS: list[Entry] = []
scenario = registrar(ROWS)


def _decode(data: bytes):
    from model.detect.detector import DetectConfig, decode_clip
    return decode_clip(data, DetectConfig().limits)  # what the Detect page calls on an upload


def _upload_refused(data: bytes) -> Outcome:
    msg, ok = lab_error(lambda: _decode(data))
    return Outcome(msg, {"one-line AudioError, nothing decoded": ok})


@scenario("upload: empty file (0 bytes)", "uploads")
def _(lab: Lab) -> Outcome:
    return _upload_refused(b"")


@scenario("upload: text file named .wav", "uploads")
def _(lab: Lab) -> Outcome:
    return _upload_refused(b"this is not audio at all\n" * 40)


@scenario("upload: truncated WAV (header promises 10 s, 0.1 s present)", "uploads")
def _(lab: Lab) -> Outcome:
    full = write_wav(lab.tmp("trunc") / "a.wav", 10.0, 16000).read_bytes()
    return _upload_refused(full[:3200])


@scenario("upload: float WAV with NaN samples", "uploads")
def _(lab: Lab) -> Outcome:
    import soundfile as sf
    buf = io.BytesIO()
    audio = np.zeros(16000, np.float32)
    audio[100] = np.nan
    sf.write(buf, audio, 16000, subtype="FLOAT", format="WAV")
    return _upload_refused(buf.getvalue())


@scenario("upload: random bytes named .mp3", "uploads")
def _(lab: Lab) -> Outcome:
    return _upload_refused(np.random.default_rng(1).bytes(50_000))


@scenario("upload: 201 MB file (over the 200 MB cap)", "uploads")
def _(lab: Lab) -> Outcome:
    before = peak_rss_mb()
    data = b"RIFF" + bytes(201 * 1024 * 1024)
    out = _upload_refused(data)
    del data
    grew = peak_rss_mb() - before
    out.checks["refused before decoding (peak RSS grew by no more than the bytes held)"] = \
        grew < 260
    out.checks["server caps uploads at 200 MB (.streamlit/config.toml)"] = \
        streamlit_option("server.maxUploadSize") == 200
    return out


@scenario("upload: 10-hour 8 kHz FLAC (36,000 s)", "uploads")
def _(lab: Lab) -> Outcome:
    path = write_wav(lab.tmp("long") / "ten_hours.flac", 36_000, 8000, subtype="PCM_16",
                     level=0.0)
    rc, err, peak = subprocess_peak(["detect", str(path), "--model", str(lab.model)])
    msg = cli_message(rc, err)
    return Outcome(f"{msg} [peak RSS {peak:.0f} MB, file {path.stat().st_size / 1e6:.1f} MB]",
                   {"one line, exit 1": rc == 1 and one_line(err),
                    "refused on its header (duration), never decoded": "limit" in msg,
                    "peak RSS under 1.5 GB": 0 < peak < 1500})


@scenario("upload: 1 s at 384 kHz", "uploads")
def _(lab: Lab) -> Outcome:
    path = write_wav(lab.tmp("hirate") / "hi.wav", 1.0, 384_000)
    rc, out_err, peak = subprocess_peak(["detect", str(path), "--model", str(lab.model)])
    return Outcome(f"exit {rc}; {cli_message(rc, out_err) if rc else 'detections printed'} "
                   f"[peak RSS {peak:.0f} MB]",
                   {"decoded and scanned (exit 0)": rc == 0, "peak RSS under 1.5 GB": 0 < peak < 1500})


def _take_upload(lab: Lab, label: str) -> Outcome:
    """An Enrol-page upload under a hostile file name: stored only as takes/NN.wav."""
    from model.enroll.profile import add_take, open_profile
    data = write_wav(lab.tmp("take") / "t.wav", 1.0, 16000).read_bytes()
    root = lab.tmp("profiles")
    outside = root.parent
    before = {p.name for p in outside.iterdir()}
    folder, prof = open_profile("activate", "me", root)
    report = add_take(folder, prof, data, label)
    after = {p.name for p in outside.iterdir()}
    written = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
    return Outcome(report.message.replace("\x00", "\\x00"),
                   {"nothing written outside the profile folder": after - before <= {root.name}
                    and all(not w.startswith("..") for w in written),
                    "the take file name is the lab's own (takes/NN.wav)":
                        all(Path(w).name in ("profile.json",) or Path(w).parent.name == "takes"
                            for w in written),
                    "one-line message": one_line(report.message)})


@scenario("upload name: ../../escape.wav (Enrol take)", "uploads")
def _(lab: Lab) -> Outcome:
    return _take_upload(lab, "../../escape.wav")


@scenario("upload name: absolute /etc/passwd.wav (Enrol take)", "uploads")
def _(lab: Lab) -> Outcome:
    return _take_upload(lab, "/etc/passwd.wav")


@scenario("upload name: NUL byte a\\x00b.wav (Enrol take)", "uploads")
def _(lab: Lab) -> Outcome:
    return _take_upload(lab, "a\x00b.wav")


@scenario("upload name: HTML <img src=x onerror=alert(1)>.wav (Detect download name)", "uploads")
def _(lab: Lab) -> Outcome:
    from app.common import md_text
    name = "<img src=x onerror=alert(1)>.wav"
    shown = md_text(f"{name}: not a readable audio file")
    return Outcome(shown, {"escaped for markdown (no raw tag)": "<img" not in shown.replace("\\<", "")})
