"""The cosine schedule and the v-parametrisation."""

import torch

from tsrlib import schedule


def test_variance_preserving_and_endpoints():
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    a, s = schedule.alpha_sigma(t)
    torch.testing.assert_close(a**2 + s**2, torch.ones_like(t))
    assert a[0] == 1 and s[0] == 0
    assert a[-1] < 2e-3 and torch.all(a[1:] <= a[:-1])


def test_v_round_trip_recovers_x0_and_noise():
    g = torch.Generator().manual_seed(0)
    x0, noise = (
        torch.randn(4, 3, 5, generator=g, dtype=torch.float64),
        torch.randn(4, 3, 5, generator=g, dtype=torch.float64),
    )
    t = torch.tensor([0.1, 0.4, 0.7, 0.95], dtype=torch.float64)
    x_t = schedule.add_noise(x0, noise, t)
    for i in range(4):
        x0_hat, eps_hat = schedule.x0_eps_from_v(
            x_t[i : i + 1], schedule.v_target(x0, noise, t)[i : i + 1], float(t[i])
        )
        torch.testing.assert_close(x0_hat[0], x0[i])
        torch.testing.assert_close(eps_hat[0], noise[i])


def test_timesteps_grid():
    ts = schedule.timesteps(10)
    assert ts.shape == (11,) and ts[0] == schedule.T_MAX and ts[-1] == 0
