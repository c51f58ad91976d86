"""One module per checklist step, each with ``run(ctx) -> StepOutcome``.

The steps are numbered, named and ordered in one table, ``backend.audit.checklist.STEPS``; a step
module does not know its number. Each reads its inputs through the shared
``backend.audit.context.AuditContext`` and leaves the checks themselves to the pure modules of
``backend.audit`` (``anchors``, ``claims``, ``evidence``, ...).
"""
