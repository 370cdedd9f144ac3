"""Comparison tables, figures and per-model report runners (``physml run MODEL``)."""

from importlib import import_module

# model name -> (module with run(out_dir, *, settings, methods, quick, seed, data, progress), one-line description)
ANALYSES = {
    "regression": ("regression", "Bayesian linear regression: energy ↔ −ln p, free energy ↔ −ln evidence (exact NIG)"),
    "ising": ("ising", "Ising model: exact Kaufman/Onsager, checkerboard & cluster samplers, mean field, Bethe, TI and AIS"),
    "denoise": ("denoise", "Ising-prior image denoising: Gibbs/Metropolis, mean field (CAVI), Hubbard–Stratonovich + NUTS / ADVI, exact 4×4 and TI/AIS evidence"),
    "rbm": ("rbm", "Restricted Boltzmann machine: exact vs AIS ln Z, exact-gradient/CD/PCD learning, Bayesian RBM by NUTS and ADVI"),
    "double_descent": ("double_descent", "Double descent: min-norm least squares' peak at γ = p/n = 1 vs HMRT theory; the evidence-tuned Bayesian posterior mean removes it"),
    "spin_glass": ("spin_glass", "Sherrington–Kirkpatrick spin glass: enumeration vs parallel tempering, P(q), annealed and replica-symmetric limits, ground-state e₀ extrapolated vs Parisi, SG Binder ratio and q_EA(T), naive mean field vs TAP"),
    "diffusion": ("diffusion", "Diffusion models (VP-SDE) on Gaussian mixtures: closed-form p_t vs Fokker–Planck vs particles, reverse SDE / probability flow with the exact score, exact likelihood; score matching as Bayesian regression (conjugate vs NUTS vs ADVI), the diffusion bound"),
    "criticality": ("criticality", "2D Ising criticality: Binder crossings, multi-histogram reweighting, χ/C peaks, Bayesian finite-size scaling (NUTS vs ADVI) vs exact K_c, ν, γ/ν, β/ν"),
    "grokking": ("grokking", "Grokking on a + b mod p: delayed generalisation t₁ ≪ t₂, Fourier / weight-norm order parameters, phase diagram over weight decay × training fraction, Langevin temperature"),
    "hopfield": ("hopfield", "Hopfield network: T = 0 retrieval m(α) vs the Amit–Gutfreund–Sompolinsky curve, capacity α_c by finite-size extrapolation vs 0.138, basins, spurious 3-mixtures"),
    "landscape": ("landscape", "Loss-landscape flatness as local free energy: exact Hessian spectra, F_γ by Laplace and TI over γ, flatness vs test error (Spearman), Dinh rescaling, mode connectivity (line vs Bézier)"),
    "perceptron": ("perceptron", "Teacher–student perceptron: exact version-space sampling of Gibbs learning vs the RS learning curves (Gibbs, Bayes) with 1/N extrapolation, probit model annealed by NUTS / MF-ADVI, binary perceptron hysteresis around α_c = 1.245"),
    "rg": ("rg", "Block-spin RG of the 2D Ising model: majority-rule blocking (b = 2, 3), Bayesian pseudo-likelihood K′ (NUTS vs ADVI, + next-nearest/plaquette), flow K → K′, fixed point K*, y_t / ν, scale invariance"),
}


def analysis(name: str):
    """The module that runs ``physml run NAME``."""
    if name not in ANALYSES:
        raise ValueError(f"model must be one of {sorted(ANALYSES)} or 'all', got {name!r}")
    return import_module(f".{ANALYSES[name][0]}", __name__)
