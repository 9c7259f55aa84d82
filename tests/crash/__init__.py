"""The crash harness (harness.py), its SFTP server outside pytest (sshd.py) and the soak
(`python -m tests.crash.soak`, `make soak`); tests/integration/test_crash.py runs a small
count of it in the suite."""
