"""Ray: grading a class on a cluster (`autograder grade --executor ray`). executor.py is the
driver's side (RayExecutor, an executor for engine/grading.grade_students), node.py the
actor that keeps each node's grading servers warm, task.py the task that reserves a lab's
resources. Ray is the optional extra `[ray]`; nothing else in the kit imports this package.

May import: as autograder.integrations.
"""
