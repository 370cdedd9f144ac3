"""One file per model: energy / log-density first, then the PyMC model, then its exact reference."""
