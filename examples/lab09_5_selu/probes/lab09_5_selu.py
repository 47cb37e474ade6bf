"""Lab 9-5 (example) probes: call the student's selu and SELU on the grader's inputs and
return what came out. They run in the confined worker and decide nothing."""
from autograder.probes.common import type_names


def probe_selu(student, ctx, x):
    """selu(x) on the grader's tensor."""
    return student.selu(x)


def probe_selu_module(student, ctx, x):
    """SELU(): its types, its parameter count and its output on x."""
    layer = student.SELU()
    return {"types": type_names(layer), "n_params": sum(p.numel() for p in layer.parameters()),
            "output": layer(x)}
