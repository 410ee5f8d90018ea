"""Prior distributions against independent numerical integration."""

from __future__ import annotations

import pytest


def test_half_student_t_prior_mean_against_quadrature():
    import numpy as np
    from scipy import integrate

    from pclbayes.priors import Prior

    for nu, sigma in ((3, 1.0), (5, 2.5)):
        dist = Prior.parse(f"HalfStudentT(nu={nu}, sigma={sigma})").frozen()
        expected = integrate.quad(lambda x, d=dist: x * d.pdf(x), 0, np.inf)[0]
        assert dist.mean() == pytest.approx(expected, rel=1e-8)
