"""The network library, from scratch in NumPy: usable without Snakemake or the study.

Layers and activations (forward/backward pairs), the two-layer net and the linear
softmax baseline, initialisations and the L2 convention, optimizers, schedules,
samplers, the training-step kernels, the training loop and gradient checks.
Nothing here imports from :mod:`twolayer.data` or :mod:`twolayer.study`.
"""
