"""bench/yardstick.py's table: the result dict as the readable text of yardstick_*.txt."""
from __future__ import annotations

from typing import Any


def _fmt(x: float | None, pct: bool = False) -> str:
    return "-" if x is None else (f"{100 * x:5.1f}%" if pct else f"{x:7.1f}")


def _clear(row: dict[str, Any]) -> str:
    if "clear_recall" not in row:
        return ""
    return f"  {_fmt(row['clear_recall'], True)} ({row['clear_found']}/{row['clear_triggers']})"


def format_table(res: dict[str, Any]) -> str:
    """The result as a readable table (what the .txt file holds)."""
    joined = "".join(f", max with {name}" for name in res.get("partners", []))
    if res.get("min_steps", 1) > 1:
        joined += f", {res['min_steps']} consecutive on-steps a detection"
    lines = [f"yardstick: {res['model']} ({res['feature_kind']}{joined}), card threshold "
             f"{res['card_threshold']}, {res['seconds_wall']:.0f} s"]
    real = res["real"]
    if real:
        lv = real["levels"]
        lines += [f"\nreal speech, no trigger word: {real['seconds']:.1f} s, "
                  f"{len(real['files'])} files; 1 false accept = {real['fa_per_hour_resolution']:.0f}/h",
                  f"  probability median {lv['median']:.4f}  p99 {lv['p99']:.4f}  max {lv['max']:.4f}",
                  *(f"  {f['file']:28s} {f['seconds']:5.1f} s  max {f['levels']['max']:.4f}"
                    for f in real["files"]),
                  "  threshold  false accepts  FA/h",
                  *(f"  {r['threshold']:9.3f}  {r['false_accepts']:13d}  {_fmt(r['fa_per_hour'])}"
                    for r in real["rows"])]
    for s in res["held_out"]:
        lv = s["levels_outside_labels"]
        clear = s.get("heard_words") is not None
        lines += [f"\n{s['set']} ({len(s['families'])} families, {s['clips']} clips, "
                  f"{s['seconds'] / 60:.1f} min; 1 false accept = {3600 / s['seconds']:.1f}/h; "
                  f"outside labels: median {lv['median']:.4f} p99 {lv['p99']:.4f})",
                  *([f"  {s['heard_words']} of {s['words']} trigger words are clear (pocketsphinx, "
                     "trained on real voices, hears them as the word in the mix)"] if clear else []),
                  "  threshold  found/words  recall  false accepts  FA/h" + ("  clear words" if clear else ""),
                  *(f"  {r['threshold']:9.3f}  {r['found']:5d}/{r['triggers']:<5d}  {_fmt(r['recall'], True)}"
                    f"  {r['false_accepts']:13d}  {_fmt(r['fa_per_hour'])}" + _clear(r) for r in s["rows"])]
        best = s.get("best_at_1fa")
        lines.append("  best recall with at most 1 false accept: " + (
            f"{_fmt(best['recall'], True).strip()} ({best['found']}/{best['triggers']}, "
            f"{best['false_accepts']} FA) at {best['threshold']:g}" + (
                f"; clear words {_fmt(best['clear_recall'], True).strip()}" if clear else "")
            if best else "none"))
    cal = res.get("calibrated")
    if "calibrated" in res:
        clear = (cal or {}).get("clear_recall") or [None] * len(res["held_out"])
        groups = ", ".join(f"{s['set'].split()[0]} {_fmt(r, True).strip()}/{fa} FA"
                           + (f" (clear words {_fmt(c, True).strip()})" if c is not None else "")
                           for s, r, fa, c in zip(res["held_out"], cal["recall"], cal["false_accepts"],
                                                  clear)) if cal else ""
        lines.append("\ncalibrated threshold (highest mean recall with at most "
                     f"{cal['max_fa_per_hour'] if cal else 6:g} false accepts per hour in each group "
                     "and none on real speech): " + (f"{cal['threshold']:g}: {groups}" if cal else "none"))
    return "\n".join(lines) + "\n"
