"""A software prefetch for numba kernels (LLVM's ``llvm.prefetch``).

The SGD step's memory accesses are random rows of a multi-GB model. Issuing
them one row ahead, while the current row is computed, hides most of their
latency; a plain load cannot do that, since the core stalls once its reorder
window fills with instructions waiting on the miss.
"""

from llvmlite import ir
from numba import config, types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def _prefetch(typingctx, arr, index):
    """``prefetch(a, i)``: hint that ``a[i]`` (1-D, C-contiguous) will be read and written soon.

    No bounds check and no effect on results: a prefetch never faults.
    """
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and isinstance(index, types.Integer)):
        return None
    sig = types.void(arr, index)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        byte_ptr = ir.IntType(8).as_pointer()
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), byte_ptr)
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # rw=1 (write), locality=3 (keep in all cache levels), cache type=1 (data)
        builder.call(fn, [ptr, ir.Constant(i32, 1), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


def _prefetch_python(arr, index):
    """``prefetch`` as plain Python (``NUMBA_DISABLE_JIT=1``): a hint has no effect, so it does nothing."""


#: The intrinsic when kernels are compiled; a no-op when they run as plain Python.
prefetch = _prefetch_python if config.DISABLE_JIT else _prefetch
