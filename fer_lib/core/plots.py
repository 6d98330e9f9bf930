"""Figures shared by the notebooks. Each function returns the matplotlib Figure."""

import numpy as np

from fer_lib.core.validation import check_positive_int


def _plt():
    import matplotlib.pyplot as plt

    return plt


def grid_figure(n, draw, ncols, panel_size, extra_height=0.0, suptitle=None):
    """A figure of ``n`` panels in rows of ``ncols``, panel ``k`` drawn by ``draw(ax, k)``.

    Every axis is turned off (no ticks or frame); the panels after the
    ``n``-th in the last row stay blank.

    Parameters
    ----------
    n : int >= 1
        Number of panels.
    draw : callable
        ``draw(ax, k)`` fills the matplotlib Axes of panel ``k`` (``0 <= k < n``).
    ncols : int
        Panels per row (at most ``n`` are used).
    panel_size : (float, float)
        Width and height of one panel in inches.
    extra_height : float, default=0.0
        Inches added to the figure's height (e.g. room for a suptitle).
    suptitle : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        ``ceil(n / ncols)`` rows of ``min(ncols, n)`` panels.

    Raises
    ------
    ValueError
        ``n`` or ``ncols`` not an integer >= 1.
    """
    n = check_positive_int("n", n)
    ncols = min(check_positive_int("ncols", ncols), n)
    nrows = int(np.ceil(n / ncols))
    width, height = panel_size
    plt = _plt()
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * width, nrows * height + extra_height), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            draw(ax, k)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def image_grid(images, titles=None, ncols=8, size=1.3, cmap="gray", suptitle=None):
    """Show images in a grid.

    Parameters
    ----------
    images : ndarray of shape (n, H, W) or sequence of 2-D arrays
        At least one image.
    titles : sequence of str, optional
    ncols : int, default=8
    size : float, default=1.3
        Inches per image.

    Returns
    -------
    matplotlib.figure.Figure
    """

    def draw(ax, k):
        ax.imshow(images[k], cmap=cmap, vmin=0, vmax=255)
        if titles is not None:
            ax.set_title(titles[k], fontsize=8)

    return grid_figure(len(images), draw, ncols, (size, size * 1.15), suptitle=suptitle)


def class_grid(images, labels, class_names, per_class=8, seed=0, size=1.1, suptitle=None):
    """One row per class with ``per_class`` random examples (fewer when a class is small).

    Parameters
    ----------
    images : ndarray of shape (n, H, W)
    labels : ndarray of shape (n,)
        Indices into ``class_names``.
    class_names : sequence of str
    per_class : int, default=8
    seed : int, default=0
        Seed of the example draw.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(
        len(class_names), per_class, figsize=(per_class * size, len(class_names) * size), squeeze=False
    )
    for row, name in enumerate(class_names):
        idx = np.flatnonzero(np.asarray(labels) == row)
        pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for col in range(per_class):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if col < len(pick):
                ax.imshow(images[pick[col]], cmap="gray", vmin=0, vmax=255)
        axes[row, 0].set_ylabel(f"{name}\n(n={len(idx)})", rotation=0, ha="right", va="center", fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def count_bars(table, title=None, ylabel="count", log=False):
    """Grouped bar chart of a counts table (rows: categories on the x axis, columns: groups).

    Parameters
    ----------
    table : DataFrame
    title : str, optional
    log : bool, default=False
        Log scale on y (for strong imbalance).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(table)), 3.6))
    table.plot.bar(ax=ax, rot=0, logy=log)
    ax.set_ylabel(ylabel)
    ax.set_xlabel(table.index.name or "")
    if title:
        ax.set_title(title)
    ax.legend(title=table.columns.name, fontsize=8)
    fig.tight_layout()
    return fig


def histogram(values, bins=20, title=None, xlabel=None):
    """Histogram of one variable.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(values, bins=bins, color="tab:blue", edgecolor="white")
    ax.set_xlabel(xlabel or "")
    ax.set_ylabel("count")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def duplicate_pairs_figure(images, pairs, n=6, title=None):
    """Show ``n`` duplicate pairs side by side, each titled with its splits and labels.

    Parameters
    ----------
    images : ndarray of shape (n_images, H, W)
    pairs : DataFrame
        Rows of :func:`fer_lib.data.audit.find_duplicates` (columns ``i, j, group_i, group_j, label_i, label_j``).

    Returns
    -------
    matplotlib.figure.Figure or None
        None when there are no pairs.
    """
    if len(pairs) == 0:
        return None
    rows = pairs.head(n)
    shown, titles = [], []
    for _, r in rows.iterrows():
        shown += [images[r["i"]], images[r["j"]]]
        titles += [f"{r['group_i']}\n{r['label_i']}", f"{r['group_j']}\n{r['label_j']}"]
    return image_grid(shown, titles, ncols=min(2 * len(rows), 8), size=1.5, suptitle=title)
