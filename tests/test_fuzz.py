"""Property-based fuzzing of the live API from its own OpenAPI schema."""

import subprocess
import sys
from pathlib import Path


def test_schemathesis_finds_no_server_error_and_no_answer_off_the_schema(
    server, tmp_path
):
    schemathesis = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [
            str(schemathesis),
            "run",
            f"{server}/api/v1/schema?format=json",
            "--url",
            server,
            "--checks",
            "not_a_server_error,status_code_conformance,"
            "content_type_conformance,response_schema_conformance",
            "--max-examples",
            "25",
            "--request-timeout",
            "5",
            "--seed",
            "6400",
        ],
        cwd=tmp_path,  # hypothesis keeps its example database in the cwd
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-5000:]
    assert "No issues found" in result.stdout or " passed" in result.stdout
