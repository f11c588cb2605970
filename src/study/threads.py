"""How many threads the numerical libraries may use in the stages."""

from threadpoolctl import threadpool_limits


def one_thread():
    """A context in which BLAS and OpenMP (NumPy's and scikit-learn's) use one thread each.

    Speed: mini-batch and filter-sized products gain little from a second thread, and when
    other processes share the cores (a parallel sweep, a busy CI machine) OpenBLAS threads
    spin-waiting for each other made an MLP epoch 5-25x slower and C0's conjugate gradient
    176 s instead of 14 s. Reproducibility: a reduction split over threads sums in another
    order, so results would depend on the machine's core count; scikit-learn's lbfgs fit took
    308 iterations on 2 threads and 281 on one, to a different test accuracy."""
    return threadpool_limits(limits=1)
