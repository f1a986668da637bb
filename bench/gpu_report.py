"""Printing and derived figures of bench/bench_gpu.py's rows (table lines, TFLOP/s, AMP speedups)."""
from __future__ import annotations


def print_maths(precision: str, m: dict) -> None:
    """One precision's lean-step check (bench/engine_maths.py), each group on its own scale."""
    t, bn = m["trainable"], m["bn_stats"]
    print(f"maths {precision}: after {m['steps']} steps, trainable weights: L2 of difference / "
          f"L2 of change {t['rel_l2']:.3g}, largest difference {t['max_diff']:.3g} "
          f"({t['worst']}) of largest change {t['max_change']:.3g}; BN moving statistics: "
          f"largest relative difference {bn['max_diff']:.3g} ({bn['worst']}); losses: "
          f"largest difference {m['max_loss_diff']:.3g}", flush=True)
    if m["loss_scaling"]:
        same = m["scale_trace"]["keras"] == m["scale_trace"]["engine"]
        print(f"  loss scale [scale, counter, iterations] per step: {m['scale_trace']['engine']} "
              f"({'same as' if same else 'DIFFERS FROM'} Keras's); trainable change on the "
              f"overflow step: {m['overflow_step_change']}", flush=True)


def print_row(r: dict) -> None:
    """One table line."""
    rec = r["engine"]["record"]
    path = f"{rec['feed']}/{rec['step_mode']}/{rec['gru_kernel']}"
    if "ratio_autocast" in r:
        path += (f"  [reference GRUs in bfloat16; with autocast's float16 GRUs instead: "
                 f"{r['reference_autocast']['examples_per_s']:.1f} ex/s, ratio "
                 f"{r['ratio_autocast']:.2f}]")
    pers = r.get("engine_persistent")
    if pers is not None:
        path += (f"  [persistent: {pers['examples_per_s']:.1f} ex/s, x{r['ratio_persistent']:.2f} "
                 f"reference, x{r['persistent_vs_cudnn']:.2f} engine on cuDNN, "
                 f"{pers['tflops']:.2f} TFLOP/s ({100 * pers['peak_fraction']:.2f}% of peak), "
                 f"GRU {pers['record']['gru_kernel']}]")
    print(f"{r['precision']:9s} {r['batch']:5d}  {r['engine']['examples_per_s']:9.1f}  "
          f"{r['reference']['examples_per_s']:9.1f}  {r['ratio']:6.2f}  "
          f"{r.get('engine_amp_speedup', float('nan')):7.2f}  "
          f"{r.get('reference_amp_speedup', float('nan')):7.2f}  "
          f"{r['engine']['first_epoch_s']:7.1f}  {r['engine']['tflops']:7.2f}  {path}", flush=True)


def add_tflops(eng: dict, precision: str, peaks: dict[str, float]) -> dict:
    """Achieved TFLOP/s of an engine result and its fraction of the precision's peak."""
    from bench_gpu_gru import network_flop_per_example
    eng["tflops"] = eng["examples_per_s"] * network_flop_per_example() / 1e12
    eng["peak_fraction"] = eng["tflops"] / peaks[precision]
    return eng


def add_speedups(rows: list[dict]) -> None:
    """AMP speedup of each row against the fp32 row of the same batch size."""
    base = {r["batch"]: r for r in rows if r["precision"] == "fp32"}
    for r in rows:
        b = base.get(r["batch"])
        if b is not None:
            r["engine_amp_speedup"] = r["engine"]["examples_per_s"] / b["engine"]["examples_per_s"]
            r["reference_amp_speedup"] = (r["reference"]["examples_per_s"]
                                          / b["reference"]["examples_per_s"])
