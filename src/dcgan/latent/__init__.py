"""Using a trained generator's latent space.

``walks.py``: interpolation walks between seeds (slerp / lerp, strips and corner grids) and a
smoothness measure of walks; ``arithmetic.py``: latent arithmetic (a - b + c on group means) and its
figure; ``animation.py``: frames to GIF/WebP/PNG strips and the training-progress animation;
``inverse.py``: projecting images back into the latent space.
"""
