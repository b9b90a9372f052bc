"""Model plugins: one architecture per module, each a subclass of phasebench.ModelPlugin."""
