"""What a bench run was asked to do, for the JSON it writes.

A result file that does not say how it was made cannot be reproduced or compared with
another (which batches, how many epochs, which path); each bench stores this beside its
numbers.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def invocation(script: str, args: argparse.Namespace,
               argv: list[str] | None = None) -> dict[str, Any]:
    """The script, its command-line words and the parsed arguments (defaults filled in).

    Args:
        script: the bench file (``__file__``); only its name is kept.
        args: what ``parse_args`` returned.
        argv: the list given to ``parse_args``; None means the process's ``sys.argv[1:]``.

    Returns:
        {"script": name, "argv": [words], "args": {name: value}}, JSON-safe (values that
        JSON cannot hold are written as text).
    """
    words = list(sys.argv[1:] if argv is None else argv)
    parsed = json.loads(json.dumps(vars(args), default=str))
    return {"script": Path(script).name, "argv": [str(w) for w in words], "args": parsed}
