"""Coverage-guided fuzzing (atheris / libFuzzer) of the engine's decode path; offline work, not in the image."""
