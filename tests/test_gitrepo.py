"""Opening the project's repository from a subfolder, and the usage errors around it."""

from __future__ import annotations

import git
import pytest

from llmops.errors import UsageError
from llmops.gitrepo import find_commit, open_repo


def test_a_project_in_a_subfolder_gets_its_prefix(tmp_path):
    repo = git.Repo.init(tmp_path)
    (tmp_path / "ml" / "proj").mkdir(parents=True)
    (tmp_path / "ml" / "proj" / "llmops.yaml").write_text("kind: Project\n")
    repo.index.add(["ml/proj/llmops.yaml"])
    repo.index.commit("first")
    found, prefix = open_repo(tmp_path / "ml" / "proj", "why")
    assert found.working_tree_dir == str(tmp_path) and prefix == "ml/proj/"
    assert open_repo(tmp_path, "why")[1] == ""
    assert find_commit(found, "HEAD").message == "first"
    with pytest.raises(UsageError, match="unknown branch or ref 'nope'"):
        find_commit(found, "nope", "branch or ref")


def test_outside_git_the_error_says_why_git_is_needed(tmp_path):
    with pytest.raises(UsageError, match="is not inside a git repository; plan compares against a git ref"):
        open_repo(tmp_path, "plan compares against a git ref")


def test_a_bare_repository_is_refused(tmp_path):
    git.Repo.init(tmp_path, bare=True)
    with pytest.raises(UsageError, match="is a bare repository"):
        open_repo(tmp_path, "why")
