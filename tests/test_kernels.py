"""imlib.kernels: the batch's and the book's kernels listen on IPC sockets (no TCP ports, no ipykernel
warning) and are stopped without SIGINT (no "KeyboardInterrupt caught in kernel")."""
import os

import nbformat
import pytest
from nbclient import NotebookClient

from imlib import kernels

pytestmark = pytest.mark.skipif(not kernels.ipc_available(), reason="no IPC transport on this platform")


def test_kernel_on_ipc_stopped_without_sigint(tmp_path):
    flag = tmp_path / "sigint"
    km = kernels.manager_class(blocking=True)(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path))
    try:
        assert km.transport == "ipc" and os.path.isabs(km.ip)
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        # the kernel notes a SIGINT in a file: its handler becomes the one ipykernel restores after each message
        # (ipykernel ignores SIGINT while idle; a SIGINT during a message logs "KeyboardInterrupt caught in kernel")
        code = (f"import pathlib\nget_ipython().kernel.saved_sigint_handler = "
                f"lambda *a: pathlib.Path({str(flag)!r}).write_text('x')")
        reply = kc.execute_interactive(code, timeout=60)
        assert reply["content"]["status"] == "ok"
        kc.stop_channels()
        folder = os.path.dirname(km.ip)
        assert sorted(os.listdir(folder))  # the sockets
    finally:
        km.shutdown_kernel()
    assert not km.is_alive()
    assert not flag.exists(), "shutdown sent SIGINT"
    assert os.listdir(folder) == []


def test_nbclient_starts_these_kernels(tmp_path):
    kernels.use_in_nbclient()
    kernels.use_in_nbclient()  # idempotent: wrapped once
    assert getattr(NotebookClient.create_kernel_manager, "_imlib_quiet", False)
    assert not hasattr(NotebookClient.create_kernel_manager.__wrapped__, "_imlib_quiet")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=60)
    client.execute()
    assert client.kernel_manager_class is kernels.manager_class(blocking=False)
    assert nb.cells[0].outputs[0]["text"].strip() == "42"
