"""Directions in a generator's latent space found without an image edit (the "latent" family).

- ``sefa``: closed-form factorisation of the weight that first projects the latent (Shen & Zhou, 2021);
- ``ganspace``: PCA of w, or of an early feature layer regressed back to z (Härkönen et al., 2020);
- ``boundary``: the normal of a linear boundary on an attribute of sampled images (InterFaceGAN,
  Shen et al., 2020), optionally with a second attribute projected out;
- ``discovery``: K directions trained with a reconstructor that must tell them apart (Voynov & Babenko, 2020);
- ``common``: the linear `Direction` every one of them returns, in units of the latent's spread.

Each returns linear `Direction`s in "z" or "w" (or "w+" restricted to a layer range), so they are
saved, applied, evaluated and shown like the walks.
"""
