"""Using a trained generator's latent space.

``walks.py``: interpolation walks between seeds (slerp / lerp, 1-D strips and 2-D grids), latent
arithmetic (a - b + c on group means), the training-progress animation and a smoothness measure
of walks. ``inverse.py``: projecting images back into the latent space.
"""
