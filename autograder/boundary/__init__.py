"""The trust boundary: everything that runs, or talks to, the confined worker.

Trusted side: remote.py (start the zygote, open a worker per check, send probe requests)
and forkserver.py (isolated helper processes). Untrusted side: zygote.py forks workers,
sandbox.py confines them (rootfs.py: the allow-list root; pid1.py: the init; linux.py: the
system calls), worker.py imports the student's module (student.py, traps.py) and answers
with the probes' plain data. wire.py is what crosses: JSON and safetensors, never pickle.

May import: autograder.course, .probes (the worker serves them).
"""
