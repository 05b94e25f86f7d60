"""Small things every job needs."""
from __future__ import annotations

from steerlab.core.checks import check_device
from steerlab.models import Generator, load_model


def model_of(model: str | Generator, device: str = "cpu", truncation: float | None = None,
             truncation_cutoff: int | None = None) -> Generator:
    """A `Generator` as given, or the zoo model / generator file named by ``model``, on ``device``
    (refused with one line listing the available devices when this torch cannot use it).

    ``truncation``: if given, the StyleGAN truncation psi set on it (`Generator.set_truncation`; a
    model without a mapping network refuses it with a ValueError). None leaves the model's own psi.
    ``truncation_cutoff``: psi only on the first N w+ rows (NVlabs' convention; None: every row).
    """
    check_device(device)
    G = model if isinstance(model, Generator) else load_model(model, device=device)
    if truncation is not None or truncation_cutoff is not None:
        psi = truncation if truncation is not None else getattr(G, "truncation_psi", 1.0)
        G.set_truncation(psi, truncation_cutoff)
    return G


def class_names(G: Generator) -> list[str]:
    """The class names of a conditional model: its card's ``class_names`` when they fit, else "0", "1", ..."""
    names = (getattr(G, "card", None) or {}).get("class_names") or []
    if len(names) != G.num_classes or not all(isinstance(n, str) for n in names):
        names = [str(k) for k in range(G.num_classes)]
    return list(names)


def class_ids(G: Generator, classes) -> list[int] | None:
    """Class labels given as numbers or as the model card's names (``["disc", 5]``) -> ints in
    [0, num_classes - 1]; None stays None. Refused with one line listing what is allowed."""
    if classes is None:
        return None
    if not G.num_classes:
        raise ValueError(f"model '{G.name}' is unconditional: it takes no classes (drop --classes)")
    names = class_names(G)
    lookup = {n.lower(): k for k, n in enumerate(names)}
    out = []
    for c in classes:
        text = str(c).strip()
        if text.lower() in lookup:
            out.append(lookup[text.lower()])
        elif text.isdigit() and int(text) < G.num_classes:
            out.append(int(text))
        else:
            shown = ", ".join(f"{k}={n}" if n != str(k) else str(k) for k, n in enumerate(names))
            raise ValueError(f"unknown class {text!r} for model '{G.name}'; allowed: 0-{G.num_classes - 1} "
                             f"or a name ({shown})")
    return out
