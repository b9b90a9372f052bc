"""Classical classifiers of the flattened 8×8 images (scikit-learn), for the same table."""

import time

import numpy as np

BASELINES = ("1-NN", "RBF SVC", "logistic regression")


def classifier(name: str):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC

    if name == "1-NN":
        return KNeighborsClassifier(n_neighbors=1)
    if name == "RBF SVC":
        # scikit-learn's digits example: gamma = 0.001 on pixel values 0…16, i.e. 0.256 on
        # the values scaled to [0, 1] used here.
        return SVC(kernel="rbf", gamma=0.001 * 16**2)
    if name == "logistic regression":
        return LogisticRegression(max_iter=2000)
    raise ValueError(f"unknown baseline {name!r}: expected one of {', '.join(BASELINES)}")


def run_baseline(name: str, train_x, train_y, test_x, test_y) -> dict:
    """Fit on the train images and score on the test images: accuracy, seconds, images/s."""
    flat = [np.asarray(x).reshape(len(x), -1) for x in (train_x, test_x)]
    model = classifier(name)
    start = time.perf_counter()
    model.fit(flat[0], np.asarray(train_y))
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    predicted = model.predict(flat[1])
    test_s = time.perf_counter() - start
    accuracy = float((predicted == np.asarray(test_y)).mean())
    fitted = float((model.predict(flat[0]) == np.asarray(train_y)).mean())
    return {
        "accuracy": accuracy,
        "single_view": accuracy,
        "train_accuracy": fitted,
        "diverged": False,
        "params": None,
        "train_s": train_s,
        "train_images_per_s": len(flat[0]) / train_s,
        "test_images_per_s": len(flat[1]) / test_s,
    }
