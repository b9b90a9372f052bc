"""The image study: ViTs with softmax, Performer and Stiefel attention on scikit-learn's digits
(`studies.vision`); see `phasebench.studies.vision.study`."""
