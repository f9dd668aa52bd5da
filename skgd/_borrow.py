"""Borrowed views of the kernels' argument arrays, which count no references.

numba counts references on every array a compiled function holds, and an
array passed to an inlined helper is counted in and out again at each call:
an atomic increment and decrement a row for each of the row helpers' arrays
(targets, labels, class weights, loss sums, weights, data), wherever LLVM's
pruning of those pairs fails, as it does in the kernels' large loops. On a
table of two columns that was 40 ns of an evaluation's 44 ns a row, and
about half a stochastic step.

The caller owns the arrays a kernel receives for the whole call, so the
kernel can work on views that do not count: :func:`borrowed` returns its
tuple with every array's reference-count handle (its "meminfo") and Python
parent set to null, which numba's increments and decrements skip. The arrays
a kernel allocates for its own use (scores, steps, scales) are borrowed the
same way, with the arrays themselves held in a tuple that the kernel hands
to :func:`keep_alive` as it returns, so that they outlive the views.
"""

from ._jit import intrinsic


@intrinsic
def borrowed():
    """Build ``borrowed(values)``: the tuple ``values`` with its arrays as uncounted views.

    Only the tuple's own members: an array inside a nested tuple stays
    counted (correct, merely not faster).

    Called from Python before the kernels are loaded, the placeholder
    returns None.
    """
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic as numba_intrinsic

    @numba_intrinsic
    def borrowed(typingctx, values):
        if not isinstance(values, types.BaseTuple):
            return None

        def codegen(context, builder, signature, args):
            result = args[0]
            for index, member in enumerate(signature.args[0].types):
                if isinstance(member, types.Array):
                    array = context.make_array(member)(
                        context, builder, builder.extract_value(result, index))
                    array.meminfo = cgutils.get_null_value(array.meminfo.type)
                    array.parent = cgutils.get_null_value(array.parent.type)
                    result = builder.insert_value(result, array._getvalue(), index)
            return result

        return values(values), codegen

    return borrowed


@intrinsic
def keep_alive():
    """Build ``keep_alive(values)``: a use of ``values`` that compiles to nothing.

    A kernel borrows views of the arrays it allocates too, holding the
    arrays themselves in a tuple that it passes here just before it returns:
    numba releases a variable after its last use, so the arrays live until
    then, as long as the views do.
    """
    from numba import types
    from numba.extending import intrinsic as numba_intrinsic

    @numba_intrinsic
    def keep_alive(typingctx, values):
        def codegen(context, builder, signature, args):
            return context.get_dummy_value()

        return types.none(values), codegen

    return keep_alive
