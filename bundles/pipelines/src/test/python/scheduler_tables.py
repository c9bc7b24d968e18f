#!/usr/bin/env python3
"""Reference tables for the scheduler tests of io.lorica.pipelines.scheduler.

An independent numpy re-implementation of Diffusers' (v0.3x) EulerDiscreteScheduler,
EulerAncestralDiscreteScheduler, DDIMScheduler, DPMSolverMultistepScheduler, PNDMScheduler and
LMSDiscreteScheduler, written from the Diffusers sources (``src/diffusers/schedulers/scheduling_*.py``), not from
the Java code. Diffusers keeps its tables in float32 torch tensors and does its step arithmetic in float32; torch
is not available here, so this script follows the same dtypes with numpy:

* ``torch.linspace(a, b, n, dtype=float32)`` is emulated with torch's CPU formula (``start + step * i`` for the
  first half, ``end - step * (n - 1 - i)`` for the second, ``step`` in float32);
* ``torch.cumprod`` on CPU accumulates in double and stores float32;
* 0-d float32 tensors are ``np.float32`` scalars, ``x ** 0.5`` is ``np.sqrt`` and ``x ** 2`` is ``x * x`` (what torch
  computes for those exponents);
* ``torch.log`` and ``torch.exp`` of float32 tensors are evaluated in double and rounded to float32 (torch's
  vectorised float32 functions are within one ulp); where Diffusers itself calls numpy (``np.log`` of the float32
  sigma table) numpy's float32 functions are used;
* ``torch.randn`` with a CPU generator is re-implemented (MT19937 seeded like ``manual_seed``, 24-bit float uniforms,
  Box-Muller in blocks of 16) and checked against reference values produced by torch
  (``torch_randn_reference.json``) before anything is written.

LMS coefficients are the integrals of the Lagrange basis polynomials, integrated exactly with
``numpy.polynomial`` (Diffusers calls ``scipy.integrate.quad``).

Each case records the timesteps, sigmas, ``init_noise_sigma`` and the result of a full sampling loop: latents drawn
with ``torch.randn`` (seed 3, shape [1, 4, 4, 4]) times ``init_noise_sigma``, a fake model
``model_output = 0.1 * scaled_input + 0.01 * t / 1000`` (float32), and the generator passed to every ``step`` (the
ancestral and SDE schedulers draw ``randn`` shaped like the sample at every step).

Usage: ``python3 scheduler_tables.py`` (run from anywhere); writes ``../resources/scheduler/tables.json``.
"""

import json
import math
import os
import random

import numpy as np

F32 = np.float32
HERE = os.path.dirname(os.path.abspath(__file__))
RESOURCES = os.path.normpath(os.path.join(HERE, "..", "resources", "scheduler"))
SEED = 3
SHAPE = (1, 4, 4, 4)


# ---------------------------------------------------------------------------------------------------------------
# torch emulation
# ---------------------------------------------------------------------------------------------------------------

class TorchCpuGenerator:
    """torch.Generator().manual_seed(seed) on CPU: mt19937 and torch's normal_fill for float32."""

    def __init__(self, seed):
        state = [seed & 0xFFFFFFFF]
        for i in range(1, 624):
            prev = state[-1]
            state.append((1812433253 * (prev ^ (prev >> 30)) + i) & 0xFFFFFFFF)
        self._rng = random.Random()
        self._rng.setstate((3, tuple(state + [624]), None))

    def _uniforms(self, count):
        # at::uniform_real_distribution<float>(0, 1): (random() & ((1 << 24) - 1)) * 2^-24
        return np.array([(self._rng.getrandbits(32) & 0xFFFFFF) * 2.0 ** -24 for _ in range(count)], dtype=F32)

    @staticmethod
    def _box_muller16(block):
        # torch's vectorised normal_fill_16: theta = float(2 pi) * u2 in float32; log, cos and sin are float32
        # functions, evaluated here in double and rounded (numpy's own float32 versions are less accurate)
        u1 = F32(1) - block[:8]
        u2 = block[8:].copy()
        radius = np.sqrt(F32(-2) * np.log(u1.astype(np.float64)).astype(F32))
        theta = F32(2.0 * math.pi) * u2
        block[:8] = radius * np.cos(theta.astype(np.float64)).astype(F32)
        block[8:] = radius * np.sin(theta.astype(np.float64)).astype(F32)

    def randn(self, count):
        if count < 16:
            raise ValueError("the scalar path of torch.randn (fewer than 16 values) is not emulated")
        data = self._uniforms(count)
        for i in range(0, count - 15, 16):
            self._box_muller16(data[i:i + 16])
        if count % 16 != 0:
            data[count - 16:] = self._uniforms(16)
            self._box_muller16(data[count - 16:])
        return data


def torch_linspace_f32(start, end, steps):
    start, end = F32(start), F32(end)
    if steps == 1:
        return np.array([start], dtype=F32)
    step = F32((end - start) / F32(steps - 1))
    halfway = steps // 2
    out = np.empty(steps, dtype=F32)
    for i in range(steps):
        out[i] = start + step * F32(i) if i < halfway else end - step * F32(steps - i - 1)
    return out


def torch_log(x):
    """torch.log of float32 values (vectorised Sleef, 1 ulp): evaluated in double, rounded to float32."""
    return np.log(np.asarray(x, dtype=np.float64)).astype(F32)


def torch_exp(x):
    """torch.exp of float32 values: evaluated in double, rounded to float32."""
    return np.exp(np.asarray(x, dtype=np.float64)).astype(F32)


def torch_cumprod_f32(values):
    return np.cumprod(values.astype(np.float64)).astype(F32)


def check_randn_against_torch():
    with open(os.path.join(RESOURCES, "torch_randn_reference.json"), encoding="utf-8") as f:
        ref = json.load(f)
    for case in ref["cases"]:
        gen = TorchCpuGenerator(case["seed"])
        for draw in case["draws"]:
            got = gen.randn(len(draw))
            err = np.max(np.abs(got.astype(np.float64) - np.array(draw)))
            if err > 5e-7:
                raise AssertionError(f"randn emulation differs from torch for seed {case['seed']}: {err}")


# ---------------------------------------------------------------------------------------------------------------
# Diffusers' config resolution (ConfigMixin.from_config of the target class over the loaded config)
# ---------------------------------------------------------------------------------------------------------------

COMMON = {
    "num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear",
    "trained_betas": None, "prediction_type": "epsilon", "steps_offset": 0,
}
DEFAULTS = {
    "EulerDiscreteScheduler": {**COMMON, "interpolation_type": "linear", "use_karras_sigmas": False,
                               "sigma_min": None, "sigma_max": None, "timestep_spacing": "linspace",
                               "timestep_type": "discrete", "rescale_betas_zero_snr": False,
                               "final_sigmas_type": "zero"},
    "EulerAncestralDiscreteScheduler": {**COMMON, "timestep_spacing": "linspace", "rescale_betas_zero_snr": False},
    "DDIMScheduler": {**COMMON, "clip_sample": True, "set_alpha_to_one": True, "thresholding": False,
                      "clip_sample_range": 1.0, "timestep_spacing": "leading", "rescale_betas_zero_snr": False},
    "DPMSolverMultistepScheduler": {**COMMON, "solver_order": 2, "thresholding": False,
                                    "algorithm_type": "dpmsolver++", "solver_type": "midpoint",
                                    "lower_order_final": True, "euler_at_final": False, "use_karras_sigmas": False,
                                    "final_sigmas_type": "zero", "timestep_spacing": "linspace",
                                    "rescale_betas_zero_snr": False},
    "PNDMScheduler": {**COMMON, "skip_prk_steps": False, "set_alpha_to_one": False, "timestep_spacing": "leading"},
    "LMSDiscreteScheduler": {**COMMON, "use_karras_sigmas": False, "timestep_spacing": "linspace"},
}
NAMES = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2,
                                                 "solver_type": "midpoint", "use_karras_sigmas": False}),
    "dpmpp_2m_karras": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2,
                                                        "solver_type": "midpoint", "use_karras_sigmas": True}),
    "pndm": ("PNDMScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
}


def resolve(name, config):
    """Target.from_config(Source.from_config(json).config): a key keeps the file's value, else the target default."""
    if name == "default":
        class_name = config["_class_name"]
        overrides = {}
    else:
        class_name, overrides = NAMES[name]
    used_defaults = set(config.get("_use_default_values", []))
    values = {}
    for key, default in DEFAULTS[class_name].items():
        value = config.get(key) if key not in used_defaults else None
        values[key] = default if value is None else value
    values.update(overrides)
    # DPMSolverMultistepScheduler reads sigma_min/sigma_max through hasattr(config, ...): hidden keys of the file
    for key in ("sigma_min", "sigma_max"):
        if class_name == "DPMSolverMultistepScheduler" and config.get(key) is not None:
            values[key] = config[key]
    if class_name == "DPMSolverMultistepScheduler":
        if values["algorithm_type"] not in ("dpmsolver++", "sde-dpmsolver++") and values["final_sigmas_type"] == "zero":
            raise ValueError("final_sigmas_type zero needs dpmsolver++ or sde-dpmsolver++")
    if values.get("algorithm_type") == "deis":
        values["algorithm_type"] = "dpmsolver++"
    if values.get("solver_type") in ("logrho", "bh1", "bh2"):
        values["solver_type"] = "midpoint"
    return class_name, values


CLASSES = {}


def create(name, config):
    class_name, values = resolve(name, config)
    return CLASSES[class_name](values)


# ---------------------------------------------------------------------------------------------------------------
# shared schedule pieces
# ---------------------------------------------------------------------------------------------------------------

def betas_for_alpha_bar(n, max_beta=0.999):
    def alpha_bar(t):
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    return np.array([min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), max_beta) for i in range(n)], dtype=F32)


def rescale_zero_terminal_snr(betas):
    alphas = F32(1.0) - betas
    alphas_bar_sqrt = np.sqrt(torch_cumprod_f32(alphas))
    first, last = alphas_bar_sqrt[0], alphas_bar_sqrt[-1]
    alphas_bar_sqrt = alphas_bar_sqrt - last
    alphas_bar_sqrt = alphas_bar_sqrt * (first / (first - last))
    alphas_bar = alphas_bar_sqrt * alphas_bar_sqrt
    alphas = np.concatenate([alphas_bar[0:1], alphas_bar[1:] / alphas_bar[:-1]])
    return F32(1) - alphas


class Base:
    rescale_clamps_last = True

    def __init__(self, cfg):
        self.cfg = cfg
        n = cfg["num_train_timesteps"]
        if cfg["trained_betas"] is not None:
            betas = np.array(cfg["trained_betas"], dtype=F32)
        elif cfg["beta_schedule"] == "linear":
            betas = torch_linspace_f32(cfg["beta_start"], cfg["beta_end"], n)
        elif cfg["beta_schedule"] == "scaled_linear":
            b = torch_linspace_f32(cfg["beta_start"] ** 0.5, cfg["beta_end"] ** 0.5, n)
            betas = b * b
        elif cfg["beta_schedule"] == "squaredcos_cap_v2":
            betas = betas_for_alpha_bar(n)
        else:
            raise ValueError(cfg["beta_schedule"])
        if cfg.get("rescale_betas_zero_snr"):
            betas = rescale_zero_terminal_snr(betas)
        self.betas = betas
        self.alphas_cumprod = torch_cumprod_f32(F32(1.0) - betas)
        if cfg.get("rescale_betas_zero_snr") and self.rescale_clamps_last:
            self.alphas_cumprod[-1] = F32(2.0 ** -24)
        self.init_noise_sigma = 1.0
        self.sigmas_out = []

    def train_sigmas(self):
        return np.sqrt((F32(1) - self.alphas_cumprod) / self.alphas_cumprod)

    def acp(self, index):
        # torch tensor indexing: negative indices wrap like Python's
        return self.alphas_cumprod[int(index)]

    def spaced(self, steps, dtype):
        """The float/discrete spacing shared by Euler, Euler ancestral and LMS (float32 timesteps)."""
        n = self.cfg["num_train_timesteps"]
        spacing = self.cfg["timestep_spacing"]
        if spacing == "linspace":
            return np.linspace(0, n - 1, steps, dtype=dtype)[::-1].copy()
        if spacing == "leading":
            ratio = n // steps
            t = (np.arange(0, steps) * ratio).round()[::-1].copy().astype(dtype)
            t += self.cfg["steps_offset"]
            return t
        if spacing == "trailing":
            ratio = n / steps
            t = np.arange(n, 0, -ratio).round().copy().astype(dtype)
            t -= 1
            return t
        raise ValueError(spacing)

    def karras(self, in_sigmas, steps, use_config_bounds):
        sigma_min = self.cfg.get("sigma_min") if use_config_bounds else None
        sigma_max = self.cfg.get("sigma_max") if use_config_bounds else None
        sigma_min = sigma_min if sigma_min is not None else float(in_sigmas[-1])
        sigma_max = sigma_max if sigma_max is not None else float(in_sigmas[0])
        rho = 7.0
        ramp = np.linspace(0, 1, steps)
        min_inv_rho = sigma_min ** (1 / rho)
        max_inv_rho = sigma_max ** (1 / rho)
        return (max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho

    @staticmethod
    def sigma_to_t(sigma, log_sigmas):
        log_sigma = np.log(np.maximum(sigma, 1e-10))
        dists = log_sigma - log_sigmas[:, np.newaxis]
        low_idx = np.cumsum((dists >= 0), axis=0).argmax(axis=0).clip(max=log_sigmas.shape[0] - 2)
        high_idx = low_idx + 1
        low = log_sigmas[low_idx]
        high = log_sigmas[high_idx]
        w = (low - log_sigma) / (low - high)
        w = np.clip(w, 0, 1)
        t = (1 - w) * low_idx + w * high_idx
        return t.reshape(np.shape(sigma))

    def scale_model_input(self, sample, i):
        return sample

    @staticmethod
    def inv_sqrt_factor(sigma):
        return np.sqrt(sigma * sigma + F32(1))


class Euler(Base):
    def set_timesteps(self, steps):
        cfg = self.cfg
        timesteps = self.spaced(steps, np.float32)
        sigmas = np.array(self.train_sigmas())
        log_sigmas = np.log(sigmas)
        if cfg["interpolation_type"] == "linear":
            sigmas = np.interp(timesteps, np.arange(0, len(sigmas)), sigmas)
        else:
            sigmas = torch_exp(torch_linspace_f32(np.log(sigmas[-1]), np.log(sigmas[0]), steps + 1))
        if cfg["use_karras_sigmas"]:
            sigmas = self.karras(sigmas, steps, True)
            timesteps = np.array([self.sigma_to_t(s, log_sigmas) for s in sigmas])
        if cfg["final_sigmas_type"] == "sigma_min":
            a0 = self.alphas_cumprod[0]
            last = np.sqrt((F32(1) - a0) / a0)
        else:
            last = 0
        sigmas = np.concatenate([sigmas, [last]]).astype(F32)
        self.sigmas = sigmas
        if cfg["timestep_type"] == "continuous" and cfg["prediction_type"] == "v_prediction":
            self.timesteps = np.array([F32(0.25) * torch_log(s) for s in sigmas[:-1]], dtype=F32)
        else:
            self.timesteps = timesteps.astype(F32)
        max_sigma = sigmas.max()
        if cfg["timestep_spacing"] in ("linspace", "trailing"):
            self.init_noise_sigma = max_sigma
        else:
            self.init_noise_sigma = np.sqrt(max_sigma * max_sigma + F32(1))
        self.sigmas_out = sigmas

    def scale_model_input(self, sample, i):
        return sample / self.inv_sqrt_factor(self.sigmas[i])

    def step(self, model_output, i, sample, gen):
        sigma = self.sigmas[i]
        pt = self.cfg["prediction_type"]
        if pt == "sample":
            pred = model_output
        elif pt == "epsilon":
            pred = sample - sigma * model_output
        else:
            pred = model_output * (-sigma / np.sqrt(sigma * sigma + F32(1))) + (sample / (sigma * sigma + F32(1)))
        derivative = (sample - pred) / sigma
        dt = self.sigmas[i + 1] - sigma
        return sample + derivative * dt


class EulerAncestral(Base):
    def set_timesteps(self, steps):
        timesteps = self.spaced(steps, np.float32)
        sigmas = np.array(self.train_sigmas())
        sigmas = np.interp(timesteps, np.arange(0, len(sigmas)), sigmas)
        sigmas = np.concatenate([sigmas, [0.0]]).astype(F32)
        self.sigmas = sigmas
        self.timesteps = timesteps
        max_sigma = sigmas.max()
        if self.cfg["timestep_spacing"] in ("linspace", "trailing"):
            self.init_noise_sigma = max_sigma
        else:
            self.init_noise_sigma = np.sqrt(max_sigma * max_sigma + F32(1))
        self.sigmas_out = sigmas

    def scale_model_input(self, sample, i):
        return sample / self.inv_sqrt_factor(self.sigmas[i])

    def step(self, model_output, i, sample, gen):
        sigma = self.sigmas[i]
        pt = self.cfg["prediction_type"]
        if pt == "epsilon":
            pred = sample - sigma * model_output
        elif pt == "v_prediction":
            pred = model_output * (-sigma / np.sqrt(sigma * sigma + F32(1))) + (sample / (sigma * sigma + F32(1)))
        else:
            raise NotImplementedError(pt)
        s_from, s_to = self.sigmas[i], self.sigmas[i + 1]
        sigma_up = np.sqrt(s_to * s_to * (s_from * s_from - s_to * s_to) / (s_from * s_from))
        sigma_down = np.sqrt(s_to * s_to - sigma_up * sigma_up)
        derivative = (sample - pred) / sigma
        dt = sigma_down - sigma
        prev = sample + derivative * dt
        noise = gen.randn(sample.size).reshape(sample.shape)
        return prev + noise * sigma_up


class Ddim(Base):
    rescale_clamps_last = False

    def __init__(self, cfg):
        super().__init__(cfg)
        self.final_alpha_cumprod = F32(1.0) if cfg["set_alpha_to_one"] else self.alphas_cumprod[0]

    def set_timesteps(self, steps):
        n = self.cfg["num_train_timesteps"]
        spacing = self.cfg["timestep_spacing"]
        if spacing == "linspace":
            t = np.linspace(0, n - 1, steps).round()[::-1].copy().astype(np.int64)
        elif spacing == "leading":
            ratio = n // steps
            t = (np.arange(0, steps) * ratio).round()[::-1].copy().astype(np.int64)
            t += self.cfg["steps_offset"]
        else:
            ratio = n / steps
            t = np.round(np.arange(n, 0, -ratio)).astype(np.int64)
            t -= 1
        self.steps = steps
        self.timesteps = t

    def step(self, model_output, i, sample, gen):
        cfg = self.cfg
        timestep = int(self.timesteps[i])
        prev_timestep = timestep - cfg["num_train_timesteps"] // self.steps
        a = self.acp(timestep)
        a_prev = self.acp(prev_timestep) if prev_timestep >= 0 else self.final_alpha_cumprod
        b = F32(1) - a
        pt = cfg["prediction_type"]
        if pt == "epsilon":
            x0 = (sample - np.sqrt(b) * model_output) / np.sqrt(a)
            eps = model_output
        elif pt == "sample":
            x0 = model_output
            eps = (sample - np.sqrt(a) * x0) / np.sqrt(b)
        else:
            x0 = np.sqrt(a) * sample - np.sqrt(b) * model_output
            eps = np.sqrt(a) * model_output + np.sqrt(b) * sample
        if cfg["clip_sample"]:
            r = F32(cfg["clip_sample_range"])
            x0 = np.clip(x0, -r, r)
        b_prev = F32(1) - a_prev
        variance = (b_prev / b) * (F32(1) - a / a_prev)
        std = F32(0.0) * np.sqrt(variance)
        direction = np.sqrt(F32(1) - a_prev - std * std) * eps
        return np.sqrt(a_prev) * x0 + direction


class DpmSolverMultistep(Base):
    def set_timesteps(self, steps):
        cfg = self.cfg
        n = cfg["num_train_timesteps"]
        last_timestep = n
        spacing = cfg["timestep_spacing"]
        if spacing == "linspace":
            t = np.linspace(0, last_timestep - 1, steps + 1).round()[::-1][:-1].copy().astype(np.int64)
        elif spacing == "leading":
            ratio = last_timestep // (steps + 1)
            t = (np.arange(0, steps + 1) * ratio).round()[::-1][:-1].copy().astype(np.int64)
            t += cfg["steps_offset"]
        else:
            ratio = n / steps
            t = np.arange(last_timestep, 0, -ratio).round().copy().astype(np.int64)
            t -= 1
        sigmas = np.array(self.train_sigmas())
        log_sigmas = np.log(sigmas)
        if cfg["use_karras_sigmas"]:
            sigmas = np.flip(sigmas).copy()
            sigmas = self.karras(sigmas, steps, True)
            t = np.array([self.sigma_to_t(s, log_sigmas) for s in sigmas])
            if cfg["beta_schedule"] != "squaredcos_cap_v2":
                t = t.round()
        else:
            sigmas = np.interp(t, np.arange(0, len(sigmas)), sigmas)
        if cfg["final_sigmas_type"] == "sigma_min":
            a0 = self.alphas_cumprod[0]
            last = np.sqrt((F32(1) - a0) / a0)
        else:
            last = 0
        self.sigmas = np.concatenate([sigmas, [last]]).astype(F32)
        self.timesteps = t.astype(np.int64)
        self.model_outputs = [None] * cfg["solver_order"]
        self.lower_order_nums = 0
        self.sigmas_out = self.sigmas

    @staticmethod
    def alpha_sigma(sigma):
        alpha_t = F32(1) / np.sqrt(sigma * sigma + F32(1))
        return alpha_t, sigma * alpha_t

    def lam(self, index):
        alpha, sigma = self.alpha_sigma(self.sigmas[index])
        with np.errstate(divide="ignore"):
            return alpha, sigma, torch_log(alpha) - torch_log(sigma)

    def convert(self, model_output, sample, i):
        cfg = self.cfg
        alpha_t, sigma_t = self.alpha_sigma(self.sigmas[i])
        pt = cfg["prediction_type"]
        if cfg["algorithm_type"] in ("dpmsolver++", "sde-dpmsolver++"):
            if pt == "epsilon":
                return (sample - sigma_t * model_output) / alpha_t
            if pt == "sample":
                return model_output
            return alpha_t * sample - sigma_t * model_output
        if pt == "epsilon":
            return model_output
        if pt == "sample":
            return (sample - alpha_t * model_output) / sigma_t
        return alpha_t * model_output + sigma_t * sample

    def first_order(self, m, i, sample, noise):
        alg = self.cfg["algorithm_type"]
        alpha_t, sigma_t, lambda_t = self.lam(i + 1)
        alpha_s, sigma_s, lambda_s = self.lam(i)
        h = lambda_t - lambda_s
        if alg == "dpmsolver++":
            return (sigma_t / sigma_s) * sample - (alpha_t * (torch_exp(-h) - F32(1))) * m
        if alg == "dpmsolver":
            return (alpha_t / alpha_s) * sample - (sigma_t * (torch_exp(h) - F32(1))) * m
        if alg == "sde-dpmsolver++":
            return ((sigma_t / sigma_s * torch_exp(-h)) * sample
                    + (alpha_t * (F32(1) - torch_exp(F32(-2.0) * h))) * m
                    + sigma_t * np.sqrt(F32(1) - torch_exp(F32(-2) * h)) * noise)
        return ((alpha_t / alpha_s) * sample
                - F32(2.0) * (sigma_t * (torch_exp(h) - F32(1))) * m
                + sigma_t * np.sqrt(torch_exp(F32(2) * h) - F32(1)) * noise)

    def second_order(self, i, sample, noise):
        alg, kind = self.cfg["algorithm_type"], self.cfg["solver_type"]
        alpha_t, sigma_t, lambda_t = self.lam(i + 1)
        alpha_s0, sigma_s0, lambda_s0 = self.lam(i)
        _, _, lambda_s1 = self.lam(i - 1)
        m0, m1 = self.model_outputs[-1], self.model_outputs[-2]
        h, h_0 = lambda_t - lambda_s0, lambda_s0 - lambda_s1
        r0 = h_0 / h
        d0, d1 = m0, (F32(1) / r0) * (m0 - m1)
        one = F32(1)
        if alg == "dpmsolver++":
            if kind == "midpoint":
                return ((sigma_t / sigma_s0) * sample - (alpha_t * (torch_exp(-h) - one)) * d0
                        - F32(0.5) * (alpha_t * (torch_exp(-h) - one)) * d1)
            return ((sigma_t / sigma_s0) * sample - (alpha_t * (torch_exp(-h) - one)) * d0
                    + (alpha_t * ((torch_exp(-h) - one) / h + one)) * d1)
        if alg == "dpmsolver":
            if kind == "midpoint":
                return ((alpha_t / alpha_s0) * sample - (sigma_t * (torch_exp(h) - one)) * d0
                        - F32(0.5) * (sigma_t * (torch_exp(h) - one)) * d1)
            return ((alpha_t / alpha_s0) * sample - (sigma_t * (torch_exp(h) - one)) * d0
                    - (sigma_t * ((torch_exp(h) - one) / h - one)) * d1)
        if alg == "sde-dpmsolver++":
            e2 = torch_exp(F32(-2.0) * h)
            head = (sigma_t / sigma_s0 * torch_exp(-h)) * sample + (alpha_t * (one - e2)) * d0
            if kind == "midpoint":
                head = head + F32(0.5) * (alpha_t * (one - e2)) * d1
            else:
                head = head + (alpha_t * ((one - e2) / (F32(-2.0) * h) + one)) * d1
            return head + sigma_t * np.sqrt(one - e2) * noise
        head = (alpha_t / alpha_s0) * sample - F32(2.0) * (sigma_t * (torch_exp(h) - one)) * d0
        if kind == "midpoint":
            head = head - (sigma_t * (torch_exp(h) - one)) * d1
        else:
            head = head - F32(2.0) * (sigma_t * ((torch_exp(h) - one) / h - one)) * d1
        return head + sigma_t * np.sqrt(torch_exp(F32(2) * h) - one) * noise

    def third_order(self, i, sample, noise):
        alg = self.cfg["algorithm_type"]
        one = F32(1)
        alpha_t, sigma_t, lambda_t = self.lam(i + 1)
        alpha_s0, sigma_s0, lambda_s0 = self.lam(i)
        _, _, lambda_s1 = self.lam(i - 1)
        _, _, lambda_s2 = self.lam(i - 2)
        m0, m1, m2 = self.model_outputs[-1], self.model_outputs[-2], self.model_outputs[-3]
        h, h_0, h_1 = lambda_t - lambda_s0, lambda_s0 - lambda_s1, lambda_s1 - lambda_s2
        r0, r1 = h_0 / h, h_1 / h
        d0 = m0
        d1_0, d1_1 = (one / r0) * (m0 - m1), (one / r1) * (m1 - m2)
        d1 = d1_0 + (r0 / (r0 + r1)) * (d1_0 - d1_1)
        d2 = (one / (r0 + r1)) * (d1_0 - d1_1)
        if alg == "dpmsolver++":
            return ((sigma_t / sigma_s0) * sample
                    - (alpha_t * (torch_exp(-h) - one)) * d0
                    + (alpha_t * ((torch_exp(-h) - one) / h + one)) * d1
                    - (alpha_t * ((torch_exp(-h) - one + h) / (h * h) - F32(0.5))) * d2)
        if alg == "dpmsolver":
            return ((alpha_t / alpha_s0) * sample
                    - (sigma_t * (torch_exp(h) - one)) * d0
                    - (sigma_t * ((torch_exp(h) - one) / h - one)) * d1
                    - (sigma_t * ((torch_exp(h) - one - h) / (h * h) - F32(0.5))) * d2)
        e2 = torch_exp(F32(-2.0) * h)
        two_h = F32(2.0) * h
        return ((sigma_t / sigma_s0 * torch_exp(-h)) * sample
                + (alpha_t * (one - e2)) * d0
                + (alpha_t * ((one - e2) / (F32(-2.0) * h) + one)) * d1
                + (alpha_t * ((one - e2 - F32(2.0) * h) / (two_h * two_h) - F32(0.5))) * d2
                + sigma_t * np.sqrt(one - torch_exp(F32(-2) * h)) * noise)

    def step(self, model_output, i, sample, gen):
        cfg = self.cfg
        count = len(self.timesteps)
        lower_order_final = (i == count - 1) and (
            cfg["euler_at_final"] or (cfg["lower_order_final"] and count < 15)
            or cfg["final_sigmas_type"] == "zero")
        lower_order_second = (i == count - 2) and cfg["lower_order_final"] and count < 15
        m = self.convert(model_output, sample, i)
        order = cfg["solver_order"]
        for k in range(order - 1):
            self.model_outputs[k] = self.model_outputs[k + 1]
        self.model_outputs[-1] = m
        noise = None
        if cfg["algorithm_type"] in ("sde-dpmsolver", "sde-dpmsolver++"):
            noise = gen.randn(sample.size).reshape(sample.shape)
        if order == 1 or self.lower_order_nums < 1 or lower_order_final:
            prev = self.first_order(m, i, sample, noise)
        elif order == 2 or self.lower_order_nums < 2 or lower_order_second:
            prev = self.second_order(i, sample, noise)
        else:
            prev = self.third_order(i, sample, noise)
        if self.lower_order_nums < order:
            self.lower_order_nums += 1
        return prev


class Pndm(Base):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.final_alpha_cumprod = F32(1.0) if cfg["set_alpha_to_one"] else self.alphas_cumprod[0]

    def set_timesteps(self, steps):
        cfg = self.cfg
        n = cfg["num_train_timesteps"]
        spacing = cfg["timestep_spacing"]
        if spacing == "linspace":
            ts = np.linspace(0, n - 1, steps).round().astype(np.int64)
        elif spacing == "leading":
            ratio = n // steps
            ts = (np.arange(0, steps) * ratio).round()
            ts += cfg["steps_offset"]
        else:
            ratio = n / steps
            ts = np.round(np.arange(n, 0, -ratio))[::-1].astype(np.int64)
            ts -= 1
        self.steps = steps
        if cfg["skip_prk_steps"]:
            self.prk_timesteps = np.array([])
            self.plms_timesteps = np.concatenate([ts[:-1], ts[-2:-1], ts[-1:]])[::-1].copy()
        else:
            prk = np.array(ts[-4:]).repeat(2) + np.tile(np.array([0, n // steps // 2]), 4)
            self.prk_timesteps = (prk[:-1].repeat(2)[1:-1])[::-1].copy()
            self.plms_timesteps = ts[:-3][::-1].copy()
        self.timesteps = np.concatenate([self.prk_timesteps, self.plms_timesteps]).astype(np.int64)
        self.ets = []
        self.counter = 0
        self.cur_model_output = 0
        self.cur_sample = None

    def step(self, model_output, i, sample, gen):
        timestep = int(self.timesteps[i])
        if self.counter < len(self.prk_timesteps) and not self.cfg["skip_prk_steps"]:
            return self.step_prk(model_output, timestep, sample)
        return self.step_plms(model_output, timestep, sample)

    def step_prk(self, model_output, timestep, sample):
        n = self.cfg["num_train_timesteps"]
        diff_to_prev = 0 if self.counter % 2 else n // self.steps // 2
        prev_timestep = timestep - diff_to_prev
        timestep = int(self.prk_timesteps[self.counter // 4 * 4])
        if self.counter % 4 == 0:
            self.cur_model_output = self.cur_model_output + F32(1 / 6) * model_output
            self.ets.append(model_output)
            self.cur_sample = sample
        elif (self.counter - 1) % 4 == 0:
            self.cur_model_output = self.cur_model_output + F32(1 / 3) * model_output
        elif (self.counter - 2) % 4 == 0:
            self.cur_model_output = self.cur_model_output + F32(1 / 3) * model_output
        else:
            model_output = self.cur_model_output + F32(1 / 6) * model_output
            self.cur_model_output = 0
        cur_sample = self.cur_sample if self.cur_sample is not None else sample
        prev = self.prev_sample(cur_sample, timestep, prev_timestep, model_output)
        self.counter += 1
        return prev

    def step_plms(self, model_output, timestep, sample):
        n = self.cfg["num_train_timesteps"]
        if not self.cfg["skip_prk_steps"] and len(self.ets) < 3:
            raise ValueError("plms without 3 prk steps")
        prev_timestep = timestep - n // self.steps
        if self.counter != 1:
            self.ets = self.ets[-3:]
            self.ets.append(model_output)
        else:
            prev_timestep = timestep
            timestep = timestep + n // self.steps
        e = self.ets
        if len(e) == 1 and self.counter == 0:
            self.cur_sample = sample
        elif len(e) == 1 and self.counter == 1:
            model_output = (model_output + e[-1]) / F32(2)
            sample = self.cur_sample
            self.cur_sample = None
        elif len(e) == 2:
            model_output = (F32(3) * e[-1] - e[-2]) / F32(2)
        elif len(e) == 3:
            model_output = (F32(23) * e[-1] - F32(16) * e[-2] + F32(5) * e[-3]) / F32(12)
        else:
            model_output = F32(1 / 24) * (F32(55) * e[-1] - F32(59) * e[-2] + F32(37) * e[-3] - F32(9) * e[-4])
        prev = self.prev_sample(sample, timestep, prev_timestep, model_output)
        self.counter += 1
        return prev

    def prev_sample(self, sample, timestep, prev_timestep, model_output):
        a = self.acp(timestep)
        a_prev = self.acp(prev_timestep) if prev_timestep >= 0 else self.final_alpha_cumprod
        b = F32(1) - a
        b_prev = F32(1) - a_prev
        if self.cfg["prediction_type"] == "v_prediction":
            model_output = np.sqrt(a) * model_output + np.sqrt(b) * sample
        coeff = np.sqrt(a_prev / a)
        denom = a * np.sqrt(b_prev) + np.sqrt(a * b * a_prev)
        return coeff * sample - (a_prev - a) * model_output / denom


class Lms(Base):
    def set_timesteps(self, steps):
        timesteps = self.spaced(steps, np.float32)
        sigmas = np.array(self.train_sigmas())
        log_sigmas = np.log(sigmas)
        sigmas = np.interp(timesteps, np.arange(0, len(sigmas)), sigmas)
        if self.cfg["use_karras_sigmas"]:
            sigmas = self.karras(sigmas, steps, False)
            timesteps = np.array([self.sigma_to_t(s, log_sigmas) for s in sigmas])
        self.sigmas = np.concatenate([sigmas, [0.0]]).astype(F32)
        self.timesteps = timesteps.astype(F32)
        max_sigma = self.sigmas.max()
        if self.cfg["timestep_spacing"] in ("linspace", "trailing"):
            self.init_noise_sigma = max_sigma
        else:
            self.init_noise_sigma = np.sqrt(max_sigma * max_sigma + F32(1))
        self.derivatives = []
        self.sigmas_out = self.sigmas

    def scale_model_input(self, sample, i):
        return sample / self.inv_sqrt_factor(self.sigmas[i])

    def coefficient(self, order, t, current):
        """Exact integral over [sigma_t, sigma_t+1] of the Lagrange basis polynomial of node t - current."""
        s = [float(v) for v in self.sigmas]
        poly = np.polynomial.Polynomial([1.0])
        for k in range(order):
            if k == current:
                continue
            poly = poly * np.polynomial.Polynomial([-s[t - k], 1.0]) / (s[t - current] - s[t - k])
        antiderivative = poly.integ()
        return antiderivative(s[t + 1]) - antiderivative(s[t])

    def step(self, model_output, i, sample, gen, order=4):
        sigma = self.sigmas[i]
        pt = self.cfg["prediction_type"]
        if pt == "epsilon":
            pred = sample - sigma * model_output
        elif pt == "v_prediction":
            pred = model_output * (-sigma / np.sqrt(sigma * sigma + F32(1))) + (sample / (sigma * sigma + F32(1)))
        else:
            pred = model_output
        derivative = (sample - pred) / sigma
        self.derivatives.append(derivative)
        if len(self.derivatives) > order:
            self.derivatives.pop(0)
        order = min(i + 1, order)
        coeffs = [self.coefficient(order, i, c) for c in range(order)]
        total = 0
        for coeff, d in zip(coeffs, reversed(self.derivatives)):
            total = total + F32(coeff) * d
        return sample + total


CLASSES.update({
    "EulerDiscreteScheduler": Euler,
    "EulerAncestralDiscreteScheduler": EulerAncestral,
    "DDIMScheduler": Ddim,
    "DPMSolverMultistepScheduler": DpmSolverMultistep,
    "PNDMScheduler": Pndm,
    "LMSDiscreteScheduler": Lms,
})


# ---------------------------------------------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------------------------------------------

SD15 = {"_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
        "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
        "clip_sample": False, "trained_betas": None}
SDXL = {"_class_name": "EulerDiscreteScheduler", "beta_start": 0.00085, "beta_end": 0.012,
        "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "steps_offset": 1,
        "timestep_spacing": "leading", "interpolation_type": "linear", "prediction_type": "epsilon",
        "use_karras_sigmas": False, "sample_max_value": 1.0, "set_alpha_to_one": False, "skip_prk_steps": True,
        "clip_sample": False}
SD21V = {"_class_name": "DDIMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
         "clip_sample": False, "num_train_timesteps": 1000, "prediction_type": "v_prediction",
         "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None}
DPM = {"_class_name": "DPMSolverMultistepScheduler", "beta_start": 0.00085, "beta_end": 0.012,
       "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "steps_offset": 1}
ALL = ["euler", "euler_a", "ddim", "dpmpp_2m", "dpmpp_2m_karras", "pndm", "lms"]


def with_keys(config, **keys):
    return {**config, **keys}


def cases():
    out = []

    def add(group, name, config, steps):
        out.append((group, name, config, steps))

    for label, config in (("sd15", SD15), ("sdxl", SDXL)):
        for name in ALL:
            for steps in (1, 4, 20, 25, 30, 50):
                add("base-" + label, name, config, steps)
        add("default-" + label, "default", config, 25)
    for spacing in ("leading", "linspace", "trailing"):
        for name in ALL:
            for steps in (4, 61):
                add("spacing-" + spacing, name, with_keys(SD15, timestep_spacing=spacing), steps)
    for label, config in (("sd15", SD15), ("sdxl", SDXL)):
        for name in ("euler", "lms"):
            for steps in (1, 4, 20, 30):
                add("karras-" + label, name, with_keys(config, use_karras_sigmas=True), steps)
        add("karras-" + label, "euler",
            with_keys(config, use_karras_sigmas=True, timestep_spacing="trailing"), 12)
    for name in ALL:
        for steps in (4, 25):
            add("vpred", name, SD21V, steps)
    zsnr = with_keys(SD21V, rescale_betas_zero_snr=True, timestep_spacing="trailing")
    for name in ("euler", "euler_a", "ddim", "dpmpp_2m"):
        for steps in (4, 25):
            add("vpred-zsnr", name, zsnr, steps)
    for steps in (4, 5, 20, 50):
        add("pndm-prk", "pndm", with_keys(SD15, skip_prk_steps=False), steps)
    add("pndm-prk", "pndm", with_keys(SD21V, skip_prk_steps=False), 20)
    add("pndm-prk", "pndm", with_keys(SD15, skip_prk_steps=False, timestep_spacing="linspace"), 20)
    dpm_variants = [
        {}, {"solver_order": 3}, {"solver_type": "heun"}, {"solver_order": 3, "use_karras_sigmas": True},
        {"solver_order": 1}, {"lower_order_final": False}, {"euler_at_final": True},
        {"final_sigmas_type": "sigma_min"}, {"final_sigmas_type": "sigma_min", "lower_order_final": False},
        {"algorithm_type": "dpmsolver", "final_sigmas_type": "sigma_min"},
        {"algorithm_type": "dpmsolver", "final_sigmas_type": "sigma_min", "solver_type": "heun",
         "solver_order": 3},
        {"algorithm_type": "sde-dpmsolver++"}, {"algorithm_type": "sde-dpmsolver++", "solver_type": "heun"},
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 3, "use_karras_sigmas": True},
        {"algorithm_type": "sde-dpmsolver", "final_sigmas_type": "sigma_min"},
        {"algorithm_type": "sde-dpmsolver", "final_sigmas_type": "sigma_min", "solver_type": "heun"},
        {"prediction_type": "sample"}, {"prediction_type": "v_prediction", "solver_order": 3},
        {"timestep_spacing": "trailing"}, {"timestep_spacing": "leading"},
        {"use_karras_sigmas": True, "sigma_min": 0.05, "sigma_max": 10.0},
        {"algorithm_type": "deis", "solver_type": "logrho", "final_sigmas_type": "sigma_min"},
        {"beta_schedule": "squaredcos_cap_v2", "use_karras_sigmas": True},
    ]
    for variant in dpm_variants:
        for steps in (8, 25):
            add("dpm", "default", with_keys(DPM, **variant), steps)
    euler = with_keys(SDXL)
    euler_variants = [
        {"final_sigmas_type": "sigma_min"}, {"timestep_type": "continuous", "prediction_type": "v_prediction"},
        {"prediction_type": "sample"}, {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02},
        {"beta_schedule": "squaredcos_cap_v2"},
        {"use_karras_sigmas": True, "sigma_min": 0.1, "sigma_max": 10.0},
        {"use_karras_sigmas": True, "final_sigmas_type": "sigma_min"},
        {"interpolation_type": "log_linear"}, {"interpolation_type": "log_linear", "use_karras_sigmas": True},
        {"interpolation_type": "log_linear", "timestep_type": "continuous", "prediction_type": "v_prediction"},
        {"rescale_betas_zero_snr": True, "prediction_type": "v_prediction", "timestep_spacing": "trailing"},
        {"num_train_timesteps": 100,
         "trained_betas": [float(b) for b in np.linspace(0.001, 0.05, 100)]},
    ]
    for variant in euler_variants:
        for steps in (4, 20):
            add("euler", "default", with_keys(euler, **variant), steps)
    for variant in ({"prediction_type": "v_prediction"}, {"beta_schedule": "linear"},
                    {"num_train_timesteps": 100, "trained_betas": [float(b) for b in np.linspace(0.001, 0.05, 100)]}):
        for steps in (4, 20):
            add("euler_a", "euler_a", with_keys(SD15, **variant), steps)
    ddim = with_keys(SD15, _class_name="DDIMScheduler")
    ddim_variants = [
        {"set_alpha_to_one": True}, {"clip_sample": True}, {"clip_sample": True, "clip_sample_range": 0.5},
        {"prediction_type": "sample"}, {"timestep_spacing": "linspace"}, {"beta_schedule": "squaredcos_cap_v2"},
        {"rescale_betas_zero_snr": True, "prediction_type": "v_prediction", "timestep_spacing": "trailing"},
    ]
    for variant in ddim_variants:
        for steps in (4, 20):
            add("ddim", "default", with_keys(ddim, **variant), steps)
    for variant in ({"prediction_type": "v_prediction"}, {"prediction_type": "sample"},
                    {"beta_schedule": "linear", "timestep_spacing": "leading"}, {"use_karras_sigmas": True,
                                                                                 "timestep_spacing": "leading"}):
        for steps in (4, 20):
            add("lms", "lms", with_keys(SD15, **variant), steps)
    add("pndm", "pndm", with_keys(SD15, set_alpha_to_one=True), 20)
    add("pndm", "pndm", with_keys(SD15, beta_schedule="linear", beta_start=0.0001, beta_end=0.02), 20)
    add("from_config", "euler", with_keys(SDXL, _use_default_values=["timestep_spacing"]), 10)
    return out


def f32_list(values):
    return [float(str(F32(v))) for v in np.asarray(values, dtype=np.float64).ravel()]


def run_case(name, config, steps):
    scheduler = create(name, config)
    scheduler.set_timesteps(steps)
    timesteps = np.array(scheduler.timesteps)
    gen = TorchCpuGenerator(SEED)
    count = int(np.prod(SHAPE))
    latents = (gen.randn(count) * scheduler.init_noise_sigma).astype(F32).reshape(SHAPE)
    first = latents
    for i, t in enumerate(timesteps):
        model_input = scheduler.scale_model_input(latents, i)
        model_output = (F32(0.1) * model_input + F32(0.01 * float(t) / 1000.0)).astype(F32)
        latents = scheduler.step(model_output, i, latents, gen)
        if latents.dtype != F32:
            raise AssertionError(f"{name} step {i} left float32: {latents.dtype}")
        if i == 0:
            first = latents
    return {
        "timesteps": f32_list(timesteps) if timesteps.dtype != np.int64 else [int(v) for v in timesteps],
        "sigmas": f32_list(scheduler.sigmas_out),
        "init_noise_sigma": float(str(F32(scheduler.init_noise_sigma))),
        "step_count": int(len(timesteps)),
        "first": f32_list(first),
        "final": f32_list(latents),
    }


def main():
    check_randn_against_torch()
    out_cases = []
    for index, (group, name, config, steps) in enumerate(cases()):
        result = run_case(name, config, steps)
        out_cases.append({"id": f"{index:03d}-{group}-{name}-{steps}", "scheduler": name, "steps": steps,
                          "config": config, **result})
    document = {
        "description": "Diffusers scheduler reference tables and sampling loops, generated by "
                       "src/test/python/scheduler_tables.py (numpy re-implementation of Diffusers' schedulers). "
                       "Loop: latents = torch.randn(generator seed " + str(SEED) + ", shape " + str(list(SHAPE))
                       + ") * init_noise_sigma; model_output = 0.1 * scale_model_input(latents) + 0.01 * t / 1000 "
                       "(float32); step(model_output, t, latents, generator). 'first' is the sample after the "
                       "first step, 'final' after the last.",
        "seed": SEED,
        "shape": list(SHAPE),
        "cases": out_cases,
    }
    path = os.path.join(RESOURCES, "tables.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(document, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(out_cases)} cases to {os.path.relpath(path, HERE)}")


if __name__ == "__main__":
    main()
