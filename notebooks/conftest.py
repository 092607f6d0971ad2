"""pytest configuration for the notebook runs (`pytest --nbval notebooks/`, `make test`).

nbval 0.11 sends every cell with ``store_history=False``. IPython decides whether a trailing
``;`` suppresses a cell's result by looking at the cell in its input history, so without it
``ax.legend();`` shows ``<matplotlib.legend.Legend at 0x...>`` and a cell ending in a
function that returns a Figure shows that figure twice: outputs that JupyterLab, nbclient
(`make notebooks`) and `jupyter-book build` never produce. Here cells are sent with
``store_history=True``, as every notebook front end sends them, so that nbval compares the
committed outputs with the outputs of the same execution semantics.
"""

from __future__ import annotations

from nbval.kernel import RunningKernel, logger


def _execute_cell_input(self: RunningKernel, cell_input: str, allow_stdin=None) -> str:
    """:meth:`nbval.kernel.RunningKernel.execute_cell_input` with the input history kept."""
    logger.debug('Executing cell: "%s"...', (cell_input or "").splitlines()[:1])
    return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin,
                           stop_on_error=False)


RunningKernel.execute_cell_input = _execute_cell_input
