#!/usr/bin/python3
"""diffusers' (v0.27) DDIMScheduler / EulerDiscreteScheduler schedule, re-implemented
in numpy as the reference for test/schedule.test.ts.

usage: schedule_reference.py < CASES.json          (what the test runs)
       schedule_reference.py --torch               (one-off: emulation vs. a real torch)

CASES.json is a list of {"name", "config", "step"?}; "config" has the keys of
ScheduleConfig in src/schedule/index.ts; "step" is {"index", "model_output", "sample"}.
Prints one JSON list, one object per case, with the Schedule fields, the full
float32 alphas_cumprod table, and "prev_sample" / "scaled" when "step" is given.

Each line follows the diffusers source it names. Where diffusers uses torch (betas,
cumprod, the sigma table) this script uses numpy float32 arithmetic to reproduce
torch's CPU kernels, written independently of the TypeScript:
  - torch.linspace(float32), torch >= 2.0: step = (end - start) / (n - 1) in float32;
    element i = start + step * i for i < n // 2, else end - step * (n - 1 - i), each a
    fused multiply-add (one rounding), as GCC compiles it for AVX2/AVX512
  - torch.cumprod on CPU accumulates in double (acc_type<float>) and stores float32
Everything else is the numpy expression diffusers itself runs.
"""
import json
import math
import sys
from fractions import Fraction

import numpy as np

F32 = np.float32


def f32_fma(a, b, c):
    """float32(a * b + c) with one rounding, exactly: Fraction arithmetic, then the
    nearest float32 (ties to even) chosen among the neighbours of float32(float(x))."""
    x = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
    guess = F32(float(x))
    best = None
    for cand in (np.nextafter(guess, F32(-np.inf)), guess, np.nextafter(guess, F32(np.inf))):
        d = abs(Fraction(float(cand)) - x)
        even = int(np.array(cand, dtype=F32).view(np.uint32)) % 2 == 0
        if best is None or d < best[0] or (d == best[0] and even):
            best = (d, cand)
    return best[1]


def torch_linspace_f32(start, end, n):
    s, e = F32(start), F32(end)
    if n == 1:
        return np.array([s], dtype=F32)
    step = (e - s) / F32(n - 1)
    half = n // 2
    # start + step * i and end - step * (n - 1 - i), each contracted to an FMA by the compiler
    return np.array([f32_fma(step, i, s) if i < half else f32_fma(-step, n - 1 - i, e) for i in range(n)], dtype=F32)


def betas_for_alpha_bar(n, max_beta=0.999):
    def alpha_bar(t):
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    return np.array([min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), max_beta) for i in range(n)], dtype=F32)


def train_betas(c):
    n = c["train_timesteps"]
    if c["beta_schedule"] == "linear":
        return torch_linspace_f32(c["beta_start"], c["beta_end"], n)
    if c["beta_schedule"] == "scaled_linear":
        roots = torch_linspace_f32(c["beta_start"] ** 0.5, c["beta_end"] ** 0.5, n)
        return (roots * roots).astype(F32)
    if c["beta_schedule"] == "squaredcos_cap_v2":
        return betas_for_alpha_bar(n)
    raise ValueError(c["beta_schedule"])


def alphas_cumprod(betas):
    alphas = (F32(1.0) - betas).astype(F32)
    return np.cumprod(alphas.astype(np.float64)).astype(F32)


def ddim(c, ac):
    n, steps, spacing = c["train_timesteps"], c["steps"], c["spacing"]
    # DDIMScheduler.set_timesteps
    if spacing == "linspace":
        timesteps = np.linspace(0, n - 1, steps).round()[::-1].copy().astype(np.int64)
    elif spacing == "leading":
        step_ratio = n // steps
        timesteps = (np.arange(0, steps) * step_ratio).round()[::-1].copy().astype(np.int64)
        timesteps += c["steps_offset"]
    else:
        step_ratio = n / steps
        timesteps = np.round(np.arange(n, 0, -step_ratio)).astype(np.int64)
        timesteps -= 1
    final = F32(1.0) if c["set_alpha_to_one"] else ac[0]
    # DDIMScheduler.step: prev_timestep = timestep - N // steps
    prev = [ac[t - n // steps] if t - n // steps >= 0 else final for t in timesteps]
    return {
        "timesteps": [int(t) for t in timesteps],
        "alphas_cumprod": [float(ac[t]) for t in timesteps],
        "final_alpha_cumprod": float(final),
        "prev_alphas_cumprod": [float(p) for p in prev],
        "init_noise_sigma": 1.0,
    }


def euler(c, ac):
    n, steps, spacing = c["train_timesteps"], c["steps"], c["spacing"]
    # EulerDiscreteScheduler.set_timesteps
    if spacing == "linspace":
        timesteps = np.linspace(0, n - 1, steps, dtype=np.float32)[::-1].copy()
    elif spacing == "leading":
        step_ratio = n // steps
        timesteps = (np.arange(0, steps) * step_ratio).round()[::-1].copy().astype(np.float32)
        timesteps += c["steps_offset"]
    else:
        step_ratio = n / steps
        timesteps = (np.arange(n, 0, -step_ratio)).round().copy().astype(np.float32)
        timesteps -= 1
    sigmas = np.sqrt(((F32(1) - ac) / ac).astype(F32))  # torch float32 ops; pow(0.5) is sqrt
    sigmas = np.interp(timesteps, np.arange(0, len(sigmas)), sigmas)
    sigmas = np.concatenate([sigmas, [0.0]]).astype(np.float32)
    max_sigma = sigmas.max()
    init = max_sigma if spacing in ("linspace", "trailing") else np.sqrt(F32(max_sigma * max_sigma + F32(1)))
    s64 = sigmas.astype(np.float64)
    alpha_bar = 1 / (1 + s64 * s64)
    return {
        "timesteps": [float(t) for t in timesteps],
        "alphas_cumprod": [float(a) for a in alpha_bar[:-1]],
        "final_alpha_cumprod": 1.0,
        "prev_alphas_cumprod": [float(a) for a in alpha_bar[1:]],
        "sigmas": [float(s) for s in sigmas],
        "init_noise_sigma": float(init),
    }


def step(c, sched, st):
    """The step in float64 (eta = 0, no clipping; no churn)."""
    i = st["index"]
    m = np.array(st["model_output"], dtype=np.float64)
    x = np.array(st["sample"], dtype=np.float64)
    p = c["prediction_type"]
    if c["scheduler"] == "ddim":
        a, a_prev = sched["alphas_cumprod"][i], sched["prev_alphas_cumprod"][i]
        b = 1 - a
        if p == "epsilon":
            x0, eps = (x - b ** 0.5 * m) / a ** 0.5, m
        elif p == "sample":
            x0 = m
            eps = (x - a ** 0.5 * x0) / b ** 0.5
        else:
            x0 = a ** 0.5 * x - b ** 0.5 * m
            eps = a ** 0.5 * m + b ** 0.5 * x
        return (a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps), x
    sigma, sigma_next = sched["sigmas"][i], sched["sigmas"][i + 1]
    if p == "epsilon":
        x0 = x - sigma * m
    elif p == "sample":
        x0 = m
    else:
        x0 = m * (-sigma / (sigma ** 2 + 1) ** 0.5) + x / (sigma ** 2 + 1)
    derivative = (x - x0) / sigma
    return x + derivative * (sigma_next - sigma), x / ((sigma ** 2 + 1) ** 0.5)


def run(cases):
    out = []
    for case in cases:
        c = case["config"]
        ac = alphas_cumprod(train_betas(c))
        sched = ddim(c, ac) if c["scheduler"] == "ddim" else euler(c, ac)
        sched["name"] = case["name"]
        sched["table"] = [float(a) for a in ac]
        if "step" in case:
            prev, scaled = step(c, sched, case["step"])
            sched["prev_sample"] = [float(v) for v in prev]
            sched["scaled"] = [float(v) for v in scaled]
        out.append(sched)
    return out


def check_torch():
    """Compares the float32 emulation above with whatever torch is importable."""
    import torch

    for name, c in [
        ("scaled_linear", {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "train_timesteps": 1000}),
        ("linear", {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02, "train_timesteps": 1000}),
    ]:
        if name == "linear":
            tb = torch.linspace(c["beta_start"], c["beta_end"], 1000, dtype=torch.float32)
        else:
            tb = torch.linspace(c["beta_start"] ** 0.5, c["beta_end"] ** 0.5, 1000, dtype=torch.float32) ** 2
        tac = torch.cumprod(1.0 - tb, dim=0).numpy()
        eb = train_betas(c)
        eac = alphas_cumprod(eb)
        print(json.dumps({
            "torch": torch.__version__, "schedule": name,
            "betas_differing": int((tb.numpy() != eb).sum()),
            "max_rel_alphas_cumprod": float(np.max(np.abs(tac.astype(np.float64) / eac - 1))),
            "alphas_cumprod_identical": bool((tac == eac).all()),
        }))


if __name__ == "__main__":
    if sys.argv[1:] == ["--torch"]:
        check_torch()
    else:
        json.dump(run(json.load(sys.stdin)), sys.stdout)
