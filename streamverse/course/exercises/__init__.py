"""Each lesson's practice checks: ``check_<exercise>(learner_code)``."""
