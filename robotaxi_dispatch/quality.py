"""Dispatch quality compared across policies on the same demand: the runs and their plot."""
from dataclasses import replace

from robotaxi_dispatch.engine.simulation import Scenario, Simulation

# Name: (matching policy, rebalancing).
POLICIES = {"greedy": ("greedy", False), "batch": ("batch", False), "batch+rebalancing": ("batch", True)}
FLEET_SHARES = (0.6, 0.8, 1.0, 1.25, 1.5)  # fleet sizes of the plot, as shares of --vehicles


def scenario_for(base: Scenario, name: str, **changes) -> Scenario:
    """Return the scenario of a named policy, on the base scenario's demand."""
    policy, rebalance = POLICIES[name]
    return replace(base, policy=policy, rebalance=rebalance, **changes)


def run(scenario: Scenario) -> dict:
    """Simulate a scenario; return its figures with the load it came to."""
    return Simulation(scenario).run()


def sweep_scenarios(base: Scenario) -> list[tuple[str, Scenario]]:
    """Return every (policy name, scenario) of the plot: each policy at each fleet size."""
    return [(name, scenario_for(base, name, vehicles=round(base.vehicles * share)))
            for name in POLICIES for share in FLEET_SHARES]


def plot(rows: list[dict], path: str, title: str, x: str = "vehicles") -> None:
    """Draw served share and mean wait against fleet size (or another figure `x`), one line per policy, to a PNG."""
    import matplotlib
    matplotlib.use("Agg")  # no display: write the file only
    from matplotlib import pyplot

    figure, (served, wait) = pyplot.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for name in POLICIES:
        mine = sorted((r for r in rows if r["name"] == name), key=lambda r: r[x])
        along = [r[x] for r in mine]
        served.plot(along, [100 * r["served_share"] for r in mine], marker="o", label=name)
        wait.plot(along, [r["mean_wait_s"] for r in mine], marker="o", label=name)
    served.set(xlabel=x, ylabel="served %", title="Served share")
    wait.set(xlabel=x, ylabel="seconds", title="Mean wait (request to pickup)")
    for axes in (served, wait):
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle(title)
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
