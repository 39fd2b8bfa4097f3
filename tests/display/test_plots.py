"""The metric figures: axes that read well from the first point to the last."""

from __future__ import annotations

from synapse_steps.display.plots import CategoryPlot, ShowableFigure, metrics_figure
from synapse_steps.metrics import MetricStore

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_a_single_point_gets_a_readable_axis_and_later_points_refit_it() -> None:
    store = MetricStore()
    store.add({"loss": 1.0, "epoch": 0}, "train")
    plot = CategoryPlot(store, "train")
    assert plot.render().startswith(PNG_SIGNATURE)
    assert plot._axes["loss"].get_xlim() == (-1.0, 1.0)

    for epoch in range(1, 30):
        store.add({"loss": 1 / (epoch + 1), "epoch": epoch}, "train")
    plot.render()
    low, high = plot._axes["loss"].get_xlim()
    # Autoscaling survived the one-point axis.
    assert low <= 0
    assert high >= 29


def test_panel_titles_show_the_latest_value_and_the_category_when_several() -> None:
    store = MetricStore()
    store.add({"loss": 0.5, "epoch": 0}, "train")
    plot = CategoryPlot(store, "train")
    plot.render()
    assert plot._axes["loss"].get_title() == "loss = 0.5"
    store.add({"accuracy": 0.25, "epoch": 0}, "eval")
    plot.render()
    assert plot._axes["loss"].get_title() == "train · loss = 0.5"


def test_static_figure_shows_itself_as_png_in_a_notebook() -> None:
    store = MetricStore()
    for step in range(5):
        store.add({"loss": 1 / (step + 1), "step": step}, "fit")
    figure = metrics_figure(store)
    assert isinstance(figure, ShowableFigure)
    assert [ax.get_title() for ax in figure.axes] == ["fit / loss"]
    assert [ax.get_xlabel() for ax in figure.axes] == ["step"]
    assert figure._repr_png_().startswith(PNG_SIGNATURE)
