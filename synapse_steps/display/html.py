"""``HtmlLogger``: the front end of a notebook kernel without ipywidgets.

Nothing moves during the run (there is no widget to move); at the end the cell gets the summary
table and a static metrics figure. The first run in a process also says how to get live widgets,
unless the user chose this front end on purpose (``display="text"``).
"""

from __future__ import annotations

from synapse_steps.display.base import FrontEnd
from synapse_steps.display.summary import display_record, show
from synapse_steps.events import RunFinished, RunStarted

_hint_shown = False

HINT = (
    "synapse_steps: install ipywidgets for a live view of runs "
    "(pip install ipywidgets); showing a summary after each run instead."
)


class HtmlLogger(FrontEnd):
    def __init__(self, *, hint: bool = True) -> None:
        super().__init__()
        self.hint = hint

    def on_run_start(self, record: RunStarted) -> None:
        global _hint_shown
        if self.hint and not _hint_shown:
            _hint_shown = True
            show({"text/plain": HINT}, raw=True)

    def on_run_end(self, record: RunFinished) -> None:
        display_record(self.run)
