"""Training the embedded model: data, timestep samplers, losses and the loop."""
