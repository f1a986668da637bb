"""Dashboard entry point: ``streamlit run app/main.py`` (started by run.sh).

Until the Trials and Detect pages exist this shows the dataset: its size, how it
was made, and a few synthesised clips to listen to.
"""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # streamlit puts app/ on the path, not the repo root
    sys.path.insert(0, str(ROOT))

from app.dataset_page import dataset_page  # noqa: E402

st.set_page_config(page_title="AMP trigger-word lab", page_icon="🎙️", layout="wide")
dataset_page(ROOT)
