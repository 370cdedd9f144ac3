r"""Diffusion models as non-equilibrium physics: the variance-preserving (VP) SDE, generic over a score.

Forward (a time-dependent Ornstein–Uhlenbeck / Langevin process relaxing to N(0, I)),

.. math:: dx = -\tfrac12\beta(t)\,x\,dt + \sqrt{\beta(t)}\,dW, \qquad
          \partial_t p = \partial_x\!\cdot\!\big[\tfrac12\beta(t)\,(x\,p + \nabla p)\big]   (Fokker–Planck);

reverse (Anderson 1982; Song et al. 2021, arXiv:2011.13456), with the score :math:`s(x,t)=\nabla\ln p_t(x)`,

.. math:: dx = \big[-\tfrac12\beta x - \beta\, s(x,t)\big]dt + \sqrt{\beta}\,d\bar W \quad (t: 1\to 0),
          \qquad \frac{dx}{dt} = -\tfrac12\beta\,\big[x + s(x,t)\big]  \quad\text{(probability flow)}.

* ``schedule``       the linear β schedule: β(t), B(t) = ∫₀ᵗβ, α(t) = e^{−B/2}, σ²(t) = 1 − α²
* ``integrators``    vectorised Euler–Maruyama (forward and reverse SDE), Heun / RK4 for the probability-flow
                     ODE, and the exact likelihood by the instantaneous change of variables
* ``numba_integrators``  the same reverse SDE (Euler–Maruyama) and probability flow (Heun) compiled for the
                     exact score of an isotropic Gaussian mixture given as arrays (counter-based normals)
* ``numba_math``     exp / ln / sin / cos polynomials and counter-based normals for the compiled integrators
                     (float64 / float32, vectorisable)
* ``bound``          the diffusion bound on −ln p₀(x) (Song et al. 2021): the g²-weighted denoising loss and its
                     divergence form, time drawn from q(t) ∝ β/σ; the weighted score error ½∫β E‖s − ∇ln p_t‖²
* ``fokker_planck``  a conservative, positivity-preserving 1-D finite-volume solver (Chang–Cooper /
                     Scharfetter–Gummel fluxes, exact in time)

Every integrator takes the score as a callable ``score(x, t) -> array like x`` (``x`` shaped (n, d)); no
model is imported here.
"""
from .schedule import LinearBetaSchedule, check_time  # noqa: F401
from .integrators import (forward_euler_maruyama, reverse_euler_maruyama, probability_flow,  # noqa: F401
                          probability_flow_log_likelihood, observed_order)
from .numba_integrators import mixture_probability_flow, mixture_reverse_sde  # noqa: F401
from .fokker_planck import FokkerPlanckGrid, fokker_planck_solve  # noqa: F401
