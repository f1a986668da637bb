"""Enrolment: a few takes of your own voice -> a detector fine-tuned to you.

Takes are checked and trimmed (``takes``), stored in a profile folder (``profile``), turned
into a personal dataset in the standard dataset layout (``personal``), fine-tuned as a
normal trial through the job queue (``finetune``), and judged before saving (``judge``);
``pipeline`` runs the whole loop for the CLI and the app.
"""
