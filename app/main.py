"""Dashboard entry point: ``streamlit run app/main.py`` (started by ``./run.sh``).

Pages: Trials (launch and watch comparisons), Sweeps (AMP speedup vs batch size), Detect
(try a model on a clip), Enrol (a detector tuned to your voice), History (every stored
comparison) and Dataset. Paths come from
environment variables, see app/settings.py (LAB_STORE, LAB_DATASET, LAB_MODELS,
LAB_DEMO_DIR, LAB_NETWORK).
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # streamlit puts app/ on the path, not the repo root
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app.dataset_page import dataset_page  # noqa: E402
from app.detect_page import detect_page  # noqa: E402
from app.enroll_page import enroll_page  # noqa: E402
from app.history_page import history_page  # noqa: E402
from app.sweeps_page import sweeps_page  # noqa: E402
from app.trials_page import trials_page  # noqa: E402


def main() -> None:
    """Set up the page and run the selected one.

    The default page (Trials) is served at ``/``; ``/trials``, the path its link would have,
    is a hidden page that switches to it (Streamlit alone answers "Page not found" there).
    An unknown path gets Streamlit's one-line "Page not found" and the Trials page.
    """
    st.set_page_config(page_title="AMP trigger-word lab", page_icon="🎙️", layout="wide")
    trials = st.Page(trials_page, title="Trials", icon=":material/speed:", url_path="home",
                     default=True)

    def trials_alias() -> None:
        st.switch_page(trials)
    pages = [trials,
             st.Page(trials_alias, title="Trials", url_path="trials", visibility="hidden"),
             st.Page(sweeps_page, title="Sweeps", icon=":material/show_chart:", url_path="sweeps"),
             st.Page(detect_page, title="Detect", icon=":material/notifications:", url_path="detect"),
             st.Page(enroll_page, title="Enrol", icon=":material/record_voice_over:", url_path="enroll"),
             st.Page(history_page, title="History", icon=":material/history:", url_path="history"),
             st.Page(dataset_page, title="Dataset", icon=":material/headphones:", url_path="dataset")]
    st.navigation(pages).run()


main()
