"""How many threads NumPy's BLAS may use in the training stages."""

from threadpoolctl import threadpool_limits


def one_blas_thread():
    """A context in which NumPy's BLAS uses one thread. Mini-batch and filter-sized products
    gain little from a second thread, and when other processes share the cores (a parallel
    sweep, a busy CI machine) OpenBLAS threads spin-waiting for each other made an MLP epoch
    5-25x slower and C0's conjugate gradient 176 s instead of 14 s."""
    return threadpool_limits(limits=1, user_api="blas")
