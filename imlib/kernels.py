"""The Jupyter kernels that ``imlib batch`` and the book build start: on IPC sockets, stopped without a SIGINT.

jupyter_client's defaults made every batch and every book build print lines of their own, and sometimes fail:

- a kernel listens on TCP ports that the manager picks (binds port 0, closes it) before the kernel binds them,
  so two batch workers, or a batch beside a book build, now and then get the same port: the kernel dies with
  "Address already in use" and its run fails; and since ipykernel 7.4 every kernel on TCP without CurveZMQ
  keys logs "Kernel is running over TCP without encryption". Kernels started here listen on Unix domain
  sockets (``transport = "ipc"``) in a private temporary folder: no ports to collide, nothing on the network,
  no warning. (Windows has no IPC transport: kernels stay on TCP there.)
- ``shutdown_kernel`` sends SIGINT before it asks the kernel to exit; a kernel that is still finishing a
  message logs "KeyboardInterrupt caught in kernel" as an error. Kernels started here are asked
  to exit (and killed after the grace time when they do not), without the signal; an explicit
  ``interrupt_kernel`` still sends it.

The book build executes the notebooks through myst-nb, jupyter-cache and nbclient, none of which takes a
kernel manager from a configuration file; this module is also a Sphinx extension (listed in ``_config.yml``)
whose ``setup`` makes nbclient start these kernels (:func:`use_in_nbclient`).
"""
from __future__ import annotations

import functools
import os
import shutil
import tempfile
import weakref


def ipc_available() -> bool:
    import zmq

    return os.name != "nt" and zmq.has("ipc")


@functools.cache
def manager_class(blocking: bool = False) -> type:
    """The kernel manager class: jupyter_client's ``KernelManager`` (``blocking``) or ``AsyncKernelManager``
    (what nbclient and papermill drive), on IPC sockets and stopped without SIGINT."""
    from jupyter_client.manager import AsyncKernelManager, KernelManager

    base = KernelManager if blocking else AsyncKernelManager

    class QuietKernelManager(base):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            if ipc_available() and "transport" not in kwargs:
                # a short absolute path: the sockets are <folder>/kernel-1 .. -5 (Unix socket paths are limited
                # to ~100 characters) and do not depend on the kernel's working directory
                folder = tempfile.mkdtemp(prefix="imlib-kernel-")
                weakref.finalize(self, shutil.rmtree, folder, ignore_errors=True)
                self.transport = "ipc"
                self.ip = os.path.join(folder, "kernel")

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:  # shutdown_kernel's interrupt: the exit request follows, no SIGINT
                return
            await super()._async_interrupt_kernel()

    QuietKernelManager.__name__ = QuietKernelManager.__qualname__ = f"Quiet{base.__name__}"
    return QuietKernelManager


def use_in_nbclient() -> None:
    """Make nbclient (hence myst-nb, jupyter-cache and papermill) start :func:`manager_class` kernels where
    it would start jupyter_client's default ``AsyncKernelManager``. Idempotent."""
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.client import NotebookClient

    create = NotebookClient.create_kernel_manager
    if getattr(create, "_imlib_quiet", False):
        return

    @functools.wraps(create)
    def create_kernel_manager(self):
        if self.kernel_manager_class is AsyncKernelManager:
            self.kernel_manager_class = manager_class(blocking=False)
        return create(self)

    create_kernel_manager._imlib_quiet = True
    NotebookClient.create_kernel_manager = create_kernel_manager


def setup(app) -> dict:
    """Sphinx extension: the book's notebooks execute in :func:`manager_class` kernels."""
    use_in_nbclient()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
