"""System plugins: one Hamiltonian system per module, each a subclass of phasebench.System."""
