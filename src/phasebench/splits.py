"""How a system's trajectories divide into the train, val and test splits. Its own module so that
validation (config) and simulation (data) share it without the jobs depending on config.py."""


def split_sizes(n: int, fractions: dict) -> dict[str, int]:
    """Trajectories per split: val and test at least one each, train the rest."""
    n_val = max(1, round(fractions["val"] * n))
    n_test = max(1, round(fractions["test"] * n))
    return {"train": n - n_val - n_test, "val": n_val, "test": n_test}
