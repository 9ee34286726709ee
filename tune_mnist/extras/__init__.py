"""Optional extras (ONNX, MLflow), imported only when an option asks for them: ``optional.require``
names the missing extra in one sentence.

May import: core, model, experiment.
"""
